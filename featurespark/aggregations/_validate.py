"""Check the inputs of :func:`window_aggregate_as_of` and resolve them into a :class:`AggregationPlan`.

All checks read schemas only; none runs a Spark job.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

from pyspark.sql import DataFrame
from pyspark.sql.types import (
    ByteType,
    DataType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    NumericType,
    ShortType,
)

from featurespark.aggregations._names import RESERVED_PREFIX
from featurespark.aggregations.spec import NUMERIC_FUNCTIONS, ORDERED_FUNCTIONS, Aggregation
from featurespark.errors import InvalidArgumentError, SchemaMismatchError
from featurespark.pit._common import MAX_SPAN_MICROS, common_key_type, is_hashable, is_orderable
# The schema checks are the point-in-time join's, so both toolkits word them alike.
from featurespark.pit._validate import _check_kind, case_sensitive, check_timestamp_type, resolve_column

logger = logging.getLogger(__name__)

#: Functions ``as_known_at_query_time`` supports over a finite window; every function works over "lifetime"
#: except last_k. Why: docs/aggregations.md, "As known at query time".
AS_KNOWN_WINDOWED = frozenset({"count", "sum", "mean", "variance", "stddev", "last"})
AS_KNOWN_LIFETIME = AS_KNOWN_WINDOWED | frozenset({"min", "max", "first", "approx_count_distinct"})


@dataclass(frozen=True)
class Slot:
    """One aggregated event column (shared by every aggregation of that column)."""

    index: int
    column: str
    dtype: DataType

    @property
    def is_float(self) -> bool:
        """Whether values can be NaN or infinite."""
        return isinstance(self.dtype, (FloatType, DoubleType))

    @property
    def is_bigint(self) -> bool:
        """Whether sums need the 32-bit split (see docs/aggregations.md, "Numeric error")."""
        return isinstance(self.dtype, LongType)

    @property
    def is_small_int(self) -> bool:
        """Whether sums of up to 2**32 values fit a bigint exactly."""
        return isinstance(self.dtype, (ByteType, ShortType, IntegerType))

    @property
    def is_decimal(self) -> bool:
        """Whether sums are decimal."""
        return isinstance(self.dtype, DecimalType)


@dataclass(frozen=True)
class Output:
    """One output column: an aggregation over one window."""

    name: str
    function: str
    slot: int
    window: Optional[int]  # index into AggregationPlan.windows; None for lifetime
    k: Optional[int]
    label: str  # for messages: "fare_sum_7d (sum of 'fare' over 7d)"


@dataclass(frozen=True)
class AggregationPlan:
    """Everything the engine needs, resolved against both schemas."""

    entity_columns: tuple[str, ...]
    entity_keys: tuple[str, ...]
    event_keys: tuple[str, ...]
    entity_key_types: tuple[DataType, ...]
    event_key_types: tuple[DataType, ...]
    key_types: tuple[DataType, ...]
    entity_timestamp: str
    entity_timestamp_type: DataType
    event_timestamp: str
    event_timestamp_type: DataType
    created_timestamp: Optional[str]
    created_timestamp_type: Optional[DataType]
    ntz: bool
    as_known: bool
    slots: tuple[Slot, ...]
    outputs: tuple[Output, ...]
    windows: tuple[int, ...]  # distinct finite window lengths in microseconds, ascending

    @property
    def has_lifetime(self) -> bool:
        """Whether some output has no lower bound (then old events cannot be pruned)."""
        return any(o.window is None for o in self.outputs)

    @property
    def longest_window(self) -> Optional[int]:
        """The longest finite window in microseconds, or None when there is none."""
        return self.windows[-1] if self.windows else None

    def uses(self, slot: int, *functions: str) -> bool:
        """Whether some output applies one of ``functions`` to ``slot``."""
        return any(o.slot == slot and o.function in functions for o in self.outputs)

    def windows_of(self, slot: int, *functions: str) -> set[Optional[int]]:
        """Window indexes (None: lifetime) of the outputs applying ``functions`` to ``slot``."""
        return {o.window for o in self.outputs if o.slot == slot and o.function in functions}


def _norm(name: str, sensitive: bool) -> str:
    return name if sensitive else name.lower()


def resolve_plan(
    entity_df: DataFrame,
    events_df: DataFrame,
    *,
    keys: object,
    entity_timestamp: object,
    event_timestamp: object,
    aggregations: object,
    created_timestamp: object,
    as_known_at_query_time: object,
) -> AggregationPlan:
    """Check both frames and the aggregations; return the resolved plan.

    Raises
    ------
    SchemaMismatchError
        A column is missing or has a type the operation cannot use.
    InvalidArgumentError
        Bad arguments or output names.
    """
    sensitive = case_sensitive(entity_df)
    ets, ntz = _check_entity(entity_df, entity_timestamp, sensitive)
    ecols, vcols = entity_df.columns, events_df.columns
    eschema, vschema = entity_df.schema, events_df.schema
    if not isinstance(as_known_at_query_time, bool):
        raise InvalidArgumentError(f"as_known_at_query_time must be True or False, got {as_known_at_query_time!r}.")

    pairs = []
    for e, v in _key_pairs(keys):
        ec = resolve_column(ecols, e, frame="entity_df", role="join key", sensitive=sensitive)
        vc = resolve_column(vcols, v, frame="events_df", role="join key", sensitive=sensitive)
        pairs.append((ec, vc))
    if len({_norm(e, sensitive) for e, _ in pairs}) != len(pairs):
        raise InvalidArgumentError(f"keys name an entity column more than once: {pairs}.")
    key_types = []
    for ec, vc in pairs:
        et, vt = eschema[ec].dataType, vschema[vc].dataType
        if not is_orderable(et) or not is_orderable(vt):
            raise SchemaMismatchError(
                f"join key {ec!r} ({et.simpleString()} in entity_df, {vt.simpleString()} in events_df) holds maps "
                "or variants, which Spark cannot compare for equality; key on scalar columns instead."
            )
        common = common_key_type([et, vt])
        if common is None:
            raise SchemaMismatchError(
                f"join key {ec!r} is {et.simpleString()} in entity_df but {vc!r} is {vt.simpleString()} in "
                f"events_df; the two cannot be compared. Cast one side to the other's type first, e.g. "
                f"events_df.withColumn({vc!r}, F.col({vc!r}).cast({et.simpleString()!r}))."
            )
        key_types.append(common)

    vts = resolve_column(vcols, event_timestamp, frame="events_df", role="event timestamp", sensitive=sensitive)
    _check_kind(vschema[vts].dataType, vts, "events_df", "event timestamp", ntz)
    cts: Optional[str] = None
    if created_timestamp is not None:
        cts = resolve_column(vcols, created_timestamp, frame="events_df", role="created timestamp", sensitive=sensitive)
        _check_kind(vschema[cts].dataType, cts, "events_df", "created timestamp", ntz)
    if as_known_at_query_time and cts is None:
        raise InvalidArgumentError(
            "as_known_at_query_time=True needs created_timestamp, the events_df column saying when each event "
            "was written (an event counts for an entity row at t only once created_timestamp <= t)."
        )

    slots, outputs, windows = _resolve_aggregations(aggregations, vcols, vschema, sensitive)
    _check_outputs(ecols, outputs, sensitive)
    if as_known_at_query_time:
        _check_as_known(outputs, windows)
    return AggregationPlan(
        entity_columns=tuple(ecols),
        entity_keys=tuple(e for e, _ in pairs),
        event_keys=tuple(v for _, v in pairs),
        entity_key_types=tuple(eschema[e].dataType for e, _ in pairs),
        event_key_types=tuple(vschema[v].dataType for _, v in pairs),
        key_types=tuple(key_types),
        entity_timestamp=ets,
        entity_timestamp_type=eschema[ets].dataType,
        event_timestamp=vts,
        event_timestamp_type=vschema[vts].dataType,
        created_timestamp=cts,
        created_timestamp_type=None if cts is None else vschema[cts].dataType,
        ntz=ntz,
        as_known=as_known_at_query_time,
        slots=tuple(slots),
        outputs=tuple(outputs),
        windows=tuple(windows),
    )


def _check_entity(entity_df: DataFrame, entity_timestamp: object, sensitive: bool) -> tuple[str, bool]:
    seen: set[str] = set()
    for c in entity_df.columns:
        if _norm(c, sensitive) in seen:
            raise SchemaMismatchError(
                f"entity_df has more than one column named {c!r}; rename or drop the duplicates "
                "(for example after a join) first."
            )
        seen.add(_norm(c, sensitive))
        if c.lower().startswith(RESERVED_PREFIX):
            raise InvalidArgumentError(
                f"entity_df column {c!r} uses the prefix {RESERVED_PREFIX!r} reserved for the aggregation "
                "engine's internal columns; rename it."
            )
    ets = resolve_column(entity_df.columns, entity_timestamp, frame="entity_df", role="entity timestamp",
                         sensitive=sensitive)
    ntz = check_timestamp_type(entity_df.schema[ets].dataType, ets, frame="entity_df", role="entity timestamp")
    return ets, ntz


def _key_pairs(keys: object) -> list[tuple[object, object]]:
    if isinstance(keys, str) or keys is None:
        raise InvalidArgumentError(
            "keys must be a list of column names or a mapping {entity_column: event_column}, "
            f"got {keys!r}; for one key write keys=[{keys!r}]."
        )
    if isinstance(keys, Mapping):
        pairs = list(keys.items())
    elif isinstance(keys, Sequence):
        pairs = [(k, k) for k in keys]
    else:
        raise InvalidArgumentError(f"keys must be a list of column names or a mapping, got {type(keys).__name__}.")
    if not pairs:
        raise InvalidArgumentError(
            "keys is empty; windowed aggregates need at least one key. To aggregate over all events, add the "
            "same constant column to both frames and key on it."
        )
    return pairs


def _resolve_aggregations(
    aggregations: object, vcols: Sequence[str], vschema: object, sensitive: bool
) -> tuple[list[Slot], list[Output], list[int]]:
    if isinstance(aggregations, Aggregation) or not isinstance(aggregations, Sequence) or not aggregations:
        raise InvalidArgumentError(
            "aggregations must be a non-empty list of Aggregation, e.g. "
            f"[Aggregation('fare', 'sum', windows=['1h', '7d'])]; got {aggregations!r}."
        )
    slots: dict[str, Slot] = {}
    pending: list[tuple[str, str, int, Optional[int], Optional[int], str]] = []
    finite: set[int] = set()
    for i, agg in enumerate(aggregations):
        if not isinstance(agg, Aggregation):
            raise InvalidArgumentError(f"aggregations[{i}] must be an Aggregation, got {type(agg).__name__}.")
        column = resolve_column(vcols, agg.column, frame="events_df", role="aggregated", sensitive=sensitive)
        dtype = vschema[column].dataType  # type: ignore[index]
        _check_type(agg, column, dtype)
        slot = slots.setdefault(column, Slot(len(slots), column, dtype))
        for name, window in agg.outputs():
            micros = window.micros
            if micros is not None and micros >= MAX_SPAN_MICROS:
                micros = None  # longer than the whole timestamp range: no event can be older
            if micros is not None:
                finite.add(micros)
            label = f"{name} ({agg.function} of {column!r} over {window.label})"
            pending.append((name, agg.function, slot.index, micros, agg.k, label))
    windows = sorted(finite)
    outputs = [
        Output(name=n, function=f, slot=s, window=None if m is None else windows.index(m), k=k, label=lab)
        for n, f, s, m, k, lab in pending
    ]
    return list(slots.values()), outputs, windows


def _check_type(agg: Aggregation, column: str, dtype: DataType) -> None:
    found = f"column {column!r} of events_df is {dtype.simpleString()}"
    if agg.function in NUMERIC_FUNCTIONS and not isinstance(dtype, NumericType):
        raise SchemaMismatchError(
            f"{agg.function} needs a numeric column, but {found}; cast it first, e.g. "
            f"events_df.withColumn({column!r}, F.col({column!r}).cast('double'))."
        )
    if agg.function in ORDERED_FUNCTIONS and not is_orderable(dtype):
        raise SchemaMismatchError(
            f"{agg.function} needs values Spark can order, but {found} (maps and variants cannot be compared); "
            "aggregate a scalar field of it instead."
        )
    if agg.function == "approx_count_distinct" and not is_hashable(dtype):
        raise SchemaMismatchError(
            f"approx_count_distinct needs values Spark can hash, but {found}; count a scalar field of it, or "
            "its JSON text (F.to_json)."
        )


def _check_outputs(entity_columns: Sequence[str], outputs: Sequence[Output], sensitive: bool) -> None:
    owner = {_norm(c, sensitive): f"entity_df column {c!r}" for c in entity_columns}
    for out in outputs:
        if out.name.lower().startswith(RESERVED_PREFIX):
            raise InvalidArgumentError(
                f"output column {out.label} uses the prefix {RESERVED_PREFIX!r} reserved for the aggregation "
                "engine's internal columns; choose another name with name=..."
            )
        key = _norm(out.name, sensitive)
        if key in owner:
            raise InvalidArgumentError(
                f"output column {out.label} clashes with {owner[key]}. Name the output with "
                "Aggregation(..., name=...) (one window per Aggregation), or rename the entity column."
            )
        owner[key] = f"output column {out.label}"


def _check_as_known(outputs: Sequence[Output], windows: Sequence[int]) -> None:
    for out in outputs:
        allowed = AS_KNOWN_LIFETIME if out.window is None else AS_KNOWN_WINDOWED
        if out.function not in allowed:
            where = "any window" if out.function == "last_k" else "a finite window"
            raise InvalidArgumentError(
                f"as_known_at_query_time=True cannot compute {out.label}: {out.function} over {where} is not "
                "supported with it, because a late event (created long after its event time) enters the "
                "window after newer events, and this function cannot be maintained exactly then at sort cost "
                "(docs/aggregations.md, 'As known at query time'). Supported: count, sum, mean, variance, "
                "stddev and last over any window; min, max, first and approx_count_distinct over 'lifetime'. "
                "Compute this output in a separate call without as_known_at_query_time."
            )


def sum_type(dtype: DataType) -> DataType:
    """Spark type of a window sum: bigint for integers, double for floats, wider decimal for decimals."""
    if isinstance(dtype, DecimalType):
        return DecimalType(min(38, dtype.precision + 10), dtype.scale)
    if isinstance(dtype, (FloatType, DoubleType)):
        return DoubleType()
    return LongType()

