"""Writing Spark and pandas DataFrames into a managed view's table (Delta or Iceberg).

``append`` adds rows. ``upsert`` merges on (join keys, event timestamp) with the format's MERGE:
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
from typing import Any, Optional, Union

import pandas as pd
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from featurespark._compat import dataframe_from_pandas
from featurespark.definitions import FeatureView, ManagedSource
from featurespark.definitions.views import AnyView
from featurespark.errors import InvalidArgumentError, InvalidRowsError, WriteConflictError
from featurespark.offline.sources import timestamp_columns
from featurespark.offline.layout import ManagedTable
from featurespark.offline.table_format import TableFormat, Transaction, table_format
from featurespark.offline.tables import ensure_managed_table, prepare_namespace
from featurespark.offline.timestamps import normalize_pandas_timestamps
from featurespark.offline.validation import REJECT_REASON, conform_to_view, with_reject_reason
from featurespark.options import OnInvalid, WriteMode, check_option
from featurespark.retry import DELTA_CONFLICT_RETRY, RetryPolicy

logger = logging.getLogger(__name__)

__all__ = ["OfflineWriteSummary", "check_writable", "to_spark", "write_features"]

_SAMPLE_ROWS = 5


@dataclass(frozen=True)
class OfflineWriteSummary:
    """What a write into a managed view's table did.

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
        Version of the table after the write (Delta version, Iceberg snapshot id).
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


def to_spark(spark: SparkSession, data: Union[DataFrame, pd.DataFrame], view: AnyView) -> DataFrame:
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
    table: ManagedTable,
    *,
    mode: WriteMode = "append",
    on_invalid: OnInvalid = "fail",
    retry: RetryPolicy = DELTA_CONFLICT_RETRY,
    transaction: Optional[Transaction] = None,
) -> OfflineWriteSummary:
    """Validate rows and write them into a managed view's table (Delta or Iceberg, ``table.format``).

    Parameters
    ----------
    spark : SparkSession
    view : FeatureView
        A view with a :class:`ManagedSource`.
    data : pyspark.sql.DataFrame or pandas.DataFrame
        Rows with the view's join keys, timestamp columns and features (extra columns ignored).
    table : ManagedTable
        Where the view's tables are (:func:`featurespark.offline.layout.managed_table`).
    mode : {"append", "upsert"}
        ``upsert`` merges on (join keys, event timestamp); re-ingesting a batch changes nothing.
    on_invalid : {"fail", "quarantine"}
        What to do with rows that have a null join key or event timestamp.
    retry : RetryPolicy
        Retries of an upsert that conflicted with a concurrent writer (the format's optimistic concurrency).
    transaction : Transaction, optional
        Make the write replay-safe: a write of a version the tables already recorded for the app adds
        nothing (Delta: every commit is skipped; Iceberg: appends, the quarantine's included, are skipped,
        and a replayed upsert's MERGE finds its rows already there).

    Returns
    -------
    OfflineWriteSummary

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
    >>> import pandas as pd
    >>> from featurespark.definitions import Entity, Field
    >>> from featurespark.offline.layout import managed_table
    >>> view = FeatureView(name="doc_writer_stats", entities=[Entity("driver", join_keys={"driver_id": "int64"})],
    ...                    schema=[Field("rate", "float64")])
    >>> table = managed_table(str(tmp_path), "default", view.name)
    >>> rows = pd.DataFrame({"driver_id": [1, 2], "event_timestamp": pd.to_datetime(["2026-01-01", "2026-01-01"]),
    ...                      "rate": [0.5, 0.7]})
    >>> write_features(spark, view, rows, table, mode="upsert").rows_written
    2
    >>> write_features(spark, view, rows, table, mode="upsert").rows_unchanged
    2
    """
    check_writable(view)
    check_option(mode, WriteMode, "mode")
    check_option(on_invalid, OnInvalid, "on_invalid")
    started = time.monotonic()
    batch = conform_to_view(to_spark(spark, data, view), view, where=f"Batch for '{view.name}'")
    ensure_managed_table(spark, view, table)
    fmt = table_format(table.format)

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
        with fmt.idempotent_writes(spark, transaction):
            if rejected:
                quarantine = _quarantine(spark, fmt, tagged.where(F.col(REJECT_REASON).isNotNull()), table,
                                         transaction)
            valid = tagged.where(F.col(REJECT_REASON).isNull()).drop(REJECT_REASON)
            if mode == "append":
                fmt.append(valid, table.ref, transaction=transaction)
                inserted, updated, unchanged, superseded = stats["valid"], 0, 0, 0
            else:
                superseded = stats["valid"] - stats["distinct_keys"]
                inserted, updated = _merge(spark, fmt, _latest_per_event(valid, view), view, table, retry)
                unchanged = stats["distinct_keys"] - inserted - updated
    finally:
        tagged.unpersist()
    summary = OfflineWriteSummary(
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
        table_version=fmt.latest_version(spark, table.ref),
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


def _quarantine(spark: SparkSession, fmt: TableFormat, invalid: DataFrame, table: ManagedTable,
                transaction: Optional[Transaction]) -> str:
    prepare_namespace(spark, table)
    rows = invalid.select(
        "*", F.current_timestamp().alias("_rejected_at"), F.lit(str(uuid.uuid4())).alias("_batch_id")
    )
    fmt.append_or_create(rows, table.quarantine_ref, transaction=transaction)
    logger.warning("Quarantined invalid rows of '%s' in %s", table.view, table.quarantine_name)
    return table.quarantine_name


def _latest_per_event(valid: DataFrame, view: FeatureView) -> DataFrame:
    """One row per (keys, event time): the greatest created time, then the greatest values."""
    order = ([F.col(view.created_timestamp_field).desc_nulls_last()] if view.created_timestamp_field else []) + [
        F.col(f).desc_nulls_last() for f in view.feature_names
    ]
    window = Window.partitionBy(*view.join_keys, view.timestamp_field).orderBy(*order)
    return valid.withColumn("_rank", F.row_number().over(window)).where(F.col("_rank") == 1).drop("_rank")


def _merge(spark: SparkSession, fmt: TableFormat, source: DataFrame, view: FeatureView, table: ManagedTable,
           retry: RetryPolicy) -> tuple[int, int]:
    """MERGE on (keys, event time); update only rows whose values differ. Returns (inserted, updated)."""
    conflict: Optional[Exception] = None
    for attempt in retry.attempts(
        on_retry=lambda n, wait: logger.warning(
            "Upsert into '%s' conflicted (attempt %d); retrying in %.1fs", view.name, n, wait)
    ):
        try:
            counts = fmt.merge(spark, table.ref, source, [*view.join_keys, view.timestamp_field], update=True)
        except Exception as exc:  # noqa: BLE001 - only the format's conflicts are retried
            if not fmt.is_conflict(exc):
                raise
            conflict = exc
            continue
        return counts if counts is not None else (0, 0)  # unknown counts (a concurrent commit): the write is done
    raise WriteConflictError(
        f"Upsert into '{view.name}' kept conflicting with concurrent writers ({retry.max_attempts} attempts); "
        "nothing from this batch was written. Rerun it (upserts are idempotent), or pass a RetryPolicy with "
        "more attempts as retry=."
    ) from conflict
