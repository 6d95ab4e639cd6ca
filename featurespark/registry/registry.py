"""The registry: specs, version history and materialization state, kept in a Delta table.

The registry lives with the data at ``<offline_store.root>/_registry``, so it works the same
on S3 and on local disk. It is an append-only log: every change of an object appends a row
``(kind, name, version, op, spec, diff, applied_at)``; the current state is the newest
version of each object. Writers insert with a Delta MERGE keyed on ``(kind, name, version)``,
so two concurrent ``apply`` calls cannot both write the same version: Delta's optimistic
concurrency rejects the later commit and it is re-planned and retried.

Per-view materialization state (watermarks) is stored in the same log as ``kind =
"materialization"`` rows, so it gets the same history and the same atomicity.
"""
from __future__ import annotations

import getpass
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Optional, Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from featurespark._compat import execute_merge
from featurespark._delta import is_conflict
from featurespark.definitions import Entity, FeatureView
from featurespark.errors import DefinitionError, NotRegisteredError, RegistryError
from featurespark.registry.diff import Change, Plan, spec_diff

logger = logging.getLogger(__name__)

ENTITY = "entity"
FEATURE_VIEW = "feature_view"
MATERIALIZATION = "materialization"

REGISTRY_SCHEMA = T.StructType(
    [
        T.StructField("kind", T.StringType(), False),
        T.StructField("name", T.StringType(), False),
        T.StructField("version", T.LongType(), False),
        T.StructField("op", T.StringType(), False),
        T.StructField("spec", T.StringType(), True),
        T.StructField("diff", T.StringType(), True),
        T.StructField("applied_at", T.TimestampType(), False),
        T.StructField("applied_by", T.StringType(), True),
    ]
)

_MAX_COMMIT_ATTEMPTS = 5


@dataclass(frozen=True)
class RegistryRecord:
    """One row of the registry log."""

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
    """The newest version of every live object."""

    entities: dict[str, Entity] = field(default_factory=dict)
    views: dict[str, FeatureView] = field(default_factory=dict)
    versions: dict[tuple[str, str], int] = field(default_factory=dict)
    specs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    materialization: dict[str, dict[str, Any]] = field(default_factory=dict)


