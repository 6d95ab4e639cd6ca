"""Registered views meet DynamoDB: table management, materialize runs, online lookups.

- :func:`ensure_online_tables`: one table per online view (created on ``apply``, or checked).
- :func:`materialize_views`: the latest row per key with ``start <= event_ts < end`` of each view,
  pushed with the ``foreachPartition`` writer.
- :func:`materialize_incremental`: from each view's watermark in the registry to ``end``; the
  watermark moves only after every write of that view succeeded.
- :class:`OnlineResponse` and :func:`get_online_features`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping, Optional, Sequence

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from featurespark.config import Config, online_region
from featurespark.definitions import FeatureView, ManagedSource
from featurespark.errors import InvalidArgumentError
from featurespark.offline.sources import read_source
from featurespark.online.client import dynamodb_client
from featurespark.online.materialize import WriteSummary, latest_per_key, write_online
from featurespark.online.reader import OnlineReader, TableRead
from featurespark.online.tables import ensure_table
from featurespark.registry import Registry
from featurespark.training.references import resolve_references

logger = logging.getLogger(__name__)

WATERMARK = "watermark"


def online_table_name(config: Config, view: FeatureView) -> str:
    """DynamoDB table name of a view (``online_store.table_name_template``)."""
    return config.online_store.table_name(config.project.name, view.name)


def ensure_online_tables(config: Config, views: Sequence[FeatureView]) -> list[str]:
    """Create (or check) the DynamoDB table of every online view; return their names."""
    online = [v for v in views if v.online]
    if not online:
        return []
    cfg = config.online_store
    client = dynamodb_client(region=online_region(config), endpoint_url=cfg.endpoint_url)
    names = []
    for view in online:
        name = online_table_name(config, view)
        ensure_table(
            client, name, billing_mode=cfg.billing_mode,
            read_capacity=cfg.read_capacity_units if cfg.billing_mode == "PROVISIONED" else None,
            write_capacity=cfg.write_capacity_units if cfg.billing_mode == "PROVISIONED" else None,
            tags=cfg.tags or None, ttl_enabled=view.ttl is not None,
        )
        names.append(name)
    logger.info("Online tables ready: %s", ", ".join(names))
    return names


def _utc(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidArgumentError(f"{what} must be a datetime, found {value!r}.")
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _online_views(views: Mapping[str, FeatureView], names: Optional[Sequence[str]]) -> list[FeatureView]:
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
    view: FeatureView,
    start: Optional[datetime],
    end: datetime,
    *,
    write_mode: str = "last_writer_wins",
    max_items_per_second: Optional[float] = None,
) -> WriteSummary:
    """Push the latest row per key of one view with ``start <= event_ts < end`` to its table."""
    ensure_online_tables(config, [view])
    source = read_source(spark, view, config.offline_store)
    summary = push_latest(config, view, source, start=start, end=end, write_mode=write_mode,
                          max_items_per_second=max_items_per_second)
    if not isinstance(view.source, ManagedSource):  # managed tables never hold such rows
        summary = replace(summary, skipped_invalid=_count_unservable(source, view, start, end))
    logger.info("Materialized %s [%s, %s): %d items, %d requests, %d retries, %.1fs (%.0f items/s)",
                view.name, start, end, summary.items, summary.requests, summary.retries, summary.seconds,
                summary.items / summary.seconds if summary.seconds else 0.0)
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
    write_mode: str = "last_writer_wins",
    max_items_per_second: Optional[float] = None,
) -> WriteSummary:
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
    views: Mapping[str, FeatureView],
    start: datetime,
    end: datetime,
    *,
    names: Optional[Sequence[str]] = None,
    write_mode: str = "last_writer_wins",
    max_items_per_second: Optional[float] = None,
) -> dict[str, WriteSummary]:
    """Materialize ``[start, end)`` of the online views (all, or ``names``)."""
    start, end = _utc(start, "start"), _utc(end, "end")
    if start >= end:
        raise InvalidArgumentError(f"start ({start.isoformat()}) must be before end ({end.isoformat()}).")
    return {
        v.name: materialize_view(spark, config, v, start, end, write_mode=write_mode,
                                 max_items_per_second=max_items_per_second)
        for v in _online_views(views, names)
    }


def materialize_incremental(
    spark: SparkSession,
    config: Config,
    registry: Registry,
    end: datetime,
    *,
    names: Optional[Sequence[str]] = None,
    lookback: Optional[timedelta] = None,
    write_mode: str = "last_writer_wins",
    max_items_per_second: Optional[float] = None,
    now: Optional[datetime] = None,
) -> dict[str, WriteSummary]:
    """Materialize each online view from its watermark to ``end``, then move the watermark to ``end``.

    A view never materialized starts from the beginning of its data. ``lookback`` re-reads that
    much before the watermark to pick up late rows. The watermark is recorded only after all of
    the view's writes succeeded, so a failed run leaves it where it was and a rerun completes
    the work; rewriting an item already online is harmless (same or newer values).

    Raises
    ------
    InvalidArgumentError
        If ``end`` is in the future (rows could still arrive for that time) or before a watermark.
    """
    end = _utc(end, "end")
    current = _utc(now, "now") if now else datetime.now(timezone.utc)
    if end > current:
        raise InvalidArgumentError(
            f"end {end.isoformat()} is in the future (now {current.isoformat()}): rows for that time may still "
            "arrive and would be missed once the watermark passes them. Use a time in the past."
        )
    state = registry.state()
    summaries = {}
    for view in _online_views(state.views, names):
        recorded = state.materialization.get(view.name, {})
        watermark = datetime.fromisoformat(recorded[WATERMARK]) if WATERMARK in recorded else None
        if watermark is not None and end < watermark:
            raise InvalidArgumentError(
                f"end {end.isoformat()} is before the watermark of '{view.name}' ({watermark.isoformat()})."
            )
        start = None if watermark is None else watermark - (lookback or timedelta(0))
        version = state.versions.get(("materialization", view.name), 0)
        summaries[view.name] = materialize_view(spark, config, view, start, end, write_mode=write_mode,
                                                max_items_per_second=max_items_per_second)
        registry.set_materialization_state(
            view.name,
            {WATERMARK: end.isoformat(), "previous_watermark": watermark.isoformat() if watermark else None,
             "items": summaries[view.name].items, "updated_at": datetime.now(timezone.utc).isoformat()},
            expected_version=version,
        )
    return summaries


@dataclass(frozen=True)
class OnlineResponse:
    """Online feature values in request order.

    Attributes
    ----------
    columns : dict
        Column name to list of values: the entity key columns first, then the features.
    """

    columns: dict[str, list[Any]]

    def to_dict(self) -> dict[str, list[Any]]:
        """Column name to list of values, in request order."""
        return {k: list(v) for k, v in self.columns.items()}

    def to_pandas(self) -> pd.DataFrame:
        """The values as a pandas DataFrame (one row per entity row)."""
        return pd.DataFrame(self.columns)


def get_online_features(
    reader: OnlineReader,
    config: Config,
    views: Mapping[str, FeatureView],
    features: Sequence[str],
    entity_rows: Sequence[Mapping[str, Any]],
    *,
    full_feature_names: bool = False,
    now: Optional[datetime] = None,
) -> OnlineResponse:
    """Look up the latest online values of ``features`` for ``entity_rows``.

    All tables are read in shared parallel ``BatchGetItem`` requests. Missing keys and values
    older than the view's TTL give None.
    """
    selections = resolve_references(features, views, full_feature_names=full_feature_names)
    offline_only = [s.view.name for s in selections if not s.view.online]
    if offline_only:
        raise InvalidArgumentError(f"Views {offline_only} are not online (online=False); they cannot be served.")
    rows = []
    for i, row in enumerate(entity_rows):
        if not isinstance(row, Mapping):
            raise InvalidArgumentError(f"entity_rows[{i}] must be a mapping of join key to value, found {row!r}.")
        translated = dict(row)
        for sel in selections:
            for key, column in sel.view.entity_columns.items():
                if column in row:
                    translated[key] = row[column]
        rows.append(translated)
    reads = [
        TableRead(
            table_name=online_table_name(config, s.view),
            keys={k.name: k.dtype for k in s.view.join_key_fields},
            features={f: s.view.feature(f).dtype for f in s.features},
            ttl=s.view.ttl,
        )
        for s in selections
    ]
    values = reader.get_many(reads, rows, now=now)
    key_columns = list(dict.fromkeys(c for s in selections for c in s.view.entity_columns.values()))
    columns: dict[str, list[Any]] = {c: [r.get(c) for r in entity_rows] for c in key_columns}
    for sel, read in zip(selections, reads):
        table_rows = values[read.table_name]
        for feature, out in zip(sel.features, sel.output_names):
            columns[out] = [r.get(feature) for r in table_rows]
    return OnlineResponse(columns)
