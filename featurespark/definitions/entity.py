"""Entities: the things features describe, identified by one or more join keys."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence, Union, cast

from featurespark.definitions.field import Field, check_name
from featurespark.errors import DefinitionError

__all__ = ["Entity"]


@dataclass(frozen=True)
class Entity:
    """An entity with typed join keys.

    Parameters
    ----------
    name : str
        Entity name, unique in the registry.
    join_keys : sequence of Field, or mapping of key name to type
        One or more key columns; the order matters for composite keys.
    description : str
        Free text.
    tags : mapping
        Free-form string labels.

    Examples
    --------
    >>> driver = Entity("driver", join_keys={"driver_id": "int64"})
    >>> driver.join_key_names
    ['driver_id']
    """

    name: str
    join_keys: Union[Sequence[Field], Mapping[str, str]]
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name(self.name, what="Entity")
        keys = self.join_keys
        if isinstance(keys, Mapping):
            keys = [Field(k, v) for k, v in keys.items()]
        keys = tuple(keys)
        if not keys:
            raise DefinitionError(f"Entity '{self.name}': needs at least one join key, e.g. "
                                  f"join_keys={{'{self.name}_id': 'int64'}}.")
        for key in keys:
            if not isinstance(key, Field):
                raise DefinitionError(f"Entity '{self.name}': join keys must be Field objects or a "
                                      f"mapping of name to type, found {key!r}.")
            if key.dtype in ("float32", "float64", "timestamp") or key.dtype.startswith("array<"):
                raise DefinitionError(
                    f"Entity '{self.name}': join key '{key.name}' has type {key.dtype}, which cannot be "
                    "matched reliably. Use int32, int64, string, bool or bytes."
                )
        names = [k.name for k in keys]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise DefinitionError(f"Entity '{self.name}': join key {dupes[0]!r} is listed twice.")
        object.__setattr__(self, "join_keys", keys)
        object.__setattr__(self, "tags", dict(self.tags))

    @property
    def key_fields(self) -> tuple[Field, ...]:
        """The join keys as typed fields, in order (``join_keys`` after normalisation)."""
        return cast("tuple[Field, ...]", self.join_keys)

    @property
    def join_key_names(self) -> list[str]:
        """Names of the join keys, in order."""
        return [k.name for k in self.key_fields]

    def to_dict(self) -> dict[str, Any]:
        """Plain form for the registry."""
        return {
            "name": self.name,
            "join_keys": [k.to_dict() for k in self.key_fields],
            "description": self.description,
            "tags": dict(sorted(self.tags.items())),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Entity":
        """Inverse of :meth:`to_dict`."""
        return cls(
            name=data["name"],
            join_keys=[Field.from_dict(k) for k in data["join_keys"]],
            description=data.get("description", ""),
            tags=data.get("tags", {}),
        )
