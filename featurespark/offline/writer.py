"""Writing Spark and pandas DataFrames into a managed view's Delta table.

``append`` adds rows. ``upsert`` merges on (join keys, event timestamp) with Delta MERGE:
re-ingesting the same batch changes nothing (rows whose values are equal are not rewritten).
Within one upsert batch, rows sharing (join keys, event timestamp) are reduced to the one with
the greatest created timestamp (ties: the greatest feature values), and that count is reported
as ``rows_superseded``: nothing is dropped silently.

Invalid rows (null join key or event timestamp) either fail the write before anything is
stored (``on_invalid="fail"``, the default) or go to the view's quarantine table with their
reason (``on_invalid="quarantine"``), which is written before the valid rows so that a
failure in between loses nothing.
"""
from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Union

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from featurespark._compat import dataframe_from_pandas, execute_merge
from featurespark._delta import is_conflict
from featurespark.config import OfflineStoreConfig, join_path
from featurespark.definitions import FeatureView, ManagedSource
from featurespark.errors import InvalidArgumentError, InvalidRowsError, WriteConflictError
from featurespark.offline.sources import (
    ensure_managed_table,
    managed_table_name,
    managed_table_path,
    timestamp_columns,
)
from featurespark.offline.timestamps import normalize_pandas_timestamps
from featurespark.offline.validation import REJECT_REASON, conform_to_view, with_reject_reason

logger = logging.getLogger(__name__)

WriteMode = Literal["append", "upsert"]
OnInvalid = Literal["fail", "quarantine"]

_SAMPLE_ROWS = 5


@dataclass(frozen=True)
class WriteSummary:
    """What a write did.

    Attributes
    ----------
    view, mode : str
    rows_in : int
        Rows received.
    rows_written : int
        Rows inserted into the table.
    rows_updated : int
        Existing rows whose values changed (upsert).
    rows_unchanged : int
        Rows already present with equal values (upsert).
    rows_superseded : int
        Rows replaced inside the batch by a later correction of the same key and event time (upsert).
    rows_rejected : int
        Invalid rows (sent to quarantine).
    rejected_by_reason : dict
        Rejected count per reason.
    quarantine_table : str or None
        Where rejected rows went.
    table_version : int or None
        Delta version of the table after the write.
    seconds : float
    """

    view: str
    mode: str
    rows_in: int
    rows_written: int
    rows_updated: int
    rows_unchanged: int
    rows_superseded: int
    rows_rejected: int
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    quarantine_table: Optional[str] = None
    table_version: Optional[int] = None
    seconds: float = 0.0

    def line(self) -> str:
        """One-line summary for logs."""
        return (
            f"{self.view} ({self.mode}): {self.rows_in} rows in, {self.rows_written} written, "
            f"{self.rows_updated} updated, {self.rows_unchanged} unchanged, {self.rows_superseded} superseded, "
            f"{self.rows_rejected} rejected"
            + (f" (quarantined in {self.quarantine_table})" if self.quarantine_table else "")
            + f"; table version {self.table_version}; {self.seconds:.1f}s"
        )


def quarantine_table_name(offline: OfflineStoreConfig, view: FeatureView) -> str:
    """Metastore name of a view's quarantine table (``<database>.<view>_quarantine``)."""
    return f"{managed_table_name(offline, view)}_quarantine"


def quarantine_table_path(offline: OfflineStoreConfig, view: FeatureView) -> str:
    """Location of a view's quarantine table (``<root>/_quarantine/<view>``)."""
    return join_path(offline.root, "_quarantine", view.name)


def to_spark(spark: SparkSession, data: Union[DataFrame, pd.DataFrame], view: FeatureView) -> DataFrame:
    """A Spark DataFrame from a Spark or pandas frame (pandas through Arrow, timestamps to UTC).

    Naive pandas timestamps are read as UTC; tz-aware ones are converted. The pandas frame
    passed in is not modified.
    """
    if isinstance(data, DataFrame):
        return data
    if isinstance(data, pd.DataFrame):
        normalized = normalize_pandas_timestamps(data, timestamp_columns(view), where="pandas batch")
        return dataframe_from_pandas(spark, normalized)
    raise InvalidArgumentError(
        f"write_features takes a Spark or pandas DataFrame, found {type(data).__name__}."
    )


def check_writable(view: FeatureView) -> None:
    """Raise :class:`InvalidArgumentError` unless featurespark owns the view's table (a ``ManagedSource``)."""
    if not isinstance(view.source, ManagedSource):
        raise InvalidArgumentError(
            f"Feature view '{view.name}' reads from {view.source.describe()}; featurespark only writes to views "
            "with a ManagedSource. Write to that source directly, or define the view with ManagedSource()."
        )


