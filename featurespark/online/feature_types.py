"""Feature type names of the online store and their mapping from Spark types.

Type names are plain strings so that a service without featurespark can read them: the scalars
``int32``, ``int64``, ``float32``, ``float64``, ``string``, ``bool``, ``timestamp``, ``bytes`` and
``array<T>`` of any of them (nested arrays included).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Optional, Union

from featurespark.errors import ItemEncodingError

if TYPE_CHECKING:
    from pyspark.sql import types as T

logger = logging.getLogger(__name__)

__all__ = ["FeatureType", "KEY_TYPES", "SCALAR_TYPES", "TypeSpec", "feature_type_of", "parse_feature_type"]

#: Scalar feature types.
SCALAR_TYPES: tuple[str, ...] = (
    "int32",
    "int64",
    "float32",
    "float64",
    "string",
    "bool",
    "timestamp",
    "bytes",
)
#: Types a join key may have (they make up the partition key).
KEY_TYPES: tuple[str, ...] = ("string", "int32", "int64")


@dataclass(frozen=True)
class FeatureType:
    """A parsed feature type.

    Attributes
    ----------
    name : str
        One of :data:`SCALAR_TYPES`, or ``"array"``.
    element : FeatureType, optional
        The element type when ``name`` is ``"array"``.
    """

    name: str
    element: Optional[FeatureType] = None

    @property
    def is_array(self) -> bool:
        """Whether this is an ``array<T>`` type."""
        return self.name == "array"

    def __str__(self) -> str:
        if self.element is not None:
            return f"array<{self.element}>"
        return self.name


TypeSpec = Union[str, FeatureType]


def parse_feature_type(spec: TypeSpec) -> FeatureType:
    """Parse a feature type name such as ``"float64"`` or ``"array<array<int32>>"``.

    Parameters
    ----------
    spec : str or FeatureType
        The name (spaces and case are ignored) or an already parsed type.

    Returns
    -------
    FeatureType
        The parsed type.

    Raises
    ------
    ItemEncodingError
        If the name is not a known type.

    Examples
    --------
    >>> str(parse_feature_type("ARRAY< float64 >"))
    'array<float64>'
    """
    if isinstance(spec, FeatureType):
        return spec
    if not isinstance(spec, str):
        raise ItemEncodingError(
            f"A feature type must be a type name string, got {type(spec).__name__} {spec!r}. "
            f"Use one of {', '.join(SCALAR_TYPES)} or array<T>."
        )
    return _parse(spec.replace(" ", "").lower(), spec)


@lru_cache(maxsize=256)
def _parse(text: str, original: str) -> FeatureType:
    if text in SCALAR_TYPES:
        return FeatureType(text)
    if text.startswith("array<") and text.endswith(">"):
        return FeatureType("array", _parse(text[len("array<") : -1], original))
    raise ItemEncodingError(
        f"Unknown feature type {original!r}. Use one of {', '.join(SCALAR_TYPES)} or array<T> of them."
    )


def feature_type_of(data_type: T.DataType, *, column: str = "?") -> str:
    """Map a Spark data type to an online feature type name.

    Parameters
    ----------
    data_type : pyspark.sql.types.DataType
        The column's type.
    column : str, optional
        The column name, used in the error message.

    Returns
    -------
    str
        The feature type name. Byte and short integers widen to ``int32``.

    Raises
    ------
    ItemEncodingError
        If the Spark type has no online representation (maps, structs, decimals, dates,
        timestamps without time zone).

    Examples
    --------
    >>> from pyspark.sql import types as T
    >>> feature_type_of(T.ArrayType(T.DoubleType()))
    'array<float64>'
    """
    from pyspark.sql import types as T

    if isinstance(data_type, (T.ByteType, T.ShortType, T.IntegerType)):
        return "int32"
    if isinstance(data_type, T.LongType):
        return "int64"
    if isinstance(data_type, T.FloatType):
        return "float32"
    if isinstance(data_type, T.DoubleType):
        return "float64"
    if isinstance(data_type, T.StringType):
        return "string"
    if isinstance(data_type, T.BooleanType):
        return "bool"
    if isinstance(data_type, T.BinaryType):
        return "bytes"
    # TimestampNTZType subclasses neither; it is rejected below on purpose (no instant to store).
    if type(data_type) is T.TimestampType:
        return "timestamp"
    if isinstance(data_type, T.ArrayType):
        return f"array<{feature_type_of(data_type.elementType, column=column)}>"
    raise ItemEncodingError(
        f"Column {column!r} has Spark type {data_type.simpleString()}, which the online store cannot hold. "
        f"Cast it to one of int/bigint/float/double/string/boolean/timestamp/binary or an array of them."
    )
