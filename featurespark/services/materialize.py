"""Materialize service: registered views' latest values from the offline store into DynamoDB.

- :func:`ensure_online_tables`: one table per online view (created on ``apply``, or checked).
- :func:`materialize_views`: the latest row per key with ``start <= event_ts < end`` of each feature
  view, pushed with the ``foreachPartition`` writer; the tiled items of each online aggregation view,
  rebuilt as of ``end`` (:func:`featurespark.services.online_aggregates.materialize_aggregation_view`).
- :func:`materialize_incremental`: from each view's watermark in the registry to ``end``; the
  watermark moves only after every write of that view succeeded.
- :func:`push_latest`: the latest row per key of any frame of a view's rows (streaming and push).
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping, Optional, Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from featurespark.config import Config, online_region
from featurespark.definitions import AggregationView, FeatureView, ManagedSource
from featurespark.definitions.views import AnyView
from featurespark.errors import InvalidArgumentError
from featurespark.offline.sources import read_source
from featurespark.online.client import dynamodb_client
from featurespark.online.materialize import OnlineWriteSummary, latest_per_key, write_online
from featurespark.online.tables import check_table, ensure_table
from featurespark.options import OnlineWriteMode, check_option
from featurespark.registry import Registry
from featurespark.services.locations import managed_table_of, online_table_name, redshift_for
from featurespark.services.online_aggregates import materialize_aggregation_view

logger = logging.getLogger(__name__)

__all__ = [
    "MAX_CONCURRENT_VIEWS", "TABLE_CREATED_AT", "WATERMARK", "ensure_online_tables", "materialize_incremental", "materialize_view", "materialize_views",
    "push_latest",
]

WATERMARK = "watermark"


def ensure_online_tables(config: Config, views: Sequence[AnyView]) -> dict[str, dict[str, Any]]:
    """Create (with ``online_store.manage_tables``) or check the DynamoDB table of every online view
    (feature views and aggregation views: both tables have the same key schema).

    Returns
    -------
    dict
        View name to the table's description (``DescribeTable``'s ``Table``, with ``CreationDateTime``).

    Raises
    ------
    TableNotFoundError
        Without ``manage_tables``, when a table does not exist.
    TableSchemaError, OnlineStoreError
        A table with another key schema, or DynamoDB refused the call.
    """
    online = [v for v in views if v.online]
    if not online:
        return {}
    cfg = config.online_store
    client = dynamodb_client(region=online_region(config), endpoint_url=cfg.endpoint_url)
    described = {}
    for view in online:
        name = online_table_name(config, view)
        ttl_enabled = isinstance(view, FeatureView) and view.ttl is not None  # aggregation items never expire
        if cfg.manage_tables:
            described[view.name] = ensure_table(
                client, name, billing_mode=cfg.billing_mode,
                read_capacity=cfg.read_capacity_units if cfg.billing_mode == "PROVISIONED" else None,
                write_capacity=cfg.write_capacity_units if cfg.billing_mode == "PROVISIONED" else None,
                tags=cfg.tags or None, ttl_enabled=ttl_enabled,
            )
        else:
            described[view.name] = check_table(client, name, ttl_enabled=ttl_enabled)
    logger.info("Online tables ready: %s", ", ".join(online_table_name(config, v) for v in online))
    return described


def _utc(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidArgumentError(f"{what} must be a datetime, found {value!r}.")
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _online_views(views: Mapping[str, AnyView], names: Optional[Sequence[str]]) -> list[AnyView]:
    if names is None:
        return [v for _, v in sorted(views.items()) if v.online]
    chosen = []
    for name in names:
        if name not in views:
            raise InvalidArgumentError(f"View '{name}' is not registered; registered views: {', '.join(sorted(views))}.")
        if not views[name].online:
            raise InvalidArgumentError(f"View '{name}' has online=False; set online=True and apply to materialize it.")
        chosen.append(views[name])
    return chosen


def materialize_view(
    spark: SparkSession,
    config: Config,
    view: AnyView,
    start: Optional[datetime],
    end: datetime,
    *,
    write_mode: OnlineWriteMode = "last_writer_wins",
    max_items_per_second: Optional[float] = None,
) -> OnlineWriteSummary:
    """Push the latest row per key of one feature view with ``start <= event_ts < end`` to its table, or
    rebuild the items of an aggregation view as of ``end`` with its ``horizon`` and ``tile_sizes``
    (``start``, the previous run's end, only checks the gap against the horizon).

    Aggregation items are always written ``monotonic``, whatever ``write_mode`` says: an item rebuilt as of
    an earlier ``end`` (an old window rerun, or a batch run racing a ``push``) must never replace one built
    as of a later ``end``, which holds every event the older one holds."""
    ensure_online_tables(config, [view])
    if isinstance(view, AggregationView):
        summary = materialize_aggregation_view(spark, config, view, start, end, write_mode="monotonic",
                                               max_items_per_second=max_items_per_second)
    else:
        summary = _materialize_feature_view(spark, config, view, start, end, write_mode=write_mode,
                                            max_items_per_second=max_items_per_second)
    logger.info("Materialized %s [%s, %s): %d items, %d requests, %d retries, %.1fs (%.0f items/s)",
                view.name, start, end, summary.items, summary.requests, summary.retries, summary.seconds,
                summary.items / summary.seconds if summary.seconds else 0.0)
    return summary


def _materialize_feature_view(spark: SparkSession, config: Config, view: FeatureView, start: Optional[datetime],
                              end: datetime, *, write_mode: OnlineWriteMode,
                              max_items_per_second: Optional[float]) -> OnlineWriteSummary:
    source = read_source(spark, view, managed=managed_table_of(config, view), redshift=redshift_for(config, view))
    summary = push_latest(config, view, source, start=start, end=end, write_mode=write_mode,
                          max_items_per_second=max_items_per_second)
    if not isinstance(view.source, ManagedSource):  # managed tables never hold such rows
        summary = replace(summary, skipped_invalid=_count_unservable(source, view, start, end))
    return summary


def _count_unservable(source: DataFrame, view: FeatureView, start: Optional[datetime], end: datetime) -> int:
    """Rows of an external source a materialize run cannot write: null event time, or a null key in the window."""
    ts = F.col(view.timestamp_field)
    null_key = F.lit(False)
    for key in view.join_keys:
        null_key = null_key | F.col(key).isNull()
    in_window = ts < F.lit(end) if start is None else (ts >= F.lit(start)) & (ts < F.lit(end))
    count = source.where(ts.isNull() | (null_key & in_window)).count()
    if count:
        logger.warning(
            "Materialize of '%s': %d row(s) of %s have a null join key (%s) or a null event timestamp (%s) and were "
            "not written online; fix them in the source.",
            view.name, count, view.source.describe(), ", ".join(view.join_keys), view.timestamp_field,
        )
    return count


def push_latest(
    config: Config,
    view: FeatureView,
    rows: DataFrame,
    *,
    start: Optional[datetime] = None,
    end: Optional[datetime] = None,
    write_mode: OnlineWriteMode = "last_writer_wins",
    max_items_per_second: Optional[float] = None,
) -> OnlineWriteSummary:
    """Write the latest row per key of ``rows`` (a view's columns) to the view's online table.

    The table must exist (see :func:`ensure_online_tables`). Used by materialize runs (rows read
    from the view's source) and by streaming / push writes (the rows of one batch).
    """
    latest = latest_per_key(
        rows, keys=view.join_keys, event_timestamp=view.timestamp_field, features=view.feature_names,
        created_timestamp=view.created_timestamp_field, start=start, end=end,
    )
    cfg = config.online_store
    return write_online(
        latest, table_name=online_table_name(config, view), keys=view.join_keys, features=view.feature_names,
        region=online_region(config), endpoint_url=cfg.endpoint_url, event_timestamp=view.timestamp_field,
        created_timestamp=view.created_timestamp_field,
        feature_types={f.name: f.dtype for f in view.schema}, ttl=view.ttl, write_mode=write_mode,
        max_items_per_second=max_items_per_second,
    )


def materialize_views(
    spark: SparkSession,
    config: Config,
    views: Mapping[str, AnyView],
    start: datetime,
    end: datetime,
    *,
    names: Optional[Sequence[str]] = None,
    write_mode: OnlineWriteMode = "last_writer_wins",
    max_items_per_second: Optional[float] = None,
) -> dict[str, OnlineWriteSummary]:
    """Materialize ``[start, end)`` of the online views (all, or ``names``; feature and aggregation views)."""
    check_option(write_mode, OnlineWriteMode, "write_mode")
    start, end = _utc(start, "start"), _utc(end, "end")
    if start >= end:
        raise InvalidArgumentError(f"start ({start.isoformat()}) must be before end ({end.isoformat()}).")
    chosen = _online_views(views, names)
    rate = _rate_per_view(max_items_per_second, len(chosen))
    return _for_each_view(chosen, lambda v: materialize_view(spark, config, v, start, end, write_mode=write_mode,
                                                            max_items_per_second=rate))


def materialize_incremental(
    spark: SparkSession,
    config: Config,
    registry: Registry,
    end: datetime,
    *,
    names: Optional[Sequence[str]] = None,
    lookback: Optional[timedelta] = None,
    write_mode: OnlineWriteMode = "last_writer_wins",
    max_items_per_second: Optional[float] = None,
    now: Optional[datetime] = None,
) -> dict[str, OnlineWriteSummary]:
    """Materialize each online view from its watermark to ``end``, then move the watermark to ``end``.

    Feature views and aggregation views alike (an aggregation view's items are rebuilt as of ``end``; its
    watermark says which ``end`` its items have). A view never materialized starts from the beginning of its data. ``lookback`` re-reads that
    much before the watermark to pick up late rows. The watermark is recorded only after all of
    the view's writes succeeded, so a failed run leaves it where it was and a rerun completes
    the work; rewriting an item already online is harmless (same or newer values).

    The watermark belongs to one online table: its creation time is recorded with it. When the
    table was recreated since (deleted by hand, restored from a backup), keys older than the
    watermark would be missing online, so the run writes the latest values of every key instead
    (and logs a warning).

    Up to :data:`MAX_CONCURRENT_VIEWS` views are written at the same time, each moving its own
    watermark when its writes are done; ``max_items_per_second`` is split between them.

    Raises
    ------
    InvalidArgumentError
        If ``end`` is in the future (rows could still arrive for that time) or before a watermark.
    """
    check_option(write_mode, OnlineWriteMode, "write_mode")
    end = _utc(end, "end")
    current = _utc(now, "now") if now else datetime.now(timezone.utc)
    if end > current:
        raise InvalidArgumentError(
            f"end {end.isoformat()} is in the future (now {current.isoformat()}): rows for that time may still "
            "arrive and would be missed once the watermark passes them. Use a time in the past."
        )
    state = registry.state()
    chosen = _online_views(state.all_views, names)
    rate = _rate_per_view(max_items_per_second, len(chosen))
    commit = threading.Lock()  # watermarks are committed one at a time: no registry races between our own views

    def run(view: AnyView) -> OnlineWriteSummary:
        recorded = state.materialization.get(view.name, {})
        watermark = datetime.fromisoformat(recorded[WATERMARK]) if WATERMARK in recorded else None
        table = ensure_online_tables(config, [view])[view.name]
        created = _creation_time(table)
        if watermark is not None and _table_was_replaced(recorded, created):
            logger.warning(
                "Online table %s of '%s' was created at %s, after the last materialize recorded its watermark %s "
                "(the table was deleted or restored): writing the latest values of every key up to %s, not only "
                "those since the watermark.", online_table_name(config, view), view.name,
                created.isoformat() if created else "?", watermark.isoformat(), end.isoformat(),
            )
            watermark = None
        start = None if watermark is None else watermark - (lookback or timedelta(0))
        version = state.versions.get(("materialization", view.name), 0)
        summary = materialize_view(spark, config, view, start, end, write_mode=write_mode,
                                   max_items_per_second=rate)
        with commit:
            registry.set_materialization_state(
                view.name,
                {WATERMARK: end.isoformat(), "previous_watermark": watermark.isoformat() if watermark else None,
                 "items": summary.items, "updated_at": datetime.now(timezone.utc).isoformat(),
                 TABLE_CREATED_AT: created.isoformat() if created else None},
                expected_version=version,
            )
        return summary

    for view in chosen:
        recorded = state.materialization.get(view.name, {})
        if WATERMARK in recorded and end < datetime.fromisoformat(recorded[WATERMARK]):
            raise InvalidArgumentError(
                f"end {end.isoformat()} is before the watermark of '{view.name}' ({recorded[WATERMARK]})."
            )
    return _for_each_view(chosen, run)


#: Views materialized at the same time (each one's write uses every task slot; running a few together
#: keeps the slots busy while small views wait on DynamoDB).
MAX_CONCURRENT_VIEWS = 4


def _rate_per_view(max_items_per_second: Optional[float], views: int) -> Optional[float]:
    """Split a whole-run rate limit between the views written at the same time."""
    if max_items_per_second is None:
        return None
    return max_items_per_second / max(1, min(views, MAX_CONCURRENT_VIEWS))


def _for_each_view(views: Sequence[AnyView],
                   run: Callable[[AnyView], OnlineWriteSummary]) -> dict[str, OnlineWriteSummary]:
    """Run ``run`` for every view, up to :data:`MAX_CONCURRENT_VIEWS` at once (Spark takes jobs from
    several threads); every view is finished or failed before the first failure is raised."""
    if len(views) <= 1:
        return {v.name: run(v) for v in views}
    with ThreadPoolExecutor(max_workers=min(len(views), MAX_CONCURRENT_VIEWS),
                            thread_name_prefix="fs-materialize") as pool:
        futures = {v.name: pool.submit(run, v) for v in views}
        wait(list(futures.values()))
    failed = [(name, f.exception()) for name, f in futures.items() if f.exception() is not None]
    if failed:
        done = [name for name, f in futures.items() if f.exception() is None]
        if done:
            logger.warning("Materialize: %s completed (their watermarks moved); %s failed",
                           ", ".join(done), ", ".join(name for name, _ in failed))
        raise failed[0][1]  # type: ignore[misc]
    return {name: f.result() for name, f in futures.items()}


#: Materialization state key: the creation time of the online table the watermark applies to.
TABLE_CREATED_AT = "table_created_at"


def _creation_time(table: Mapping[str, Any]) -> Optional[datetime]:
    created = table.get("CreationDateTime")
    if isinstance(created, datetime):
        return created if created.tzinfo else created.replace(tzinfo=timezone.utc)
    return None


def _table_was_replaced(recorded: Mapping[str, Any], created: Optional[datetime]) -> bool:
    """Whether the online table is not the one the recorded watermark was written to."""
    if created is None:
        return False
    recorded_at = recorded.get(TABLE_CREATED_AT)
    if recorded_at:
        return datetime.fromisoformat(str(recorded_at)) != created
    # State written before the creation time was recorded: a table younger than the state is new.
    updated = recorded.get("updated_at")
    return bool(updated) and created > datetime.fromisoformat(str(updated))