def write_features(
    spark: SparkSession,
    view: FeatureView,
    data: Union[DataFrame, pd.DataFrame],
    offline: OfflineStoreConfig,
    *,
    mode: WriteMode = "append",
    on_invalid: OnInvalid = "fail",
    max_conflict_retries: int = 5,
) -> WriteSummary:
    """Validate rows and write them into a managed view's Delta table.

    Parameters
    ----------
    spark : SparkSession
    view : FeatureView
        A view with a :class:`ManagedSource`.
    data : pyspark.sql.DataFrame or pandas.DataFrame
        Rows with the view's join keys, timestamp columns and features (extra columns ignored).
    offline : OfflineStoreConfig
    mode : {"append", "upsert"}
        ``upsert`` merges on (join keys, event timestamp); re-ingesting a batch changes nothing.
    on_invalid : {"fail", "quarantine"}
        What to do with rows that have a null join key or event timestamp.
    max_conflict_retries : int
        Upserts retried on Delta's concurrent-modification conflicts before giving up.

    Returns
    -------
    WriteSummary

    Raises
    ------
    SchemaMismatchError
        Missing columns or unsafe types; nothing written.
    InvalidRowsError
        Invalid rows with ``on_invalid="fail"``; nothing written.
    WriteConflictError
        The upsert kept conflicting with concurrent writers.

    Examples
    --------
    >>> summary = write_features(spark, driver_stats, pdf, config.offline_store, mode="upsert")  # doctest: +SKIP
    >>> summary.rows_written  # doctest: +SKIP
    24
    """
    check_writable(view)
    if mode not in ("append", "upsert"):
        raise InvalidArgumentError(f"mode must be 'append' or 'upsert', found {mode!r}.")
    if on_invalid not in ("fail", "quarantine"):
        raise InvalidArgumentError(f"on_invalid must be 'fail' or 'quarantine', found {on_invalid!r}.")
    started = time.monotonic()
    batch = conform_to_view(to_spark(spark, data, view), view, where=f"Batch for '{view.name}'")
    ensure_managed_table(spark, view, offline)

    # The batch is read by the statistics and by one or two writes: keep it instead of
    # recomputing the caller's lineage (which may be non-deterministic) each time.
    tagged = with_reject_reason(batch, view).persist()
    try:
        stats = _batch_stats(tagged, view, dedupe=(mode == "upsert"))
        rejected = {r: n for r, n in stats["by_reason"].items() if r is not None}
        quarantine = None
        if rejected:
            samples = [row.asDict() for row in tagged.where(F.col(REJECT_REASON).isNotNull()).limit(_SAMPLE_ROWS)
                       .collect()]
            if on_invalid == "fail":
                raise InvalidRowsError(_invalid_message(view, rejected, samples, stats["rows"]), rejected, samples)
            quarantine = _quarantine(spark, tagged.where(F.col(REJECT_REASON).isNotNull()), view, offline)
        valid = tagged.where(F.col(REJECT_REASON).isNull()).drop(REJECT_REASON)
        path = managed_table_path(offline, view)
        if mode == "append":
            valid.write.format("delta").mode("append").save(path)
            inserted, updated, unchanged, superseded = stats["valid"], 0, 0, 0
        else:
            superseded = stats["valid"] - stats["distinct_keys"]
            inserted, updated = _merge(spark, _latest_per_event(valid, view), view, path, max_conflict_retries)
            unchanged = stats["distinct_keys"] - inserted - updated
    finally:
        tagged.unpersist()
    summary = WriteSummary(
        view=view.name,
        mode=mode,
        rows_in=stats["rows"],
        rows_written=inserted,
        rows_updated=updated,
        rows_unchanged=unchanged,
        rows_superseded=superseded,
        rows_rejected=sum(rejected.values()),
        rejected_by_reason=rejected,
        quarantine_table=quarantine,
        table_version=_latest_version(spark, path),
        seconds=time.monotonic() - started,
    )
    logger.info("Wrote %s", summary.line())
    return summary


def _batch_stats(tagged: DataFrame, view: FeatureView, *, dedupe: bool) -> dict[str, Any]:
    """Counts per reject reason and, for upserts, distinct valid (keys, event time): one job."""
    key = F.struct(*[F.col(k) for k in view.join_keys], F.col(view.timestamp_field))
    aggs = [F.count(F.lit(1)).alias("n")]
    if dedupe:
        aggs.append(F.count_distinct(key).alias("distinct_keys"))
    rows = tagged.groupBy(REJECT_REASON).agg(*aggs).collect()  # one row per reason: tiny
    by_reason = {r[REJECT_REASON]: int(r["n"]) for r in rows}
    valid_row = next((r for r in rows if r[REJECT_REASON] is None), None)
    return {
        "rows": sum(by_reason.values()),
        "by_reason": by_reason,
        "valid": by_reason.get(None, 0),
        "distinct_keys": int(valid_row["distinct_keys"]) if (dedupe and valid_row is not None) else 0,
    }


