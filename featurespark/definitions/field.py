"""Typed columns: :class:`Field`."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featurespark.definitions.types import to_spark_type, validate_type
from featurespark.errors import DefinitionError

if TYPE_CHECKING:
    from pyspark.sql import types as T

__all__ = ["Field", "check_name"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_name(name: Any, *, what: str) -> str:
    """Validate an object or column name (letters, digits, ``_``; not starting with a digit)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise DefinitionError(
            f"{what}: invalid name {name!r}. Use letters, digits and '_' and start with a letter or '_'."
        )
    if "__" in name:
        raise DefinitionError(
            f"{what}: name {name!r} contains '__', which featurespark reserves for 'view__feature' "
            "output names. Use a single '_'."
        )
    return name


@dataclass(frozen=True)
class Field:
    """A named, typed column of a feature view or an entity key.

    Parameters
    ----------
    name : str
        Column name.
    dtype : str
        One of ``int32, int64, float32, float64, string, bool, timestamp, bytes`` or
        ``array<T>`` of those.
    description : str
        Free text.

    Examples
    --------
    >>> Field("conv_rate", "float64")
    Field(name='conv_rate', dtype='float64', description='')
    """

    name: str
    dtype: str
    description: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, what="Field")
        object.__setattr__(self, "dtype", validate_type(self.dtype, where=f"Field '{self.name}'"))

    @property
    def spark_type(self) -> T.DataType:
        """The Spark type the column is stored as."""
        return to_spark_type(self.dtype)

    def to_dict(self) -> dict[str, Any]:
        """Plain form for the registry."""
        return {"name": self.name, "dtype": self.dtype, "description": self.description}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Field":
        """Inverse of :meth:`to_dict`."""
        return cls(data["name"], data["dtype"], data.get("description", ""))
