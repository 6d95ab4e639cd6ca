"""Push service: one write into both stores, a batch's rows upserted offline and its latest row per key online.

:func:`push` is what :meth:`FeatureStore.push` and every micro-batch of
:func:`featurespark.streaming.write_stream` run:

1. The rows are checked against the view (schema, then null keys / event times: fail or
   quarantine, exactly as :func:`featurespark.offline.writer.write_features`).
2. The valid rows are upserted into the view's table, optionally as an idempotent write
   ``(app_id, version)``: a replay of a version the table already holds adds nothing (Delta skips the
   commits; Iceberg skips the quarantine append and the replayed MERGE finds its rows already there).
3. For an online view, the latest valid row per key is written to DynamoDB with conditional
   ("monotonic") puts, so a replayed or out-of-order batch never replaces a newer online value.

The offline write comes first: a failure after it (online store down) leaves the online table
behind the offline one, and rerunning the same batch completes the online write without writing
the offline rows twice.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Optional, Union

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from featurespark.config import Config
from featurespark.definitions import FeatureView
from featurespark.offline.table_format import Transaction
from featurespark.offline.validation import REJECT_REASON, conform_to_view, with_reject_reason
from featurespark.offline.writer import OfflineWriteSummary, check_writable, to_spark, write_features
from featurespark.online.materialize import OnlineWriteSummary
from featurespark.options import OnInvalid, check_option
from featurespark.services.locations import managed_table_of
from featurespark.services.materialize import push_latest

logger = logging.getLogger(__name__)

__all__ = ["PushSummary", "push"]


@dataclass(frozen=True)
class PushSummary:
    """What a push did in each store.

    Attributes
    ----------
    view : str
    offline : OfflineWriteSummary
        The Delta upsert (rows in, written, updated, unchanged, rejected, table version).
    online : OnlineWriteSummary or None
        The DynamoDB write; None for views with ``online=False``.
    batch_id : int or None
        The micro-batch (streaming writes).
    seconds : float
    """

    view: str
    offline: OfflineWriteSummary
    online: Optional[OnlineWriteSummary]
    batch_id: Optional[int] = None
    seconds: float = 0.0

    def line(self) -> str:
        """One-line summary for logs."""
        o = self.offline
        head = f"{self.view}" + (f" batch {self.batch_id}" if self.batch_id is not None else "")
        online = (
            f"online {self.online.items} items ({self.online.skipped_older} skipped as older, "
            f"{self.online.retries} retries, {self.online.items_per_second:.0f} items/s)"
            if self.online is not None else "online: view is offline-only"
        )
        return (
            f"{head}: {o.rows_in} rows in; offline {o.rows_written} written, {o.rows_updated} updated, "
            f"{o.rows_unchanged} unchanged, {o.rows_rejected} rejected (table version {o.table_version}); "
            f"{online}; {self.seconds:.1f}s"
        )


def push(
    spark: SparkSession,
    config: Config,
    view: FeatureView,
    data: Union[DataFrame, pd.DataFrame],
    *,
    on_invalid: OnInvalid = "fail",
    max_items_per_second: Optional[float] = None,
    transaction: Optional[Transaction] = None,
    batch_id: Optional[int] = None,
) -> PushSummary:
    """Upsert rows into a managed view's table and push their latest values online.

    Parameters
    ----------
    spark : SparkSession
        The session to write with (in ``foreachBatch``, the batch DataFrame's own session).
    config : Config
    view : FeatureView
        A view with a ``ManagedSource``; its online table must exist when ``view.online``.
    data : pyspark.sql.DataFrame or pandas.DataFrame
        Rows with the view's join keys, timestamp columns and features.
    on_invalid : {"fail", "quarantine"}
        Rows with a null join key or event timestamp fail the push before anything is written,
        or go to the view's quarantine table (and neither store gets them).
    max_items_per_second : float, optional
        Rate limit of the online write (whole job).
    transaction : Transaction, optional
        Make the offline write idempotent (see :func:`featurespark.offline.writer.write_features`).
    batch_id : int, optional
        Shown in the summary.

    Returns
    -------
    PushSummary

    Raises
    ------
    SchemaMismatchError, InvalidRowsError
        Nothing was written.
    OnlineStoreError
        The offline write succeeded, the online one did not; rerun the push to complete it.

    Examples
    --------
    >>> import pandas as pd
    >>> from featurespark.config import parse_config
    >>> from featurespark.definitions import Entity, Field
    >>> config = parse_config({"project": {"name": "doc"}, "offline_store": {"root": str(tmp_path), "database": "doc"}})
    >>> stats = FeatureView(name="push_stats", entities=[Entity("driver", join_keys={"driver_id": "int64"})],
    ...                     schema=[Field("rate", "float64")], online=False)
    >>> rows = pd.DataFrame({"driver_id": [1, 1, 2], "rate": [0.1, 0.2, 0.3],
    ...                      "event_timestamp": pd.to_datetime(["2026-01-01 10:00", "2026-01-01 11:00", "2026-01-01 10:00"])})
    >>> push(spark, config, stats, rows).line()
    'push_stats: 3 rows in; offline 3 written, 0 updated, 0 unchanged, 0 rejected (table version 1); online: view is offline-only; ...s'
    """
    started = time.monotonic()
    check_writable(view)
    check_option(on_invalid, OnInvalid, "on_invalid")
    # Read once: the caller's lineage may be expensive or non-deterministic, and both stores read it.
    batch = conform_to_view(to_spark(spark, data, view), view, where=f"Batch for '{view.name}'").persist()
    try:
        offline = write_features(spark, view, batch, managed_table_of(config, view), mode="upsert",
                                 on_invalid=on_invalid, transaction=transaction)
        online = None
        if view.online:
            valid = with_reject_reason(batch, view).where(F.col(REJECT_REASON).isNull()).drop(REJECT_REASON)
            online = push_latest(config, view, valid, write_mode="monotonic",
                                 max_items_per_second=max_items_per_second)
    finally:
        batch.unpersist()
    summary = PushSummary(view=view.name, offline=offline, online=online, batch_id=batch_id,
                          seconds=time.monotonic() - started)
    logger.info("Pushed %s", summary.line())
    return summary
