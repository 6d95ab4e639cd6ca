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

from featurespark.definitions import Entity, FeatureView
from featurespark.errors import DefinitionError, NotRegisteredError
from featurespark.registry.diff import Change, Plan, spec_diff

logger = logging.getLogger(__name__)

__all__ = [
    "ENTITY", "FEATURE_VIEW", "MATERIALIZATION", "RegistryRecord", "RegistryState", "fold_records",
    "plan_changes", "records_after",
]

ENTITY = "entity"
FEATURE_VIEW = "feature_view"
MATERIALIZATION = "materialization"


@dataclass(frozen=True)
class RegistryRecord:
    """One row of the registry log.

    Attributes
    ----------
    kind : str
        ``entity``, ``feature_view`` or ``materialization``.
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
    entities, views : dict
        Live entities and feature views by name.
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
        if kind == FEATURE_VIEW:
            state.views[name] = FeatureView.from_dict(spec, state.entities)
    return state


def plan_changes(state: RegistryState, objects: Iterable[object], *, delete: bool) -> Plan:
    """Compare definitions with a registry state; one :class:`Change` per object.

    Raises
    ------
    DefinitionError
        On duplicate names with different specs, unknown entities, or an entity defined
        differently in two places.
    """
    entities: dict[str, Entity] = {}
    views: dict[str, FeatureView] = {}
    for obj in objects:
        if isinstance(obj, Entity):
            target: dict[str, Any] = entities
        elif isinstance(obj, FeatureView):
            target = views
        else:
            raise DefinitionError(f"Cannot apply {obj!r}: only Entity and FeatureView objects are registered.")
        if obj.name in target and target[obj.name] != obj:
            raise DefinitionError(
                f"{type(obj).__name__} '{obj.name}' is defined twice with different specs. "
                "Names must be unique: rename or remove one of them."
            )
        target[obj.name] = obj

    known_entities = dict(entities)
    if not delete:
        for name, ent in state.entities.items():
            known_entities.setdefault(name, ent)
    for view in views.values():
        for ent in view.entities:
            if ent.name not in known_entities:
                raise DefinitionError(
                    f"FeatureView '{view.name}' uses entity '{ent.name}', which is neither in the applied "
                    "definitions nor registered. Add the Entity to the definitions you apply."
                )
            if known_entities[ent.name] != ent:
                raise DefinitionError(
                    f"FeatureView '{view.name}' uses entity '{ent.name}' with a different definition from the "
                    "one being applied or registered. Use the same Entity object everywhere."
                )

    changes: list[Change] = []
    registered: Mapping[str, Mapping[str, object]] = {ENTITY: state.entities, FEATURE_VIEW: state.views}
    for kind, wanted in ((ENTITY, entities), (FEATURE_VIEW, views)):
        for name in sorted(set(wanted) | set(registered[kind])):
            old = state.specs.get((kind, name))
            if name in wanted:
                new = wanted[name].to_dict()
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


def records_after(state: RegistryState, rows: Sequence[RegistryRecord]) -> RegistryState:
    """The state after appending ``rows`` to the log ``state`` was folded from."""
    return fold_records([*state.latest.values(), *rows], log_version=state.log_version)
