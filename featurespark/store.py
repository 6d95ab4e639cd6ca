"""The :class:`FeatureStore` facade: one object tying config, registry and stores together."""
from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Optional, Union

import pandas as pd
from pyspark.sql import DataFrame, SparkSession

from featurespark.config import Config, load_config
from featurespark.definitions import DeltaSource, Entity, FeatureView, ManagedSource
from featurespark.errors import InvalidArgumentError, NotRegisteredError, SourceSchemaError
from featurespark.offline.sources import (
    check_source_schema,
    ensure_managed_table,
    managed_table_name,
    managed_table_path,
    read_source,
)
from featurespark.offline.time_travel import VersionedRead, read_delta
from featurespark.offline.writer import OnInvalid, WriteMode, WriteSummary, write_features
from featurespark.registry import Plan, Registry

logger = logging.getLogger(__name__)


class FeatureStore:
    """Entry point of the library.

    Parameters
    ----------
    spark : SparkSession
        The session to use; featurespark never creates or reconfigures one.
    config : Config or str or Path
        A loaded config or the path of a YAML config file.

    Examples
    --------
    >>> store = FeatureStore(spark, "conf/local.yaml")  # doctest: +SKIP
    >>> store.apply([driver, driver_hourly_stats])  # doctest: +SKIP
    """

    def __init__(self, spark: SparkSession, config: Union[Config, str, Path]) -> None:
        self.spark = spark
        self.config = config if isinstance(config, Config) else load_config(config)
        self.registry = Registry(spark, self.config.offline_store.registry_path)

    # ------------------------------------------------------------ definitions
    def plan(self, objects: Iterable[object], *, delete: bool = False) -> Plan:
        """Show what :meth:`apply` would change; writes nothing.

        Sources are checked too, so a plan that succeeds is one apply accepts.
        """
        objects = list(objects)
        plan = self.registry.plan(objects, delete=delete)
        self._check_sources(plan, objects)
        return plan

    def apply(self, objects: Iterable[object], *, delete: bool = False) -> Plan:
        """Register entities and feature views (create or update; delete only with ``delete=True``).

        Every created or changed view is checked against its source first (join keys, timestamp
        columns and features exist with compatible types); any problem raises before the
        registry is written. Managed views get their Delta table created.

        Raises
        ------
        DefinitionError, SourceSchemaError
            Bad definitions or sources; the registry is left unchanged.
        """
        objects = list(objects)
        plan = self.plan(objects, delete=delete)
        if not plan.has_changes:
            logger.info("Registry is up to date")
            return plan
        applied = self.registry.apply(objects, delete=delete)
        for obj in objects:
            if isinstance(obj, FeatureView) and isinstance(obj.source, ManagedSource):
                ensure_managed_table(self.spark, obj, self.config.offline_store)
        return applied

    def _check_sources(self, plan: Plan, objects: list[object]) -> None:
        changed = {c.name for c in plan.changes if c.kind == "feature_view" and c.op in ("create", "update")}
        for obj in objects:
            if not isinstance(obj, FeatureView) or obj.name not in changed:
                continue
            if isinstance(obj.source, ManagedSource):
                if not self._managed_table_exists(obj):
                    continue  # created by apply from the definition itself
            try:
                df = read_source(self.spark, obj, self.config.offline_store)
            except SourceSchemaError:
                raise
            except Exception as exc:  # noqa: BLE001  # Spark raises many types for unreadable paths and tables
                raise SourceSchemaError(
                    f"FeatureView '{obj.name}': cannot read its source ({obj.source.describe()}): "
                    f"{_first_line(exc)}. Check the path, table or query."
                ) from exc
            check_source_schema(obj, df)

    def _managed_table_exists(self, view: FeatureView) -> bool:
        from delta.tables import DeltaTable

        return bool(DeltaTable.isDeltaTable(self.spark, managed_table_path(self.config.offline_store, view)))

    # ------------------------------------------------------------ offline store
    def _view(self, view: Union[str, FeatureView]) -> FeatureView:
        return view if isinstance(view, FeatureView) else self.registry.get_feature_view(view)

    def write_features(
        self,
        view: Union[str, FeatureView],
        df: Union[DataFrame, pd.DataFrame],
        *,
        mode: WriteMode = "append",
        on_invalid: OnInvalid = "fail",
    ) -> WriteSummary:
        """Validate and write rows into a managed view's Delta table.

        See :func:`featurespark.offline.writer.write_features` for the rules.

        Examples
        --------
        >>> store.write_features("driver_hourly_stats", pdf, mode="upsert").line()  # doctest: +SKIP
        'driver_hourly_stats (upsert): 24 rows in, 24 written, 0 updated, ...'
        """
        return write_features(self.spark, self._view(view), df, self.config.offline_store, mode=mode,
                              on_invalid=on_invalid)

    def read_features(
        self,
        view: Union[str, FeatureView],
        *,
        version: Optional[int] = None,
        as_of: Optional[datetime] = None,
    ) -> VersionedRead:
        """Read a view's rows, optionally as of a Delta version or a time, with the version read.

        Works for managed views and Delta sources. ``as_of`` without a time zone is read as UTC.

        Raises
        ------
        TimeTravelError
            If the version or time is outside the table's history.
        InvalidArgumentError
            For sources without versions (Parquet, tables, queries).
        """
        fv = self._view(view)
        if isinstance(fv.source, ManagedSource):
            path = managed_table_path(self.config.offline_store, fv)
        elif isinstance(fv.source, DeltaSource):
            path = fv.source.path
        else:
            raise InvalidArgumentError(
                f"Feature view '{fv.name}' reads from {fv.source.describe()}, which has no versions; "
                "only managed views and Delta sources can be read as of a version or time."
            )
        return read_delta(self.spark, path, version=version, as_of=as_of)

    def list_entities(self) -> list[Entity]:
        """Registered entities."""
        return self.registry.list_entities()

    def list_feature_views(self) -> list[FeatureView]:
        """Registered feature views."""
        return self.registry.list_feature_views()

    def get_feature_view(self, name: str) -> FeatureView:
        """A registered feature view by name."""
        return self.registry.get_feature_view(name)

    def describe(self, name: str) -> dict[str, Any]:
        """Spec, version and storage of a registered entity or feature view."""
        state = self.registry.state()
        for kind in ("feature_view", "entity"):
            if (kind, name) in state.specs:
                out: dict[str, Any] = {
                    "kind": kind,
                    "version": state.versions[(kind, name)],
                    "spec": state.specs[(kind, name)],
                }
                if kind == "feature_view" and isinstance(state.views[name].source, ManagedSource):
                    out["table"] = managed_table_name(self.config.offline_store, state.views[name])
                    out["location"] = managed_table_path(self.config.offline_store, state.views[name])
                if name in state.materialization:
                    out["materialization"] = state.materialization[name]
                return out
        known = sorted(state.views) + sorted(state.entities)
        raise NotRegisteredError(f"'{name}' is not registered. Registered objects: {', '.join(known) or '(none)'}.")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
