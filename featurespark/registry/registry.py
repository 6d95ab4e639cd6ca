"""The registry: specs, version history and materialization state, kept in a Delta or Iceberg table.

The registry lives with the data at ``<offline_store.root>/_registry``, so it works the same
on S3 and on local disk. It is an append-only log: every change of an object appends a row
``(kind, name, version, op, spec, diff, applied_at)``; the current state is the newest
version of each object. Writers insert with a MERGE keyed on ``(kind, name, version)``,
so two concurrent ``apply`` calls cannot both write the same version: the table format's optimistic
concurrency rejects the later commit and it is re-planned and retried. The table is Delta, or Iceberg
(``offline_store.format: iceberg``; then it is ``<catalog>.<database>._registry``, in a Hadoop catalog or in the
AWS Glue Data Catalog), through :mod:`featurespark.offline.table_format`.

Per-view materialization state (watermarks) is stored in the same log as ``kind =
"materialization"`` rows, so it gets the same history and the same atomicity.

Reads do not replay the log: after every commit the writer stores the newest row of each object in
a snapshot file beside it (:mod:`featurespark.registry.snapshot`), and :meth:`Registry.state` reads
that file, checks with one file-existence test (in Glue: one ``glue:GetTable``) that the log has no newer
commit, and caches the result by log version. Only a missing or stale snapshot makes it read the whole log
(and rewrite the snapshot).
"""
from __future__ import annotations

import getpass
import json
import logging
from datetime import datetime, timezone
from typing import Any, Iterable, Optional, Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from featurespark._files import HadoopFiles
from featurespark.definitions import AggregationView, Entity, FeatureView
from featurespark.errors import InvalidArgumentError, NotRegisteredError, RegistryError
from featurespark.offline.glue_pointer import GlueTable
from featurespark.offline.layout import TableRef
from featurespark.offline.table_format import table_format as format_of
from featurespark.options import OfflineFormat
from featurespark.registry.diff import Plan
from featurespark.registry.migration import require_migrated
from featurespark.registry.snapshot import is_current, read_snapshot, snapshot_path, to_json
from featurespark.registry.state import (
    MATERIALIZATION,
    RegistryRecord,
    RegistryState,
    fold_records,
    plan_changes,
    records_after,
)
from featurespark.retry import REGISTRY_COMMIT_RETRY, RetryPolicy

logger = logging.getLogger(__name__)

__all__ = ["REGISTRY_SCHEMA", "Registry"]

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