def _invalid_message(view: FeatureView, rejected: dict[str, int], samples: list[dict[str, Any]], rows: int) -> str:
    reasons = "\n".join(f"  - {n} row(s): {reason}" for reason, n in sorted(rejected.items()))
    shown = "\n".join(f"    {s}" for s in samples)
    return (
        f"{sum(rejected.values())} of {rows} row(s) for feature view '{view.name}' are invalid; nothing was "
        f"written.\n{reasons}\n  sample rows:\n{shown}\nFix the rows, or pass on_invalid=\"quarantine\" to write the "
        "valid rows and keep the invalid ones in the quarantine table."
    )


def _quarantine(spark: SparkSession, invalid: DataFrame, view: FeatureView, offline: OfflineStoreConfig) -> str:
    from featurespark.offline.sources import ensure_database

    name = quarantine_table_name(offline, view)
    ensure_database(spark, offline.database, location=offline.database_location)
    rows = invalid.select(
        "*", F.current_timestamp().alias("_rejected_at"), F.lit(str(uuid.uuid4())).alias("_batch_id")
    )
    rows.write.format("delta").mode("append").option("path", quarantine_table_path(offline, view)).saveAsTable(name)
    logger.warning("Quarantined invalid rows of '%s' in %s", view.name, name)
    return name


def _latest_per_event(valid: DataFrame, view: FeatureView) -> DataFrame:
    """One row per (keys, event time): the greatest created time, then the greatest values."""
    order = ([F.col(view.created_timestamp_field).desc_nulls_last()] if view.created_timestamp_field else []) + [
        F.col(f).desc_nulls_last() for f in view.feature_names
    ]
    window = Window.partitionBy(*view.join_keys, view.timestamp_field).orderBy(*order)
    return valid.withColumn("_rank", F.row_number().over(window)).where(F.col("_rank") == 1).drop("_rank")


def _merge(spark: SparkSession, source: DataFrame, view: FeatureView, path: str, max_retries: int) -> tuple[int, int]:
    """MERGE on (keys, event time); update only rows whose values differ. Returns (inserted, updated)."""
    from delta.tables import DeltaTable

    on = F.lit(True)
    for k in [*view.join_keys, view.timestamp_field]:
        on = on & (F.col(f"t.{k}") == F.col(f"s.{k}"))
    value_columns = [c for c in source.columns if c not in (*view.join_keys, view.timestamp_field)]
    changed = F.lit(False)
    for c in value_columns:
        changed = changed | ~F.col(f"t.{c}").eqNullSafe(F.col(f"s.{c}"))
    assignments: dict[str, Union[str, Column]] = {c: F.col(f"s.{c}") for c in value_columns}
    for attempt in range(1, max_retries + 2):
        try:
            target = DeltaTable.forPath(spark, path)
            metrics = execute_merge(
                target,
                target.alias("t")
                .merge(source.alias("s"), on)
                .whenMatchedUpdate(condition=changed, set=assignments)
                # Explicit values: insertAll would ask the source for the generated partition column.
                .whenNotMatchedInsert(values={c: F.col(f"s.{c}") for c in source.columns}),
            )
        except Exception as exc:  # noqa: BLE001 - only Delta's conflicts are retried
            if not is_conflict(exc) or attempt > max_retries:
                if is_conflict(exc):
                    raise WriteConflictError(
                        f"Upsert into '{view.name}' conflicted with concurrent writers {attempt} times; nothing "
                        "from this batch was written. Rerun it (upserts are idempotent) or raise "
                        "max_conflict_retries."
                    ) from exc
                raise
            delay = min(5.0, 0.5 * 2 ** (attempt - 1))
            logger.warning("Upsert into '%s' conflicted (attempt %d); retrying in %.1fs", view.name, attempt, delay)
            time.sleep(delay)
            continue
        if metrics is None:  # Delta 3.x with concurrent MERGEs: the counts are unknown, the write is done
            return 0, 0
        return int(metrics["num_inserted_rows"]), int(metrics["num_updated_rows"])
    raise AssertionError("unreachable")  # pragma: no cover


def _latest_version(spark: SparkSession, path: str) -> int:
    from delta.tables import DeltaTable

    row = DeltaTable.forPath(spark, path).history(1).select("version").first()
    return int(row["version"]) if row is not None else 0
