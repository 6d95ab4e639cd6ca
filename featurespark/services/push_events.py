"""Push service for aggregation views: append a batch of events to the view's Delta source, then rebuild
the online items of the keys the batch touched.

An aggregation view's online item is a function of its source and an ``end`` time
(:mod:`featurespark.online.tiles`), so the online step rebuilds each touched key's item from the
source as of ``end`` (default: now) instead of adding the batch to it: a replayed batch (Delta commits
nothing for a transaction version it already holds) rebuilds the same items again, and late events are
placed where they belong. Keys the batch did not touch keep their items.
"""
from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from datetime import datetime, timezone
from typing import ContextManager, Optional, Union

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from featurespark._delta import idempotent_commits, latest_version
from featurespark.config import Config
from featurespark.definitions import AggregationView, DeltaSource
from featurespark.errors import InvalidArgumentError, InvalidRowsError, TimeTravelError
from featurespark.offline.sources import check_source_schema
from featurespark.offline.writer import OfflineWriteSummary, to_spark
from featurespark.options import OnInvalid, check_option
from featurespark.services.online_aggregates import materialize_aggregation_view, read_aggregation_events
from featurespark.offline.table_format import Transaction
from featurespark.services.push import PushSummary

logger = logging.getLogger(__name__)

__all__ = ["check_pushable", "push_events"]


def push_events(
    spark: SparkSession,
    config: Config,
    view: AggregationView,
    data: Union[DataFrame, pd.DataFrame],
    *,
    on_invalid: OnInvalid = "fail",
    end: Optional[datetime] = None,
    max_items_per_second: Optional[float] = None,
    transaction: Optional[Transaction] = None,
    batch_id: Optional[int] = None,
) -> PushSummary:
    """Append events to an aggregation view's Delta source and rebuild the online items of their keys.

    Parameters
    ----------
    spark : SparkSession
    config : Config
    view : AggregationView
        A view whose source is a ``DeltaSource`` (the events are appended there); with ``online=True``
        its table must exist.
    data : pyspark.sql.DataFrame or pandas.DataFrame
        Events with the view's join keys, timestamp columns and ``event_schema`` columns (others are
        not written).
    on_invalid : {"fail"}
        Rows with a null join key or event time fail the push before anything is written (the source has
        no quarantine table, so ``"quarantine"`` is refused).
    end : datetime, optional
        The rebuilt items cover the events before ``end`` (default: now, UTC).
    max_items_per_second : float, optional
        Rate limit of the online write.
    transaction : Transaction, optional
        Make the Delta append idempotent (a replayed batch appends nothing).
    batch_id : int, optional
        Shown in the summary.

    Returns
    -------
    PushSummary
        ``offline.rows_written`` is 0 when Delta skipped a replayed transaction.

    Raises
    ------
    InvalidArgumentError
        If the view's source is not a ``DeltaSource``, or ``on_invalid`` is not ``"fail"``.
    SourceSchemaError
        If the batch lacks a column of the view or has an incompatible type.
    InvalidRowsError
        If a row has a null join key or event time; nothing was written.
    """
    started = time.monotonic()
    path = check_pushable(view, on_invalid)
    batch = to_spark(spark, data, view)
    check_source_schema(view, batch)
    batch = batch.select(*[F.col(f"`{c}`") for c in view.source_columns]).persist()
    try:
        invalid = F.col(f"`{view.timestamp_field}`").isNull()
        for key in view.join_keys:
            invalid = invalid | F.col(f"`{key}`").isNull()
        stats = batch.agg(F.count(F.lit(1)).alias("rows"), F.count(F.when(invalid, 1)).alias("invalid")).first()
        rows, bad = (stats["rows"], stats["invalid"]) if stats is not None else (0, 0)
        if bad:
            raise InvalidRowsError(
                f"{bad} of {rows} event(s) for aggregation view '{view.name}' have a null join key "
                f"({', '.join(view.join_keys)}) or a null event time ({view.timestamp_field}); nothing was written.",
                {"null join key or event time": bad}, [],
            )
        before = _delta_version(spark, path)
        txn: ContextManager[None] = (
            idempotent_commits(spark, transaction.app_id, transaction.version) if transaction else nullcontext()
        )
        with txn:
            batch.write.format("delta").mode("append").save(path)
        after = _delta_version(spark, path)
        offline = OfflineWriteSummary(
            view=view.name, mode="append", rows_in=rows, rows_written=rows if after != before else 0,
            rows_updated=0, rows_unchanged=0, rows_superseded=0, rows_rejected=0, table_version=after,
        )
        online = None
        if view.online:
            touched = batch.select(*[F.col(f"`{k}`") for k in view.join_keys]).distinct()
            events = read_aggregation_events(spark, config, view).join(touched, on=view.join_keys, how="left_semi")
            online = materialize_aggregation_view(
                spark, config, view, None, end or datetime.now(timezone.utc), events=events, write_mode="monotonic",
                max_items_per_second=max_items_per_second,
            )
    finally:
        batch.unpersist()
    summary = PushSummary(view=view.name, offline=offline, online=online, batch_id=batch_id,
                          seconds=time.monotonic() - started)
    logger.info("Pushed %s", summary.line())
    return summary


def check_pushable(view: AggregationView, on_invalid: OnInvalid = "fail") -> str:
    """The Delta path events of ``view`` are appended to.

    Raises
    ------
    InvalidArgumentError
        If the view's source is not a ``DeltaSource``, or ``on_invalid`` is not ``"fail"``.
    """
    check_option(on_invalid, OnInvalid, "on_invalid")
    if on_invalid != "fail":
        raise InvalidArgumentError(f"Aggregation view '{view.name}': pushed events are appended to its source, "
                                   "which has no quarantine table; use on_invalid='fail'.")
    if not isinstance(view.source, DeltaSource):
        raise InvalidArgumentError(
            f"Aggregation view '{view.name}' reads {view.source.describe()}; pushing events appends them to the "
            "view's source, which must be a DeltaSource. Append to the source yourself and run materialize."
        )
    return view.source.path


def _delta_version(spark: SparkSession, path: str) -> Optional[int]:
    """The table's current version (None before its first commit), from its log without a Spark job."""
    try:
        return latest_version(spark, path)
    except TimeTravelError:
        return None
