"""Internal column names and column helpers shared by the point-in-time join modules.

Every internal column starts with :data:`RESERVED_PREFIX`; entity frames may not use it, so the
algorithms can add their bookkeeping columns next to the caller's columns without renaming them.
Times are handled internally as microseconds since 1970-01-01 (``bigint``): an instant for
``TIMESTAMP`` columns, the wall clock read as UTC for ``TIMESTAMP_NTZ`` columns. Integer
microseconds give exact comparisons and exact time buckets (no floating-point division).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Optional, Sequence

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.utils import is_remote
from pyspark.sql.types import (
    ArrayType,
    ByteType,
    DataType,
    IntegerType,
    LongType,
    ShortType,
    StructType,
    TimestampNTZType,
)

from featurespark._compat import UNORDERABLE_TYPES

logger = logging.getLogger(__name__)

RESERVED_PREFIX = "__fs_pit_"
ETS = RESERVED_PREFIX + "ets"  # entity timestamp, epoch microseconds
EID = RESERVED_PREFIX + "eid"  # generated id of an entity row (range join only)
TIME = RESERVED_PREFIX + "t"  # time a union row is ordered by
MARK = RESERVED_PREFIX + "mark"  # FEATURE_ROW or ENTITY_ROW
SALT = RESERVED_PREFIX + "salt"  # spreads entity rows with a null key; 0 otherwise
BUCKET = RESERVED_PREFIX + "bucket"  # start of a time bucket, epoch microseconds
FTS = RESERVED_PREFIX + "fts"  # feature timestamp, epoch microseconds
CTS = RESERVED_PREFIX + "cts"  # created timestamp, epoch microseconds
HAS_ENTITY = RESERVED_PREFIX + "has_entity"
RANK = RESERVED_PREFIX + "rank"

FEATURE_ROW = 0
ENTITY_ROW = 1

MICROS_PER_SECOND = 1_000_000
_ONE_MICRO = timedelta(microseconds=1)
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EPOCH_NAIVE = datetime(1970, 1, 1)
#: Span of the Spark timestamp range (0001-01-01 .. 9999-12-31) in microseconds. A TTL at
#: least this long can never exclude a row, so it is treated as unbounded.
MAX_SPAN_MICROS = (datetime(9999, 12, 31, 23, 59, 59) - datetime(1, 1, 1)) // _ONE_MICRO
_MIN_MICROS = (datetime(1, 1, 1) - _EPOCH_NAIVE) // _ONE_MICRO
_MAX_MICROS = (datetime(9999, 12, 31, 23, 59, 59, 999999) - _EPOCH_NAIVE) // _ONE_MICRO
_INTEGRAL = (ByteType, ShortType, IntegerType, LongType)


def key_col(j: int) -> str:
    """Name of the j-th normalized join key on the entity side of a union or join."""
    return f"{RESERVED_PREFIX}k{j}"


def feature_key_col(j: int) -> str:
    """Name of the j-th normalized join key on the feature side of a join."""
    return f"{RESERVED_PREFIX}fk{j}"


def ord_col(slot: int) -> str:
    """Name of the ordering struct ``(fts, cts, tie)`` of the view in ``slot``."""
    return f"{RESERVED_PREFIX}o{slot}"


def val_col(slot: int) -> str:
    """Name of the value struct ``(t: fts, v: struct of features)`` of the view in ``slot``."""
    return f"{RESERVED_PREFIX}x{slot}"


def value_field(j: int) -> str:
    """Positional field name of the j-th feature inside a value struct."""
    return f"_{j}"


#: Column references built by :func:`col`, by name. A reference is an unresolved name, valid in any
#: plan of the process's JVM; building one costs several Py4J round trips on PySpark 4, and planning a
#: training set builds hundreds.
_REFERENCES: dict[tuple[str, bool], Column] = {}
_MAX_REFERENCES = 10_000


def col(name: str) -> Column:
    """Reference a top-level column by its exact name, whatever characters it holds.

    Examples
    --------
    >>> col("a.b") is col("a.b")  # a name with a dot, one column; built once
    True
    """
    key = (name, is_remote())
    reference = _REFERENCES.get(key)
    if reference is None:
        reference = F.col("`" + name.replace("`", "``") + "`")
        if len(_REFERENCES) < _MAX_REFERENCES:
            _REFERENCES[key] = reference
    return reference


def to_micros(column: Column, dtype: DataType) -> Column:
    """Convert a ``TIMESTAMP`` or ``TIMESTAMP_NTZ`` column to epoch microseconds (``bigint``).

    ``unix_micros`` only takes ``TIMESTAMP``; casting ``TIMESTAMP_NTZ`` to it would read the wall
    clock in the session time zone (and shift around DST changes), so an NTZ value is measured as
    an exact day-time interval from the NTZ epoch instead.
    """
    if isinstance(dtype, TimestampNTZType):
        seconds = (column - _ntz_literal_parts(_EPOCH_NAIVE)).cast("interval second").cast("decimal(18,6)")
        return (seconds * F.lit(MICROS_PER_SECOND)).cast("long")
    return F.unix_micros(column)


def micros_to_datetime(micros: Optional[int], ntz: bool) -> Optional[datetime]:
    """Epoch microseconds as a Python datetime: UTC-aware for TIMESTAMP, naive for TIMESTAMP_NTZ."""
    if micros is None:
        return None
    micros = min(max(micros, _MIN_MICROS), _MAX_MICROS)
    if ntz:
        return _EPOCH_NAIVE + timedelta(microseconds=micros)
    return _EPOCH_UTC + timedelta(microseconds=micros)


def timestamp_literal(micros: int, ntz: bool) -> Optional[Column]:
    """A constant timestamp of the column's own kind, or None when outside Spark's range.

    The value is built from literals only, so the optimizer folds it and a comparison with a
    source column stays a pushed-down filter (Parquet/Delta file skipping).
    """
    if micros < _MIN_MICROS or micros > _MAX_MICROS:
        return None
    if ntz:
        return _ntz_literal_parts(_EPOCH_NAIVE + timedelta(microseconds=micros))
    return F.timestamp_micros(F.lit(micros))


def _ntz_literal_parts(value: datetime) -> Column:
    seconds = Decimal(value.second) + Decimal(value.microsecond).scaleb(-6)
    return F.make_timestamp_ntz(
        F.lit(value.year),
        F.lit(value.month),
        F.lit(value.day),
        F.lit(value.hour),
        F.lit(value.minute),
        F.lit(seconds).cast("decimal(16,6)"),
    )


def is_orderable(dtype: DataType) -> bool:
    """Whether Spark can compare values of ``dtype`` (maps and variants cannot be ordered)."""
    if isinstance(dtype, UNORDERABLE_TYPES):
        return False
    if isinstance(dtype, StructType):
        return all(is_orderable(f.dataType) for f in dtype.fields)
    if isinstance(dtype, ArrayType):
        return is_orderable(dtype.elementType)
    return True


def is_hashable(dtype: DataType) -> bool:
    """Whether ``xxhash64`` accepts ``dtype`` (it rejects maps, and variants are left out)."""
    return is_orderable(dtype)


def tie_value(column: Column, dtype: DataType) -> Column:
    """The value compared by the tie rule: the value itself, or its JSON text when not orderable."""
    if is_orderable(dtype):
        return column
    return F.to_json(column)


def same_type(left: DataType, right: DataType) -> bool:
    """Type equality that ignores nullability and metadata."""
    return left.simpleString() == right.simpleString()


def common_key_type(types: Sequence[DataType]) -> Optional[DataType]:
    """The type both sides of a key are compared in, or None when they cannot be compared.

    Identical types compare as they are; integral types of different widths widen to ``bigint``.
    Anything else (string against number, decimals of different precision, ...) is refused rather
    than left to Spark's implicit casts, which can silently change which rows match.
    """
    if all(same_type(types[0], t) for t in types[1:]):
        return types[0]
    if all(isinstance(t, _INTEGRAL) for t in types):
        return LongType()
    return None


def any_null(columns: Sequence[Column]) -> Column:
    """True when at least one of ``columns`` is null."""
    result: Column = F.lit(False)
    for c in columns:
        result = result | c.isNull()
    return result