class Registry:
    """Read and change the registry at ``path``.

    Parameters
    ----------
    spark : SparkSession
        Session used for the table's reads and writes.
    path : str
        Location of the registry table (local path or ``s3://``/``s3a://`` URI).
    retry : RetryPolicy, optional
        Retries of commits that lost a race with another writer (re-planned each time).
    table_format : {"delta", "iceberg"}
        Format of the registry table.
    table_name : str, optional
        Its catalog name (``catalog.namespace.table``); required for Iceberg.
    glue : GlueTable, optional
        With an Iceberg registry in the AWS Glue Data Catalog (``iceberg_catalog_type: glue``), the same table as
        Glue knows it: the table is created at ``path`` explicitly, its log version is the number of the
        metadata file Glue points at, and the snapshot check is one ``glue:GetTable``
        (:mod:`featurespark.offline.glue_pointer`). A registry still in the former Hadoop catalog at ``path`` is
        refused until it is migrated (:mod:`featurespark.registry.migration`).

    Examples
    --------
    >>> from featurespark.definitions import Entity
    >>> registry = Registry(spark, str(tmp_path / "_registry"))
    >>> print(registry.plan([Entity("driver", join_keys={"driver_id": "int64"})]).describe())
    + entity driver (create)
    Plan: 1 to create, 0 unchanged.
    >>> registry.apply([Entity("driver", join_keys={"driver_id": "int64"})]).has_changes
    True
    >>> sorted(registry.state().entities)
    ['driver']
    """

    def __init__(self, spark: SparkSession, path: str, *, retry: RetryPolicy = REGISTRY_COMMIT_RETRY,
                 table_format: OfflineFormat = "delta", table_name: Optional[str] = None,
                 glue: Optional[GlueTable] = None) -> None:
        self.spark = spark
        self.path = path
        self.retry = retry
        self._format = format_of(table_format)
        if table_format == "iceberg" and table_name is None:
            raise InvalidArgumentError("An Iceberg registry needs table_name (catalog.namespace.table).")
        if glue is not None and table_format != "iceberg":
            raise InvalidArgumentError("A registry in the Glue Data Catalog (glue=...) is an Iceberg table: pass "
                                       "table_format='iceberg'.")
        self._glue = glue
        self._table = TableRef(path, table_name, create_at_path=glue is not None, glue=glue)
        self._files = HadoopFiles(spark)
        self._cached: Optional[RegistryState] = None

    # ----------------------------------------------------------------- reading
    def records(self) -> list[RegistryRecord]:
        """Every row of the log, oldest first (the whole history; :meth:`state` does not need it).

        The registry holds one row per object version: metadata, not data, so collecting it
        to the driver is intended.
        """
        if not self._exists():
            return []
        return self._read_log(None)

    def _read_log(self, version: Optional[int]) -> list[RegistryRecord]:
        if version is None:
            log = self._format.read(self.spark, self._table)
        else:
            log = self._format.read_log(self.spark, self._table, version)
        rows = log.orderBy("applied_at", "kind", "name", "version")
        # The log is small metadata (one row per change); it is folded on the driver. Everyday reads use the
        # snapshot instead (registry/snapshot.py), so this runs for history and snapshot rebuilds only.
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
        """The current objects and materialization state.

        Served from the cache or the snapshot file when the log has no newer commit (one file
        existence check, or one ``glue:GetTable``); otherwise the log is read and the snapshot rewritten.

        Raises
        ------
        RegistryError
            With ``glue``, when Glue has no registry yet and the former Hadoop catalog's registry is at the path
            (see :mod:`featurespark.registry.migration`).
        """
        cached = self._cached
        if cached is not None and self._is_current(cached):
            return cached
        snapshot = read_snapshot(self._files, self.path)
        if snapshot is not None and self._is_current(snapshot):
            self._cached = snapshot
            return snapshot
        return self.refresh_snapshot()

    def refresh_snapshot(self) -> RegistryState:
        """Rebuild the state from the whole log and rewrite the snapshot file; return the state."""
        if not self._exists():
            self._cached = RegistryState()
            return self._cached
        version = self._latest_version()
        state = fold_records(self._read_log(version), log_version=version)
        self._write_snapshot(state)
        logger.info("Registry state rebuilt from the log at %s (version %d)", self.path, version)
        return state

    def list_entities(self) -> list[Entity]:
        """Registered entities, by name."""
        return [e for _, e in sorted(self.state().entities.items())]

    def list_feature_views(self) -> list[FeatureView]:
        """Registered feature views, by name."""
        return [v for _, v in sorted(self.state().views.items())]

    def list_aggregation_views(self) -> list[AggregationView]:
        """Registered aggregation views, by name."""
        return [v for _, v in sorted(self.state().aggregation_views.items())]

    def get_feature_view(self, name: str) -> FeatureView:
        """One registered feature view.

        Raises
        ------
        NotRegisteredError
            If there is no such view; the message lists the registered ones.
        """
        return self.state().view(name, where=self.path)

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
        objects : iterable of Entity, FeatureView and AggregationView
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
            On duplicate names, unknown entities, an entity defined differently in two places, or a
            feature view and an aggregation view of the same name.
        """
        return plan_changes(self.state(), objects, delete=delete)

    # ----------------------------------------------------------------- writing
    def apply(self, objects: Iterable[object], *, delete: bool = False) -> Plan:
        """Register definitions, recording a new version for every changed object.

        All changes are committed in one Delta transaction: either all land or none.
        A concurrent writer makes the commit fail; the plan is then recomputed and retried.

        Returns
        -------
        Plan
            What was applied.

        Raises
        ------
        RegistryError
            If other writers kept winning the race for the whole retry policy.
        """
        objects = list(objects)
        for attempt in self.retry.attempts():
            state = self.state()
            plan = plan_changes(state, objects, delete=delete)
            if not plan.has_changes:
                return plan
            rows = [
                _record(c.kind, c.name, state.versions.get((c.kind, c.name), 0) + 1, c.op, c.spec, list(c.diff))
                for c in plan.changes
                if c.op != "unchanged"
            ]
            if self._commit(state, rows, attempt):
                logger.info("Applied %d change(s) to the registry at %s", len(rows), self.path)
                return plan
        raise RegistryError(
            f"Could not commit to the registry at {self.path} after {self.retry.max_attempts} attempts: "
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
        for attempt in self.retry.attempts():
            current_state = self.state()
            current = current_state.versions.get((MATERIALIZATION, view), 0)
            if expected_version is not None and current != expected_version:
                raise RegistryError(
                    f"Materialization state of '{view}' moved from version {expected_version} to {current} "
                    "while this run was writing. Another run is materializing the same view; rerun later."
                )
            if self._commit(current_state, [_record(MATERIALIZATION, view, current + 1, "state", state, [])], attempt):
                return current + 1
        raise RegistryError(f"Could not record materialization state of '{view}' at {self.path}.")

    def _exists(self) -> bool:
        if self._format.exists(self.spark, self._table):
            return True
        if self._glue is not None:
            require_migrated(self._files, self.path, self._glue)
        return False

    def _latest_version(self) -> int:
        return self._format.log_version(self.spark, self._table)

    def _is_current(self, state: RegistryState) -> bool:
        return is_current(self._files, self.path, state, self._format.name, glue=self._glue)

    def _commit(self, state: RegistryState, rows: Sequence[RegistryRecord], attempt: int) -> bool:
        """Insert rows unless their (kind, name, version) exist; False on a concurrent commit.

        On success the snapshot is rewritten: from ``state`` plus ``rows`` when this commit directly
        follows the version ``state`` reflects, else from the log.
        """
        new: DataFrame = self.spark.createDataFrame([_row_tuple(r) for r in rows], REGISTRY_SCHEMA)
        if self._glue is not None:
            self._exists()  # a registry left in the Hadoop catalog is refused before Glue gets an empty one
        try:
            self._format.create(self.spark, self._table, REGISTRY_SCHEMA, day_of=None)
            counts = self._format.merge(self.spark, self._table, new, ("kind", "name", "version"), update=False)
        except Exception as exc:  # noqa: BLE001 - narrowed to the format's conflicts just below
            if not self._format.is_conflict(exc):
                raise
            logger.warning("Registry commit attempt %d lost a race (%s); retrying", attempt + 1,
                           type(exc).__name__)
            self._cached = None
            return False
        inserted = counts[0] if counts is not None else 0
        if inserted != len(rows):
            # Another writer committed some of the same versions between our read and our MERGE.
            # The rows we did insert are what we meant to write; re-planning completes the rest.
            logger.warning("Registry commit attempt %d found versions already written; re-planning", attempt + 1)
            self._cached = None
            return False
        version = self._latest_version()
        # A new table is created at version 0 and this MERGE is version 1.
        previous = state.log_version if state.log_version is not None else 0
        if version == previous + 1:
            after = records_after(state, rows)
            after.log_version = version
            self._write_snapshot(after)
        else:
            self.refresh_snapshot()
        return True

    def _numbered_now(self, snapshot: RegistryState) -> bool:
        """Whether ``snapshot``'s log version counts in the log's numbering today. Always so for Delta and a Hadoop
        catalog; in Glue, a snapshot from before the migration (Hadoop numbering) may be ahead of Glue's numbering,
        which restarts: it is then overwritten rather than kept as "newer"."""
        if self._glue is None or snapshot.log_version is None:
            return True
        return snapshot.log_version <= self._latest_version()

    def _write_snapshot(self, state: RegistryState) -> None:
        existing = read_snapshot(self._files, self.path)
        if existing is not None and existing.log_version is not None and state.log_version is not None \
                and existing.log_version > state.log_version and self._numbered_now(existing):
            self._cached = existing if self._is_current(existing) else None
            return  # a later writer already recorded a newer state
        self._files.write_text(snapshot_path(self.path), to_json(state))
        self._cached = state


def _record(kind: str, name: str, version: int, op: str, spec: Optional[dict[str, Any]],
            diff: list[dict[str, Any]]) -> RegistryRecord:
    return RegistryRecord(kind, name, version, op, spec, diff, datetime.now(timezone.utc), _user())


def _row_tuple(r: RegistryRecord) -> tuple[Any, ...]:
    return (
        r.kind,
        r.name,
        r.version,
        r.op,
        None if r.spec is None else json.dumps(r.spec, sort_keys=True, default=str),
        json.dumps(r.diff, default=str) if r.diff else None,
        r.applied_at,
        r.applied_by,
    )


def _user() -> Optional[str]:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in containers without a passwd entry
        return None


