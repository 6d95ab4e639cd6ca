"""Feature views: a typed set of features about one or more entities, read from a source."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Mapping, Optional, Sequence

from featurespark.definitions.entity import Entity
from featurespark.definitions.field import Field, check_name
from featurespark.definitions.sources import ManagedSource, Source
from featurespark.errors import DefinitionError

__all__ = ["ONLINE_RESERVED_NAMES", "FeatureView"]


_ONLINE_KEY_TYPES = ("int32", "int64", "string")
#: Attribute names the online item layout uses itself (``docs/online_item_layout.md``): an online
#: view's features may not have them.
ONLINE_RESERVED_NAMES = frozenset({"pk", "event_ts", "created_ts", "expire_at"})


@dataclass(frozen=True)
class FeatureView:
    """A named group of features with a time-to-live, a source and entities.

    Parameters
    ----------
    name : str
        Unique name; also the offline table and online table suffix.
    entities : sequence of Entity
        The entities whose join keys identify a row. Composite keys come from several entities.
    schema : sequence of Field
        The feature columns (not the join keys or timestamps).
    source : Source
        Where rows come from; default :class:`ManagedSource` (ingested by featurespark).
    ttl : timedelta or None
        How long a feature value stays valid after its event time. ``None`` means unbounded.
    online : bool
        Whether ``materialize`` pushes the view to the online store.
    join_key_map : mapping, optional
        Rename join keys to entity-row column names at query time, e.g.
        ``{"driver_id": "pickup_driver_id"}``.
    tags, owner, description
        Metadata shown by ``describe``.

    Examples
    --------
    >>> from datetime import timedelta
    >>> driver = Entity("driver", join_keys={"driver_id": "int64"})
    >>> view = FeatureView(
    ...     name="driver_hourly_stats",
    ...     entities=[driver],
    ...     schema=[Field("conv_rate", "float64"), Field("avg_daily_trips", "int64")],
    ...     ttl=timedelta(days=2),
    ... )
    >>> view.join_keys
    ['driver_id']
    """

    name: str
    entities: Sequence[Entity]
    schema: Sequence[Field]
    source: Source = field(default_factory=ManagedSource)
    ttl: Optional[timedelta] = None
    online: bool = True
    join_key_map: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    owner: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        where = f"FeatureView '{self.name}'"
        check_name(self.name, what="FeatureView")
        entities = tuple(self.entities)
        if not entities or not all(isinstance(e, Entity) for e in entities):
            raise DefinitionError(f"{where}: entities must be a non-empty list of Entity objects.")
        schema = tuple(self.schema)
        if not schema or not all(isinstance(f, Field) for f in schema):
            raise DefinitionError(f"{where}: schema must be a non-empty list of Field objects (the features).")
        if not isinstance(self.source, Source) or type(self.source) is Source:
            raise DefinitionError(f"{where}: source must be a ManagedSource, DeltaSource, ParquetSource, "
                                  f"TableSource or QuerySource, found {self.source!r}.")
        if self.ttl is not None:
            if not isinstance(self.ttl, timedelta):
                raise DefinitionError(f"{where}: ttl must be a datetime.timedelta or None (unbounded), "
                                      f"found {self.ttl!r}.")
            if self.ttl < timedelta(0):
                raise DefinitionError(f"{where}: ttl is negative ({self.ttl}). Use a positive timedelta, "
                                      "or None for no limit.")
        if not isinstance(self.online, bool):
            raise DefinitionError(f"{where}: online must be True or False, found {self.online!r}.")
        self._check_columns(where, entities, schema)
        if self.online:
            reserved = sorted(ONLINE_RESERVED_NAMES.intersection(f.name for f in schema))
            if reserved:
                raise DefinitionError(
                    f"{where}: feature(s) {', '.join(repr(r) for r in reserved)} use names the online item layout "
                    f"reserves for itself ({', '.join(sorted(ONLINE_RESERVED_NAMES))}). Rename them, or set "
                    "online=False if the view is never served."
                )
            unservable = [k for e in entities for k in e.key_fields if k.dtype not in _ONLINE_KEY_TYPES]
            if unservable:
                raise DefinitionError(
                    f"{where}: online views need string or integer join keys, but '{unservable[0].name}' is "
                    f"{unservable[0].dtype}. Set online=False, or key the entity by a string or integer."
                )
        object.__setattr__(self, "entities", entities)
        object.__setattr__(self, "schema", schema)
        object.__setattr__(self, "join_key_map", dict(self.join_key_map))
        object.__setattr__(self, "tags", dict(self.tags))

    def _check_columns(self, where: str, entities: tuple[Entity, ...], schema: tuple[Field, ...]) -> None:
        keys = [k for e in entities for k in e.join_key_names]
        timestamps = [t for t in (self.source.timestamp_field, self.source.created_timestamp_field) if t]
        seen: dict[str, str] = {}
        roles = [(k, "join key") for k in keys] + [(f.name, "feature") for f in schema]
        for name, role in roles + [(t, "timestamp") for t in timestamps]:
            if name in seen:
                raise DefinitionError(f"{where}: column '{name}' is used both as {seen[name]} and as {role}. "
                                      "Each column may play one role; rename one of them.")
            seen[name] = role
        unknown = sorted(set(self.join_key_map) - set(keys))
        if unknown:
            raise DefinitionError(f"{where}: join_key_map names {unknown}, which are not join keys of its "
                                  f"entities ({keys}).")

    @property
    def join_keys(self) -> list[str]:
        """Join key column names in the view's data, in entity order."""
        return [k for e in self.entities for k in e.join_key_names]

    @property
    def join_key_fields(self) -> list[Field]:
        """Join keys as typed fields."""
        return [k for e in self.entities for k in e.key_fields]

    @property
    def entity_columns(self) -> dict[str, str]:
        """Map of join key to the entity-row column it is matched with."""
        return {k: self.join_key_map.get(k, k) for k in self.join_keys}

    @property
    def feature_names(self) -> list[str]:
        """Names of the features, in schema order."""
        return [f.name for f in self.schema]

    @property
    def timestamp_field(self) -> str:
        """The event-time column."""
        return self.source.timestamp_field

    @property
    def created_timestamp_field(self) -> Optional[str]:
        """The created-time column, if any."""
        return self.source.created_timestamp_field

    def feature(self, name: str) -> Field:
        """The field of one feature.

        Raises
        ------
        DefinitionError
            If the view has no such feature.
        """
        for f in self.schema:
            if f.name == name:
                return f
        raise DefinitionError(f"FeatureView '{self.name}' has no feature '{name}'. "
                              f"Its features are: {', '.join(self.feature_names)}.")

    def to_dict(self) -> dict[str, Any]:
        """Plain form for the registry (entities by name)."""
        return {
            "name": self.name,
            "entities": [e.name for e in self.entities],
            "schema": [f.to_dict() for f in self.schema],
            "source": self.source.to_dict(),
            "ttl_seconds": None if self.ttl is None else self.ttl.total_seconds(),
            "online": self.online,
            "join_key_map": dict(sorted(self.join_key_map.items())),
            "tags": dict(sorted(self.tags.items())),
            "owner": self.owner,
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], entities: Mapping[str, Entity]) -> "FeatureView":
        """Inverse of :meth:`to_dict`, resolving entity names with ``entities``."""
        missing = [e for e in data["entities"] if e not in entities]
        if missing:
            raise DefinitionError(f"FeatureView '{data['name']}' refers to unknown entities {missing}.")
        ttl = data.get("ttl_seconds")
        return cls(
            name=data["name"],
            entities=[entities[e] for e in data["entities"]],
            schema=[Field.from_dict(f) for f in data["schema"]],
            source=Source.from_dict(data["source"]),
            ttl=None if ttl is None else timedelta(seconds=ttl),
            online=data.get("online", True),
            join_key_map=data.get("join_key_map", {}),
            tags=data.get("tags", {}),
            owner=data.get("owner", ""),
            description=data.get("description", ""),
        )
