"""Apply service: plan and register definitions, and create the tables they need.

``plan`` compares definitions with the registry and reads every changed view's source to check it
(join keys, timestamps and features, or an aggregation view's event columns, exist with compatible
types), so a plan that succeeds is one ``apply`` accepts. ``apply`` then creates the managed Delta
tables and the DynamoDB tables, and only then commits the registry.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import Iterable, Sequence

from pyspark.sql import SparkSession

from featurespark.config import Config, online_region
from featurespark.definitions import AggregationView, FeatureView, ManagedSource
from featurespark.definitions.views import AnyView
from featurespark.errors import InvalidArgumentError, SourceSchemaError
from featurespark.log_store import ensure_log_store_table
from featurespark.offline.sources import check_source_schema, read_source
from featurespark.offline.table_format import table_format
from featurespark.offline.tables import ensure_managed_table, plan_table_evolution
from featurespark.registry import Plan, Registry
from featurespark.registry.state import VIEW_KINDS, RegistryState, view_kind
from featurespark.services.locations import managed_table_of, online_table_name, read_table_of, redshift_for
from featurespark.services.materialize import ensure_online_tables

logger = logging.getLogger(__name__)

__all__ = ["apply", "check_sources", "create_tables", "plan"]


def plan(spark: SparkSession, config: Config, registry: Registry, objects: Iterable[object], *,
         delete: bool = False, drop_data: bool = False) -> Plan:
    """What :func:`apply` would change; writes nothing. Changed views' sources are checked too.

    The plan's ``storage`` lines say what happens to tables: columns added to or kept in managed
    tables, and for deleted views whether their tables are kept (the default) or dropped.

    Raises
    ------
    DefinitionError, SourceSchemaError
        Bad definitions, or a source that does not fit its view.
    """
    objects = list(objects)
    result = registry.plan(objects, delete=delete)
    storage = check_sources(spark, config, result, objects)
    storage += _deleted_storage(config, registry.state(), result, drop_data=drop_data)
    return replace(result, storage=tuple(storage)) if storage else result


def apply(spark: SparkSession, config: Config, registry: Registry, objects: Iterable[object], *,
          delete: bool = False, drop_data: bool = False) -> Plan:
    """Register entities, feature views and aggregation views and make sure the feature views' tables exist.

    Everything is validated first (definitions, sources), then the tables of every applied view are
    created or checked (the DynamoDB table of Delta's S3 log store when the offline root is on S3,
    managed Delta tables; DynamoDB tables with ``online_store.manage_tables``),
    and only then is the registry committed. A failure leaves the registry as it was, and applying
    the same definitions again converges: tables missing since (a failed earlier apply, a table
    deleted by hand) are created even when the registry has nothing to change.

    An aggregation view owns a DynamoDB table only with ``online=True`` (created like a feature view's,
    with the same key schema); its events stay in its source.

    Views deleted with ``delete=True`` keep their data (Delta table, quarantine table, DynamoDB
    table) unless ``drop_data=True``, which drops them before the registry forgets the view (a
    failure in between leaves the view registered, and the same call completes the work).

    Returns
    -------
    Plan
        What was applied (no changes when the registry was up to date).

    Raises
    ------
    DefinitionError, SourceSchemaError
        Bad definitions or sources; nothing was written.
    OnlineStoreError
        A DynamoDB table could not be created or checked; the registry was not changed.
    """
    objects = list(objects)
    # Before any Delta commit: with an offline root on S3, every commit goes through this table.
    log_table = ensure_log_store_table(config)
    if log_table:
        logger.info("Delta log store table: %s (DynamoDB)", log_table)
    result = plan(spark, config, registry, objects, delete=delete, drop_data=drop_data)
    create_tables(spark, config, [o for o in objects if isinstance(o, (FeatureView, AggregationView))])
    if not result.has_changes:
        logger.info("Registry is up to date")
        return result
    if drop_data:
        state = registry.state()
        for change in result.changes:
            if change.kind in VIEW_KINDS and change.op == "delete" and change.name in state.all_views:
                drop_view_data(spark, config, state.all_views[change.name])
    applied = registry.apply(objects, delete=delete)
    return replace(applied, storage=result.storage)


def drop_unregistered_data(spark: SparkSession, config: Config, registry: Registry, name: str) -> list[str]:
    """Drop the tables a deleted view left behind (kept by ``apply(delete=True)``): the managed Delta and
    quarantine tables and the DynamoDB table that a view named ``name`` would use.

    Raises
    ------
    InvalidArgumentError
        If ``name`` is a registered view: delete it first (``apply(..., delete=True, drop_data=True)``).
    """
    from featurespark.definitions import Entity, Field

    if name in registry.state().all_views:
        raise InvalidArgumentError(
            f"'{name}' is a registered view; its data is dropped with the view: remove it from the "
            "definitions and run `featurespark apply --delete --drop-data --yes`."
        )
    # The tables' names and places depend only on the view's name: a stand-in view finds them.
    stand_in = FeatureView(name=name, entities=[Entity("_any", join_keys={"_key": "string"})],
                           schema=[Field("_value", "string")])
    return drop_view_data(spark, config, stand_in)


def _deleted_storage(config: Config, state: RegistryState, result: Plan, *, drop_data: bool) -> list[str]:
    lines = []
    for change in result.changes:
        if change.kind not in VIEW_KINDS or change.op != "delete" or change.name not in state.all_views:
            continue
        view = state.all_views[change.name]
        verb = "drop" if drop_data else "keep"
        managed = False
        if isinstance(view, FeatureView) and isinstance(view.source, ManagedSource):
            managed = True
            table = managed_table_of(config, view)
            lines.append(f"{verb} {table_format(table.format).title} table {table.name} at {table.path} and quarantine table "
                         f"{table.quarantine_name}")
        if view.online:
            lines.append(f"{verb} DynamoDB table {online_table_name(config, view)}")
        if not drop_data and (managed or view.online):
            lines.append(f"  (drop them with drop_data=True, `featurespark apply --delete --drop-data --yes`, or later "
                         f"`featurespark drop-data {view.name} --yes`; a new view named '{view.name}' reuses kept "
                         "tables whose columns fit it)")
    return lines


def drop_view_data(spark: SparkSession, config: Config, view: AnyView) -> list[str]:
    """Drop a view's stored data: a feature view's managed and quarantine tables (metastore entries and
    files, in the offline store's format) and its DynamoDB table (an aggregation view's too; its source is
    never dropped). Returns what was dropped; missing tables are skipped."""
    from featurespark.online.client import dynamodb_client
    from featurespark.online.tables import delete_table

    dropped = []
    if isinstance(view, FeatureView) and isinstance(view.source, ManagedSource):
        table = managed_table_of(config, view)
        fmt = table_format(table.format)
        for ref in (table.ref, table.quarantine_ref):
            if fmt.drop(spark, ref):
                dropped.append(f"{ref.name} ({ref.path})")
    if view.online:
        cfg = config.online_store
        name = online_table_name(config, view)
        delete_table(dynamodb_client(region=online_region(config), endpoint_url=cfg.endpoint_url), name)
        dropped.append(f"DynamoDB table {name}")
    logger.warning("Dropped the data of view '%s': %s", view.name, ", ".join(dropped) or "nothing was stored")
    return dropped


def create_tables(spark: SparkSession, config: Config, views: Sequence[AnyView]) -> None:
    """Create (or check) the managed Delta tables of feature views and, with ``manage_tables``, the DynamoDB
    tables of online feature and aggregation views."""
    for view in views:
        if isinstance(view, FeatureView) and isinstance(view.source, ManagedSource):
            ensure_managed_table(spark, view, managed_table_of(config, view))
    if config.online_store.manage_tables:
        ensure_online_tables(config, views)


def check_sources(spark: SparkSession, config: Config, result: Plan, objects: Sequence[object]) -> list[str]:
    """Read and check the source of every created or updated view (feature or aggregation view) of a plan.

    A managed view whose table exists is compared with the table instead: added features become
    added columns, removed ones are kept in the table (see
    :func:`featurespark.offline.tables.plan_table_evolution`).

    Returns
    -------
    list of str
        What applying the plan does to existing managed tables, for the plan's description.

    Raises
    ------
    SourceSchemaError
        Naming the view, its source and every mismatch (or why the source cannot be read).
    DefinitionError
        For an aggregation view with a ``ManagedSource`` (it owns no table to read).
    """
    changed = {(c.kind, c.name) for c in result.changes if c.kind in VIEW_KINDS and c.op in ("create", "update")}
    storage: list[str] = []
    for obj in objects:
        if not isinstance(obj, (FeatureView, AggregationView)) or (view_kind(obj), obj.name) not in changed:
            continue
        managed = read_table_of(config, obj)
        if managed is not None and isinstance(obj, FeatureView):
            fmt = table_format(managed.format)
            if fmt.exists(spark, managed.ref):
                storage += plan_table_evolution(obj, fmt.schema(spark, managed.ref), managed.name,
                                                table_format=managed.format).describe()
            continue  # a missing table is created by apply from the definition itself
        try:
            df = read_source(spark, obj, managed=managed, redshift=redshift_for(config, obj))
        except SourceSchemaError:
            raise
        except Exception as exc:  # noqa: BLE001  # Spark raises many types for unreadable paths and tables
            raise SourceSchemaError(
                f"{type(obj).__name__} '{obj.name}': cannot read its source ({obj.source.describe()}): "
                f"{_first_line(exc)}. Check the path, table or query."
            ) from exc
        check_source_schema(obj, df)
    return storage


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
