"""The small value-type system of feature fields, and its mapping to Spark types.

Type names are strings: ``int32``, ``int64``, ``float32``, ``float64``, ``string``, ``bool``,
``timestamp``, ``bytes`` and ``array<T>`` of any of those (arrays do not nest).

Spark is imported only by the functions that map to and from Spark types, so definitions load
where pyspark is not installed (an online lookup in a Lambda, the ``featurespark emr`` command).
"""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from featurespark.errors import DefinitionError

if TYPE_CHECKING:
    from pyspark.sql import types as T

__all__ = [
    "SCALAR_TYPES", "all_type_names", "element_type", "from_spark_type", "is_array", "is_safe_cast",
    "to_spark_type", "validate_type",
]

#: The scalar type names, in documentation order.
SCALAR_TYPES: tuple[str, ...] = ("int32", "int64", "float32", "float64", "string", "bool", "timestamp", "bytes")


@lru_cache(maxsize=1)
def _spark_scalars() -> dict[str, T.DataType]:
    from pyspark.sql import types as T

    return {
        "int32": T.IntegerType(),
        "int64": T.LongType(),
        "float32": T.FloatType(),
        "float64": T.DoubleType(),
        "string": T.StringType(),
        "bool": T.BooleanType(),
        "timestamp": T.TimestampType(),
        "bytes": T.BinaryType(),
    }


# Value types a column of the key type may be cast to without losing information.
_WIDENINGS: dict[str, frozenset[str]] = {
    "int32": frozenset({"int64", "float64"}),
    "float32": frozenset({"float64"}),
}



@lru_cache(maxsize=1)
def _spark_aliases() -> dict[type, str]:
    """Spark types read as one of ours (Spark has more integer widths than we do)."""
    from pyspark.sql import types as T

    return {
        T.ByteType: "int32",
        T.ShortType: "int32",
        T.IntegerType: "int32",
        T.LongType: "int64",
        T.FloatType: "float32",
        T.DoubleType: "float64",
        T.StringType: "string",
        T.BooleanType: "bool",
        T.TimestampType: "timestamp",
        T.TimestampNTZType: "timestamp",
        T.BinaryType: "bytes",
    }


def all_type_names() -> list[str]:
    """Every valid type name, scalars first."""
    return list(SCALAR_TYPES) + [f"array<{name}>" for name in SCALAR_TYPES]


def validate_type(dtype: str, *, where: str) -> str:
    """Return ``dtype`` normalised (lower case, no spaces) or raise naming ``where``.

    Raises
    ------
    DefinitionError
        If ``dtype`` is not a known type name.

    Examples
    --------
    >>> validate_type("Array<Float64>", where="field x")
    'array<float64>'
    """
    if not isinstance(dtype, str):
        raise DefinitionError(f"{where}: type must be a string such as 'int64', found {dtype!r}.")
    norm = dtype.replace(" ", "").lower()
    if norm in SCALAR_TYPES:
        return norm
    if norm.startswith("array<") and norm.endswith(">") and norm[6:-1] in SCALAR_TYPES:
        return norm
    raise DefinitionError(
        f"{where}: unknown type {dtype!r}. Use one of: {', '.join(all_type_names())}."
    )


def is_array(dtype: str) -> bool:
    """True for ``array<T>`` types."""
    return dtype.startswith("array<")


def element_type(dtype: str) -> str:
    """The element type of an array type, or the type itself for scalars."""
    return dtype[6:-1] if is_array(dtype) else dtype


def to_spark_type(dtype: str) -> T.DataType:
    """Spark type of a featurespark type name.

    Examples
    --------
    >>> to_spark_type("array<int64>")
    ArrayType(LongType(), True)
    """
    from pyspark.sql import types as T

    norm = validate_type(dtype, where="type")
    if is_array(norm):
        return T.ArrayType(_spark_scalars()[element_type(norm)], containsNull=True)
    return _spark_scalars()[norm]


def from_spark_type(spark_type: T.DataType) -> str | None:
    """featurespark type name of a Spark type, or None when it has no counterpart.

    Examples
    --------
    >>> from pyspark.sql import types as T
    >>> from_spark_type(T.ShortType()), from_spark_type(T.ArrayType(T.DoubleType())), from_spark_type(T.DateType())
    ('int32', 'array<float64>', None)
    """
    from pyspark.sql import types as T

    if isinstance(spark_type, T.ArrayType):
        inner = from_spark_type(spark_type.elementType)
        return None if inner is None or is_array(inner) else f"array<{inner}>"
    return _spark_aliases().get(type(spark_type))


def is_safe_cast(found: str, expected: str) -> bool:
    """Whether values of type ``found`` can be stored as ``expected`` without loss.

    Equal types and widenings (int32 to int64 or float64, float32 to float64, and the same
    for array elements) are safe; everything else is not.
    """
    if found == expected:
        return True
    if is_array(found) != is_array(expected):
        return False
    return element_type(expected) in _WIDENINGS.get(element_type(found), frozenset())