class Registry:
    """Read and change the registry at ``path``.

    Parameters
    ----------
    spark : SparkSession
        Session used for the Delta reads and writes.
    path : str
        Location of the registry Delta table (local path or ``s3a://`` URI).

    Examples
    --------
    >>> registry = Registry(spark, "/data/offline/_registry")  # doctest: +SKIP
    >>> print(registry.plan([driver, driver_stats]).describe())  # doctest: +SKIP
    + entity driver (create)
    + feature_view driver_stats (create)
    Plan: 2 to create, 0 unchanged.
    """

    def __init__(self, spark: SparkSession, path: str) -> None:
        self.spark = spark
        self.path = path

    # ----------------------------------------------------------------- reading
    def records(self) -> list[RegistryRecord]:
        """Every row of the log, oldest first.

        The registry holds one row per object version: metadata, not data, so collecting it
        to the driver is intended.
        """
        if not self._exists():
            return []
        rows = self.spark.read.format("delta").load(self.path).orderBy("applied_at", "kind", "name", "version")
        return [
            RegistryRecord(
                kind=r["kind"],
                name=r["name"],
                version=int(r["version"]),
                op=r["op"],
                spec=json.loads(r["spec"]) if r["spec"] else None,
                diff=json.loads(r["diff"]) if r["diff"] else [],
                applied_at=r["applied_at"].astimezone(timezone.utc),
                applied_by=r["applied_by"],
            )
            for r in rows.collect()
        ]

    def state(self) -> RegistryState:
        """The current objects and materialization state."""
        return _fold(self.records())

    def list_entities(self) -> list[Entity]:
        """Registered entities, by name."""
        return [e for _, e in sorted(self.state().entities.items())]

    def list_feature_views(self) -> list[FeatureView]:
        """Registered feature views, by name."""
        return [v for _, v in sorted(self.state().views.items())]

    def get_feature_view(self, name: str) -> FeatureView:
        """One registered feature view.

        Raises
        ------
        NotRegisteredError
            If there is no such view; the message lists the registered ones.
        """
        views = self.state().views
        if name not in views:
            raise NotRegisteredError(
                f"Feature view '{name}' is not registered at {self.path}. Registered views: "
                f"{', '.join(sorted(views)) or '(none)'}. Run `featurespark apply` first."
            )
        return views[name]

    def get_entity(self, name: str) -> Entity:
        """One registered entity (see :meth:`get_feature_view`)."""
        entities = self.state().entities
        if name not in entities:
            raise NotRegisteredError(
                f"Entity '{name}' is not registered at {self.path}. Registered entities: "
                f"{', '.join(sorted(entities)) or '(none)'}."
            )
        return entities[name]

    def history(self, name: Optional[str] = None, kind: Optional[str] = None) -> list[RegistryRecord]:
        """Versions of objects, oldest first, optionally for one name and/or kind."""
        return [
            r for r in self.records() if (name is None or r.name == name) and (kind is None or r.kind == kind)
        ]

    def materialization_state(self, view: str) -> Optional[dict[str, Any]]:
        """The last stored materialization state of a view (for example its watermark)."""
        return self.state().materialization.get(view)

    # ----------------------------------------------------------------- planning
    def plan(self, objects: Iterable[object], *, delete: bool = False) -> Plan:
        """Compare definitions with the registry; write nothing.

        Parameters
        ----------
        objects : iterable of Entity and FeatureView
            The complete set of definitions (typically a feature repo).
        delete : bool
            Whether registered objects missing from ``objects`` are to be deleted. Without it
            they are kept and reported as unchanged.

        Returns
        -------
        Plan

        Raises
        ------
        DefinitionError
            On duplicate names, unknown entities, or an entity defined differently in two places.
        """
        return _plan(self.state(), objects, delete=delete)

    # ----------------------------------------------------------------- writing
    def apply(self, objects: Iterable[object], *, delete: bool = False) -> Plan:
        """Register definitions, recording a new version for every changed object.

        All changes are committed in one Delta transaction: either all land or none.
        A concurrent writer makes the commit fail; the plan is then recomputed and retried.

        Returns
        -------
        Plan
            What was applied.
        """
        objects = list(objects)
        for attempt in range(1, _MAX_COMMIT_ATTEMPTS + 1):
            state = self.state()
            plan = _plan(state, objects, delete=delete)
            if not plan.has_changes:
                return plan
            rows = [
                _row(c.kind, c.name, state.versions.get((c.kind, c.name), 0) + 1, c.op, c.spec, list(c.diff))
                for c in plan.changes
                if c.op != "unchanged"
            ]
            if self._commit(rows, attempt):
                logger.info("Applied %d change(s) to the registry at %s", len(rows), self.path)
                return plan
        raise RegistryError(
            f"Could not commit to the registry at {self.path} after {_MAX_COMMIT_ATTEMPTS} attempts: "
            "other writers kept changing it. Retry when they are done."
        )

    def set_materialization_state(
        self, view: str, state: dict[str, Any], *, expected_version: Optional[int] = None
    ) -> int:
        """Record new materialization state for a view; return its new version.

        Parameters
        ----------
        view : str
            The feature view.
        state : dict
            JSON-serialisable state, e.g. ``{"watermark": "2026-01-01T00:00:00+00:00"}``.
        expected_version : int, optional
            Fail instead of overwriting when another run has moved the state meanwhile.

        Raises
        ------
        RegistryError
            If the state moved concurrently (``expected_version`` given) or the commit keeps failing.
        """
        for attempt in range(1, _MAX_COMMIT_ATTEMPTS + 1):
            current = self.state().versions.get((MATERIALIZATION, view), 0)
            if expected_version is not None and current != expected_version:
                raise RegistryError(
                    f"Materialization state of '{view}' moved from version {expected_version} to {current} "
                    "while this run was writing. Another run is materializing the same view; rerun later."
                )
            if self._commit([_row(MATERIALIZATION, view, current + 1, "state", state, [])], attempt):
                return current + 1
        raise RegistryError(f"Could not record materialization state of '{view}' at {self.path}.")

    def _exists(self) -> bool:
        from delta.tables import DeltaTable

        return bool(DeltaTable.isDeltaTable(self.spark, self.path))

    def _commit(self, rows: Sequence[tuple[Any, ...]], attempt: int) -> bool:
        """Insert rows unless their (kind, name, version) exist; False on a concurrent commit."""
        from delta.tables import DeltaTable

        new: DataFrame = self.spark.createDataFrame(list(rows), REGISTRY_SCHEMA)
        try:
            table = (
                DeltaTable.createIfNotExists(self.spark).location(self.path).addColumns(REGISTRY_SCHEMA).execute()
            )
            metrics = execute_merge(
                table,
                table.alias("r")
                .merge(
                    new.alias("n"),
                    (F.col("r.kind") == F.col("n.kind"))
                    & (F.col("r.name") == F.col("n.name"))
                    & (F.col("r.version") == F.col("n.version")),
                )
                .whenNotMatchedInsertAll(),
            )
        except Exception as exc:  # noqa: BLE001 - narrowed to Delta's conflicts just below
            if not is_conflict(exc):
                raise
            logger.warning("Registry commit attempt %d lost a race (%s); retrying", attempt, type(exc).__name__)
            time.sleep(0.2 * attempt)
            return False
        inserted = int(metrics["num_inserted_rows"]) if metrics is not None else 0
        if inserted != len(rows):
            # Another writer committed some of the same versions between our read and our MERGE.
            # The rows we did insert are what we meant to write; re-planning completes the rest.
            logger.warning("Registry commit attempt %d found versions already written; re-planning", attempt)
            return False
        return True


def _row(kind: str, name: str, version: int, op: str, spec: Optional[dict[str, Any]],
         diff: list[dict[str, Any]]) -> tuple[Any, ...]:
    return (
        kind,
        name,
        version,
        op,
        None if spec is None else json.dumps(spec, sort_keys=True, default=str),
        json.dumps(diff, default=str) if diff else None,
        datetime.now(timezone.utc),
        _user(),
    )


def _user() -> Optional[str]:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in containers without a passwd entry
        return None


def _fold(records: Sequence[RegistryRecord]) -> RegistryState:
    state = RegistryState()
    latest: dict[tuple[str, str], RegistryRecord] = {}
    for r in records:
        key = (r.kind, r.name)
        if key not in latest or r.version > latest[key].version:
            latest[key] = r
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


def _plan(state: RegistryState, objects: Iterable[object], *, delete: bool) -> Plan:
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
    for kind, wanted, registered in (
        (ENTITY, entities, state.entities),
        (FEATURE_VIEW, views, state.views),
    ):
        for name in sorted(set(wanted) | set(registered)):
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
    return Plan(tuple(changes))
