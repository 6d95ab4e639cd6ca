"""The registry's state: the newest row of every object, folded into definitions, and planning.

Spark-free on purpose: the state is rebuilt from the registry's Delta log (Spark) or from its
snapshot file (boto3 or the local file system alone, see :mod:`featurespark.registry.snapshot`),
and a plan is computed from a state and definitions in code.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping, Optional, Sequence

from featurespark.definitions import AggregationView, Entity, FeatureView
from featurespark.definitions.views import AnyView
from featurespark.errors import DefinitionError, NotRegisteredError
from featurespark.registry.diff import Change, Plan, spec_diff

logger = logging.getLogger(__name__)

__all__ = [
    "AGGREGATION_VIEW", "ENTITY", "FEATURE_VIEW", "MATERIALIZATION", "VIEW_KINDS", "RegistryRecord",
    "RegistryState", "fold_records", "plan_changes", "records_after", "view_kind",
]

ENTITY = "entity"
FEATURE_VIEW = "feature_view"
AGGREGATION_VIEW = AggregationView.kind
MATERIALIZATION = "materialization"

#: The view classes by registry kind. Feature views and aggregation views share one namespace: a feature
#: reference ``"name:feature"`` must name one view.
VIEW_KINDS: Mapping[str, type] = {FEATURE_VIEW: FeatureView, AGGREGATION_VIEW: AggregationView}


def view_kind(view: AnyView) -> str:
    """The registry kind of a view: ``feature_view`` or ``aggregation_view``."""
    return AGGREGATION_VIEW if isinstance(view, AggregationView) else FEATURE_VIEW


@dataclass(frozen=True)
class RegistryRecord:
    """One row of the registry log.

    Attributes
    ----------
    kind : str
        ``entity``, ``feature_view``, ``aggregation_view`` or ``materialization``.
    name : str
        The object's name.
    version : int
        1 for the first row of an object, then +1 per change.
    op : str
        ``create``, ``update``, ``delete`` or ``state`` (materialization).
    spec : dict or None
        The object's definition (None for a delete).
    diff : list of dict
        Leaf changes from the previous version.
    applied_at : datetime
        Commit time (UTC).
    applied_by : str or None
        OS user of the writer.
    """

    kind: str
    name: str
    version: int
    op: str
    spec: Optional[dict[str, Any]]
    diff: list[dict[str, Any]]
    applied_at: datetime
    applied_by: Optional[str]


@dataclass
class RegistryState:
    """The newest version of every object, with the live definitions built from them.

    Attributes
    ----------
    entities, views, aggregation_views : dict
        Live entities, feature views and aggregation views by name.
    versions : dict
        Newest version per ``(kind, name)``, deleted objects included (a re-created object goes on
        from there).
    specs : dict
        Spec of every live object per ``(kind, name)``.
    materialization : dict
        Materialization state (watermarks) per view.
    latest : dict
        The newest record per ``(kind, name)``: what a snapshot stores.
    log_version : int or None
        Delta version of the registry log this state reflects (None for an empty registry).
    """

    entities: dict[str, Entity] = field(default_factory=dict)
    views: dict[str, FeatureView] = field(default_factory=dict)
    aggregation_views: dict[str, AggregationView] = field(default_factory=dict)
    versions: dict[tuple[str, str], int] = field(default_factory=dict)
    specs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    materialization: dict[str, dict[str, Any]] = field(default_factory=dict)
    latest: dict[tuple[str, str], RegistryRecord] = field(default_factory=dict)
    log_version: Optional[int] = None

    def view(self, name: str, *, where: str = "the registry") -> FeatureView:
        """A live feature view by name.

        Raises
        ------
        NotRegisteredError
            If there is no such view; the message lists the registered ones.
        """
        if name not in self.views:
            raise NotRegisteredError(
                f"Feature view '{name}' is not registered in {where}. Registered views: "
                f"{', '.join(sorted(self.views)) or '(none)'}. Run `featurespark apply` first."
            )
        return self.views[name]

    @property
    def all_views(self) -> dict[str, AnyView]:
        """Feature views and aggregation views by name (one namespace, see :data:`VIEW_KINDS`)."""
        return {**self.views, **self.aggregation_views}

    def _views_of(self, kind: str) -> dict[str, Any]:
        return self.views if kind == FEATURE_VIEW else self.aggregation_views


def fold_records(records: Iterable[RegistryRecord], *, log_version: Optional[int] = None) -> RegistryState:
    """The state after ``records`` (any order): the newest record of each object wins.

    Examples
    --------
    >>> from datetime import timezone
    >>> now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> spec = {"name": "driver", "join_keys": [{"name": "driver_id", "dtype": "int64", "description": ""}]}
    >>> rows = [RegistryRecord("entity", "driver", 1, "create", spec, [], now, None),
    ...         RegistryRecord("entity", "driver", 2, "delete", None, [], now, None)]
    >>> state = fold_records(rows)
    >>> sorted(state.entities), state.versions[("entity", "driver")]
    ([], 2)
    """
    latest: dict[tuple[str, str], RegistryRecord] = {}
    for r in records:
        key = (r.kind, r.name)
        if key not in latest or r.version > latest[key].version:
            latest[key] = r
    state = RegistryState(latest=latest, log_version=log_version)
    for (kind, name), r in sorted(latest.items()):
        state.versions[(kind, name)] = r.version
        if r.op == "delete" or r.spec is None:
            continue
        if kind == MATERIALIZATION:
            state.materialization[name] = r.spec
        else:
            state.specs[(kind, name)] = r.spec
    for (kind, name), spec in state.specs.items():
        if kind == ENTITY:
            state.entities[name] = Entity.from_dict(spec)
    for (kind, name), spec in state.specs.items():
        if kind in VIEW_KINDS:
            state._views_of(kind)[name] = VIEW_KINDS[kind].from_dict(spec, state.entities)  # type: ignore[attr-defined]
    return state


def plan_changes(state: RegistryState, objects: Iterable[object], *, delete: bool) -> Plan:
    """Compare definitions with a registry state; one :class:`Change` per object.

    Raises
    ------
    DefinitionError
        On duplicate names with different specs, unknown entities, an entity defined differently in
        two places, or a feature view and an aggregation view of the same name.
    """
    wanted: dict[str, dict[str, Any]] = {ENTITY: {}, **{kind: {} for kind in VIEW_KINDS}}
    for obj in objects:
        kinds = [kind for kind, cls in (*VIEW_KINDS.items(), (ENTITY, Entity)) if isinstance(obj, cls)]
        if not kinds:
            raise DefinitionError(f"Cannot apply {obj!r}: only Entity, FeatureView and AggregationView objects "
                                  "are registered.")
        target = wanted[kinds[0]]
        if obj.name in target and target[obj.name] != obj:  # type: ignore[attr-defined]
            raise DefinitionError(
                f"{type(obj).__name__} '{obj.name}' is defined twice with different specs. "  # type: ignore[attr-defined]
                "Names must be unique: rename or remove one of them."
            )
        target[obj.name] = obj  # type: ignore[attr-defined]

    known_entities = dict(wanted[ENTITY])
    if not delete:
        for name, ent in state.entities.items():
            known_entities.setdefault(name, ent)
    for kind in VIEW_KINDS:
        for view in wanted[kind].values():
            _check_view_entities(view, known_entities)
    _check_view_names(state, wanted, delete=delete)

    changes: list[Change] = []
    registered: Mapping[str, Mapping[str, object]] = {ENTITY: state.entities, **{
        kind: state._views_of(kind) for kind in VIEW_KINDS}}
    for kind in (ENTITY, FEATURE_VIEW, AGGREGATION_VIEW):
        for name in sorted(set(wanted[kind]) | set(registered[kind])):
            old = state.specs.get((kind, name))
            if name in wanted[kind]:
                new = wanted[kind][name].to_dict()
                if old is None:
                    changes.append(Change(kind, name, "create", spec=new))
                else:
                    diff = spec_diff(old, new)
                    changes.append(Change(kind, name, "update" if diff else "unchanged", tuple(diff), new))
            elif delete:
                changes.append(Change(kind, name, "delete"))
            else:
                changes.append(Change(kind, name, "unchanged", spec=old))
    # A view's watermark goes with it: a deleted view, or a new view reusing a name whose state was
    # left behind, must not start from an old watermark.
    for change in [c for c in changes if c.kind == FEATURE_VIEW and c.op in ("create", "delete")]:
        if change.name in state.materialization:
            changes.append(Change(MATERIALIZATION, change.name, "delete"))
    return Plan(tuple(changes))


def _check_view_entities(view: AnyView, known: Mapping[str, Entity]) -> None:
    kind = type(view).__name__
    for ent in view.entities:
        if ent.name not in known:
            raise DefinitionError(
                f"{kind} '{view.name}' uses entity '{ent.name}', which is neither in the applied "
                "definitions nor registered. Add the Entity to the definitions you apply."
            )
        if known[ent.name] != ent:
            raise DefinitionError(
                f"{kind} '{view.name}' uses entity '{ent.name}' with a different definition from the "
                "one being applied or registered. Use the same Entity object everywhere."
            )


def _check_view_names(state: RegistryState, wanted: Mapping[str, Mapping[str, Any]], *, delete: bool) -> None:
    """Refuse a feature view and an aggregation view of one name, applied or left registered."""
    after = {}
    for kind in VIEW_KINDS:
        names = set(wanted[kind]) if delete else set(wanted[kind]) | set(state._views_of(kind))
        after[kind] = names
    clash = sorted(after[FEATURE_VIEW] & after[AGGREGATION_VIEW])
    if clash:
        name = clash[0]
        where = {kind: "applied" if name in wanted[kind] else "registered" for kind in VIEW_KINDS}
        raise DefinitionError(
            f"'{name}' names both a feature view ({where[FEATURE_VIEW]}) and an aggregation view "
            f"({where[AGGREGATION_VIEW]}). Feature references 'view:feature' need one view per name: rename one "
            "of them (or delete the registered one with apply(..., delete=True))."
        )


def records_after(state: RegistryState, rows: Sequence[RegistryRecord]) -> RegistryState:
    """The state after appending ``rows`` to the log ``state`` was folded from."""
    return fold_records([*state.latest.values(), *rows], log_version=state.log_version)
