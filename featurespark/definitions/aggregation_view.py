"""Aggregation views: windowed aggregates of an event source, computed point-in-time for each entity row."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Optional, Sequence, Union

from featurespark.aggregations.spec import LIFETIME, Aggregation, AggregationWindow, output_dtype, parse_window
from featurespark.definitions.entity import Entity
from featurespark.definitions.field import Field, check_name
from featurespark.definitions.sources import Source
from featurespark.errors import DefinitionError, FeaturesparkError

if TYPE_CHECKING:
    from featurespark.online.tiles.layout import TiledLayout

__all__ = [
    "AggregationView",
]


@dataclass(frozen=True)
class AggregationView:
    """A named set of windowed aggregates over the events of one source, keyed by entities.

    For an entity row at time ``t``, each feature aggregates the source's events with the row's keys and
    ``t - w <= event_ts < t`` (see ``docs/aggregations.md``). The event time is the source's
    ``timestamp_field``; its ``created_timestamp_field``, if any, allows ``as_known_at_query_time``.

    Parameters
    ----------
    name : str
        Unique name (letters, digits and ``_``).
    entities : sequence of Entity
        The entities whose join keys identify a key of the events.
    source : Source
        The event source (any kind featurespark reads, including a managed table).
    event_schema : sequence of Field
        The event columns the aggregations read, with their types (checked against the source at apply
        time); they determine the features' types.
    aggregations : sequence of Aggregation
        The aggregates; each (aggregation, window) pair is one feature, named by the aggregation.
    join_key_map : mapping, optional
        Rename join keys to entity-row column names at query time, e.g. ``{"driver_id": "pickup_driver_id"}``.
    tags, owner, description
        Metadata shown by ``describe``.
    online : bool, optional
        Whether ``apply`` creates a DynamoDB table for the view and ``materialize`` writes its tiled items
        (``docs/online_item_layout.md``), so ``get_online_features`` serves its window values. Default False.
    horizon : str or timedelta, optional
        Online views only: the longest time between two materializations (``"1h"``, ``timedelta(hours=1)``);
        lookups up to ``horizon`` after a run are exact, and longer horizons keep more raw events per item.
        Required when ``online=True``.
    tile_sizes : mapping of str to str or timedelta, optional
        Online views only: tile size per window label (``{"7d": "1h"}``); default sizes otherwise
        (:func:`featurespark.online.tiles.default_tile_micros`).

    Raises
    ------
    DefinitionError
        For a bad name, entities, source or aggregation; an aggregated column missing from
        ``event_schema`` (or listed there but never aggregated); a function that does not apply to its
        column's type; feature names that are not valid names or clash with each other, a join key or a
        timestamp column; ``horizon`` or ``tile_sizes`` without ``online=True``, an online view without
        ``horizon``, or an online layout DynamoDB items cannot hold (see ``docs/aggregations.md``).

    Examples
    --------
    >>> from featurespark.aggregations import Aggregation
    >>> from featurespark.definitions import Entity, Field, ParquetSource
    >>> driver = Entity("driver", join_keys={"driver_id": "int64"})
    >>> trips = AggregationView(
    ...     name="driver_trip_aggs",
    ...     entities=[driver],
    ...     source=ParquetSource(path="s3://bucket/trips/", timestamp_field="event_ts"),
    ...     event_schema=[Field("fare", "float64"), Field("rating", "int32")],
    ...     aggregations=[Aggregation("fare", "sum", windows=["1h", "7d"]),
    ...                   Aggregation("rating", "last_k", windows=["30d"], k=5)],
    ... )
    >>> [(f.name, f.dtype) for f in trips.features]
    [('fare_sum_1h', 'float64'), ('fare_sum_7d', 'float64'), ('rating_last_k_30d', 'array<int32>')]
    >>> from dataclasses import replace
    >>> online = replace(trips, online=True, horizon="1h", tile_sizes={"7d": "2h"})
    >>> online.horizon, online.tile_sizes
    (datetime.timedelta(seconds=3600), {'7d': datetime.timedelta(seconds=7200)})
    """

    #: Kind under which the registry records these views.
    kind: ClassVar[str] = "aggregation_view"

    name: str
    entities: Sequence[Entity]
    source: Source
    event_schema: Sequence[Field]
    aggregations: Sequence[Aggregation]
    join_key_map: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    owner: str = ""
    description: str = ""
    online: bool = False
    horizon: Optional[Union[str, timedelta]] = None
    tile_sizes: Mapping[str, Union[str, timedelta]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"AggregationView '{self.name}'"
        check_name(self.name, what="AggregationView")
        entities = tuple(self.entities)
        if not entities or not all(isinstance(e, Entity) for e in entities):
            raise DefinitionError(f"{where}: entities must be a non-empty list of Entity objects.")
        if not isinstance(self.source, Source) or type(self.source) is Source:
            raise DefinitionError(f"{where}: source must be a ManagedSource, DeltaSource, ParquetSource, "
                                  f"TableSource or QuerySource, found {self.source!r}.")
        inputs = tuple(self.event_schema)
        if not inputs or not all(isinstance(f, Field) for f in inputs):
            raise DefinitionError(f"{where}: event_schema must be a non-empty list of Field objects (the event "
                                  "columns the aggregations read, with their types).")
        aggregations = tuple(self.aggregations)
        if not aggregations or not all(isinstance(a, Aggregation) for a in aggregations):
            raise DefinitionError(f"{where}: aggregations must be a non-empty list of Aggregation objects, e.g. "
                                  "[Aggregation('fare', 'sum', windows=['1h', '7d'])].")
        types = {f.name: f.dtype for f in inputs}
        if len(types) != len(inputs):
            dupes = sorted({f.name for f in inputs if sum(g.name == f.name for g in inputs) > 1})
            raise DefinitionError(f"{where}: event_schema lists column {dupes[0]!r} more than once.")
        read = {a.column for a in aggregations}
        for agg in aggregations:
            if agg.column not in types:
                raise DefinitionError(
                    f"{where}: {agg!r} reads column {agg.column!r}, which event_schema does not list; add "
                    f"Field({agg.column!r}, '<type>') to event_schema."
                )
        unread = [f.name for f in inputs if f.name not in read]
        if unread:
            raise DefinitionError(f"{where}: event_schema lists {unread}, which no aggregation reads; remove them.")
        object.__setattr__(self, "entities", entities)
        object.__setattr__(self, "event_schema", inputs)
        object.__setattr__(self, "aggregations", aggregations)
        object.__setattr__(self, "join_key_map", dict(self.join_key_map))
        object.__setattr__(self, "tags", dict(self.tags))
        self._check_features(where)
        self._check_online(where)

    def _check_online(self, where: str) -> None:
        """Normalise ``horizon`` and ``tile_sizes`` to timedeltas and check the online layout once."""
        if not isinstance(self.online, bool):
            raise DefinitionError(f"{where}: online must be True or False, found {self.online!r}.")
        if not isinstance(self.tile_sizes, Mapping):
            raise DefinitionError(f"{where}: tile_sizes must be a mapping of window label to size, e.g. "
                                  f"{{'7d': '1h'}}, found {self.tile_sizes!r}.")
        if not self.online:
            if self.horizon is not None or self.tile_sizes:
                raise DefinitionError(f"{where}: horizon and tile_sizes describe the online items; they need "
                                      "online=True (or remove them).")
            object.__setattr__(self, "tile_sizes", {})
            return
        if self.horizon is None:
            raise DefinitionError(
                f"{where}: online=True needs horizon=, the longest time between two materializations "
                "(e.g. horizon='1h' for hourly runs); lookups later than that after a run cannot be answered exactly."
            )
        object.__setattr__(self, "horizon", _duration(self.horizon, f"{where}: horizon"))
        sizes = {label: _duration(size, f"{where}: tile_sizes[{label!r}]") for label, size in self.tile_sizes.items()}
        object.__setattr__(self, "tile_sizes", sizes)
        try:
            self.online_layout()
        except FeaturesparkError as exc:
            raise DefinitionError(f"{where}: its online items cannot be laid out: {exc}") from exc

    def online_layout(
        self, *, horizon: Optional[timedelta] = None, tile_sizes: Optional[Mapping[str, timedelta]] = None
    ) -> TiledLayout:
        """The tiled layout of the view's online items (join keys, event column types, aggregations).

        Parameters
        ----------
        horizon, tile_sizes : optional
            Override the view's own (a view with ``online=False`` has none, so ``horizon`` is then needed).

        Raises
        ------
        InvalidArgumentError, DefinitionError
            Without a horizon, or for a layout DynamoDB items cannot hold.

        Examples
        --------
        >>> from featurespark.definitions import Entity, Field, ManagedSource
        >>> view = AggregationView("v", [Entity("d", join_keys={"d_id": "int64"})], ManagedSource(),
        ...                        [Field("fare", "float64")], [Aggregation("fare", "sum", windows=["1h", "7d"])],
        ...                        online=True, horizon="1h")
        >>> view.online_layout().output_names
        ('fare_sum_1h', 'fare_sum_7d')
        """
        from featurespark.errors import InvalidArgumentError
        from featurespark.online.tiles.layout import TiledLayout

        chosen = horizon if horizon is not None else self.horizon
        if not isinstance(chosen, timedelta):
            raise InvalidArgumentError(f"AggregationView '{self.name}' has no horizon (online=False); pass horizon=.")
        return TiledLayout.build(
            {f.name: f.dtype for f in self.join_key_fields}, {f.name: f.dtype for f in self.event_schema},
            list(self.aggregations), horizon=chosen,
            tile_sizes=tile_sizes if tile_sizes is not None else dict(self.tile_sizes),  # type: ignore[arg-type]
        )

    def _check_features(self, where: str) -> None:
        keys = self.join_keys
        unknown = sorted(set(self.join_key_map) - set(keys))
        if unknown:
            raise DefinitionError(f"{where}: join_key_map names {unknown}, which are not join keys of its "
                                  f"entities ({keys}).")
        taken = {k: "a join key" for k in keys}
        for t in (self.source.timestamp_field, self.source.created_timestamp_field):
            if t:
                taken[t] = "a timestamp column"
        for name in self.feature_names:
            check_name(name, what=f"{where}: feature")
            if name in taken:
                raise DefinitionError(
                    f"{where}: feature '{name}' has the name of {taken[name]}. Name the "
                    "feature with Aggregation(..., name=...) (one window per Aggregation)."
                )
            taken[name] = "another feature"
        _ = self.features  # raises DefinitionError for a function that does not apply to its column's type

    @property
    def join_keys(self) -> list[str]:
        """Join key column names in the events, in entity order."""
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
    def timestamp_field(self) -> str:
        """The event-time column of the source."""
        return self.source.timestamp_field

    @property
    def created_timestamp_field(self) -> Optional[str]:
        """The created-time column of the source, if any."""
        return self.source.created_timestamp_field

    @property
    def source_columns(self) -> list[str]:
        """The source columns the view reads: join keys, timestamps, aggregated columns."""
        stamps = [t for t in (self.timestamp_field, self.created_timestamp_field) if t]
        columns = [*self.join_keys, *stamps, *[f.name for f in self.event_schema]]
        return list(dict.fromkeys(columns))

    @property
    def features(self) -> list[Field]:
        """The features (one per aggregation and window) with their types, in definition order.

        Raises
        ------
        DefinitionError
            When a function does not apply to its column's type (checked on construction).
        """
        types = {f.name: f.dtype for f in self.event_schema}
        result = []
        for agg in self.aggregations:
            where = f"AggregationView '{self.name}': {agg!r}"
            dtype = output_dtype(agg.function, types[agg.column], where)
            result += [Field(name, dtype) for name in agg.output_names()]
        return result

    @property
    def feature_names(self) -> list[str]:
        """Names of the features, in definition order."""
        return [n for agg in self.aggregations for n in agg.output_names()]

    def feature(self, name: str) -> Field:
        """The typed field of one feature.

        Raises
        ------
        DefinitionError
            If the view has no such feature.
        """
        for f in self.features:
            if f.name == name:
                return f
        raise DefinitionError(f"AggregationView '{self.name}' has no feature '{name}'. "
                              f"Its features are: {', '.join(self.feature_names)}.")

    def aggregations_for(self, names: Sequence[str]) -> list[Aggregation]:
        """Aggregations computing exactly the features ``names``, each named as in the view.

        For a training set that asks for some of the view's features only; pass the result to
        :func:`~featurespark.aggregations.window_aggregate_as_of`.

        Raises
        ------
        DefinitionError
            If a name is not a feature of the view.

        Examples
        --------
        >>> from featurespark.definitions import Entity, Field, ManagedSource
        >>> view = AggregationView("v", [Entity("d", join_keys={"d_id": "int64"})], ManagedSource(),
        ...                        [Field("fare", "float64")], [Aggregation("fare", "sum", windows=["1h", "7d"])])
        >>> view.aggregations_for(["fare_sum_7d"])
        [Aggregation(column='fare', function='sum', windows=('7d',), k=None, name='fare_sum_7d')]
        """
        wanted: dict[str, tuple[Aggregation, AggregationWindow]] = {}
        for agg in self.aggregations:
            for name, window in agg.outputs():
                wanted[name] = (agg, window)
        result = []
        for name in names:
            if name not in wanted:
                self.feature(name)  # raises, listing the features
            agg, window = wanted[name]
            result.append(Aggregation(agg.column, agg.function, [window.label], k=agg.k, name=name))
        return result

    def to_dict(self) -> dict[str, Any]:
        """Plain form for the registry (entities by name)."""
        return {
            "name": self.name,
            "entities": [e.name for e in self.entities],
            "source": self.source.to_dict(),
            "event_schema": [f.to_dict() for f in self.event_schema],
            "aggregations": [a.to_dict() for a in self.aggregations],
            "join_key_map": dict(sorted(self.join_key_map.items())),
            "tags": dict(sorted(self.tags.items())),
            "owner": self.owner,
            "description": self.description,
            # Written only for online views, so entries of offline views stay as they were before these keys.
            **({"online": True, "horizon": _label(self.horizon),
                "tile_sizes": {k: _label(v) for k, v in sorted(self.tile_sizes.items())}} if self.online else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], entities: Mapping[str, Entity]) -> AggregationView:
        """Inverse of :meth:`to_dict`, resolving entity names with ``entities``."""
        missing = [e for e in data["entities"] if e not in entities]
        if missing:
            raise DefinitionError(f"AggregationView '{data['name']}' refers to unknown entities {missing}.")
        return cls(
            name=data["name"],
            entities=[entities[e] for e in data["entities"]],
            source=Source.from_dict(data["source"]),
            event_schema=[Field.from_dict(f) for f in data["event_schema"]],
            aggregations=[Aggregation.from_dict(a) for a in data["aggregations"]],
            join_key_map=data.get("join_key_map", {}),
            tags=data.get("tags", {}),
            owner=data.get("owner", ""),
            description=data.get("description", ""),
            online=data.get("online", False),
            horizon=data.get("horizon"),
            tile_sizes=data.get("tile_sizes", {}),
        )


def _duration(value: object, where: str) -> timedelta:
    """A positive duration written like a window (``"1h"``) or as a timedelta; never ``"lifetime"``."""
    if value == LIFETIME:
        raise DefinitionError(f"{where}: 'lifetime' is not a duration; write e.g. '1h' or timedelta(hours=1).")
    micros = parse_window(value, where).micros
    assert micros is not None
    return timedelta(microseconds=micros)


def _label(value: object) -> str:
    return parse_window(value).label

