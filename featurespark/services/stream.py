"""Stream service: Structured Streaming into both stores, every micro-batch one idempotent :func:`push`.

:func:`write_stream` starts a ``foreachBatch`` query whose batches are upserted into the view's
table as an idempotent write keyed by (query id, batch id), then pushed to DynamoDB with conditional
writes. After a crash, Spark replays the unfinished batch from the checkpoint: the Delta commit it may
already have made is skipped (Iceberg: its quarantine append is skipped and its MERGE finds the rows
already written), the online write is repeated (harmless: an item never replaces a newer event), so
each store ends with every event once.

The returned :class:`FeatureStream` is the caller's handle: it owns the query's batch writer (with
the summaries of the batches written in this process) and its progress listener. The listener leaves the
session when its query ends, however it ends (stopped, awaited, finished or failed): PySpark converts every
progress event for every registered Python listener, tens of py4j calls each, so listeners left behind would
make each later query's batches cost more driver time. Nothing is kept in module-level state.
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any, Deque, Mapping, Optional

from pyspark.sql import DataFrame
from pyspark.sql.streaming import StreamingQuery, StreamingQueryListener, StreamingQueryManager

from featurespark.config import Config
from featurespark.definitions import AggregationView, FeatureView
from featurespark.definitions.views import AnyView
from featurespark.errors import InvalidArgumentError, StreamFailedError
from featurespark.offline.sources import check_source_schema
from featurespark.offline.tables import ensure_managed_table
from featurespark.offline.validation import conform_to_view
from featurespark.offline.writer import check_writable
from featurespark.options import OnInvalid, StreamOutputMode, check_option
from featurespark.services.locations import managed_table_of
from featurespark.services.materialize import ensure_online_tables
from featurespark.offline.table_format import Transaction
from featurespark.services.push import PushSummary, push
from featurespark.services.push_events import check_pushable, push_events

logger = logging.getLogger(__name__)

__all__ = [
    "FeatureStream", "MicroBatchWriter", "SUMMARIES_KEPT", "TRIGGER_KEYS", "query_error", "write_stream",
]

#: Trigger keywords of ``DataStreamWriter.trigger`` that work with ``foreachBatch``.
TRIGGER_KEYS = ("processingTime", "once", "availableNow")
#: Batch summaries kept per stream (see :meth:`FeatureStream.summaries`).
SUMMARIES_KEPT = 1000
#: How long the first batch waits for ``start()`` to hand over the query id.
_QUERY_ID_WAIT_S = 600.0


class MicroBatchWriter:
    """The ``foreachBatch`` function of :func:`write_stream` (one per query).

    Parameters
    ----------
    config : Config
    view : FeatureView or AggregationView
    on_invalid : {"fail", "quarantine"}
    max_items_per_second : float, optional
        Online rate limit applied to every batch.
    """

    def __init__(self, config: Config, view: AnyView, on_invalid: OnInvalid,
                 max_items_per_second: Optional[float]) -> None:
        self.config = config
        self.view = view
        self.on_invalid = on_invalid
        self.max_items_per_second = max_items_per_second
        self.summaries: Deque[PushSummary] = deque(maxlen=SUMMARIES_KEPT)
        self._query_id: Optional[str] = None
        self._started = threading.Event()

    def started(self, query: StreamingQuery) -> None:
        """Hand over the started query's id, the idempotent-write application id of its batches."""
        self._query_id = str(query.id)
        self._started.set()

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        # start() returns right after the query thread starts, which may already run batch 0.
        if not self._started.wait(_QUERY_ID_WAIT_S) or self._query_id is None:
            raise StreamFailedError(
                f"The streaming query of view '{self.view.name}' never received its query id within "
                f"{_QUERY_ID_WAIT_S:.0f} s; batch {batch_id} was not written. Restart the stream from its checkpoint."
            )
        transaction = Transaction(app_id=self._query_id, version=batch_id)
        if isinstance(self.view, AggregationView):
            summary = push_events(batch.sparkSession, self.config, self.view, batch,
                                  max_items_per_second=self.max_items_per_second, transaction=transaction,
                                  batch_id=batch_id)
        else:
            summary = push(
                batch.sparkSession, self.config, self.view, batch, on_invalid=self.on_invalid,
                max_items_per_second=self.max_items_per_second, transaction=transaction, batch_id=batch_id,
            )
        self.summaries.append(summary)

    def summary_of(self, batch_id: int) -> Optional[PushSummary]:
        """The summary of a batch this process wrote, if it is still kept."""
        return next((s for s in reversed(self.summaries) if s.batch_id == batch_id), None)


class _ProgressLogger(StreamingQueryListener):
    """Logs one line per progress event of one query: Spark's rates plus the batch summary.

    It removes itself from ``streams`` once its query has ended (:meth:`detach`).
    """

    def __init__(self, writer: MicroBatchWriter, streams: StreamingQueryManager) -> None:
        super().__init__()
        self.writer = writer
        self.query_id: Optional[str] = None
        self._streams = streams
        self._lock = threading.Lock()
        self._attached = False

    def attach(self) -> None:
        """Register on the session (before the query starts, so that no event of it is missed)."""
        with self._lock:
            self._streams.addListener(self)
            self._attached = True

    def detach(self) -> None:
        """Leave the session; a no-op when already gone."""
        with self._lock:
            attached, self._attached = self._attached, False
            if attached:
                self._streams.removeListener(self)

    def watch(self, query: StreamingQuery) -> None:
        """Follow ``query``: from now on its events are this listener's, and it leaves with the query.

        A query may end before this is called (an empty ``availableNow`` run): its end event was then not
        recognised, so it is checked here.
        """
        self.query_id = str(query.id)
        if not query.isActive:
            self.detach()

    def onQueryStarted(self, event: Any) -> None:  # noqa: N802 - Spark's listener interface
        pass

    def onQueryProgress(self, event: Any) -> None:  # noqa: N802
        progress = event.progress
        if str(progress.id) != self.query_id:
            return
        summary = self.writer.summary_of(progress.batchId)
        logger.info(
            "Stream %s batch %d: %d input rows, %.0f rows/s in, %.0f rows/s processed, %.1fs; %s",
            progress.name, progress.batchId, progress.numInputRows, progress.inputRowsPerSecond or 0.0,
            progress.processedRowsPerSecond or 0.0, (progress.batchDuration or 0) / 1000.0,
            summary.line() if summary else "no rows written",
        )

    def onQueryIdle(self, event: Any) -> None:  # noqa: N802 - Spark >= 3.5 only
        pass

    def onQueryTerminated(self, event: Any) -> None:  # noqa: N802
        if str(event.id) != self.query_id:
            return
        if event.exception:
            logger.error("Stream of view '%s' (id %s) failed: %s", self.writer.view.name, event.id,
                         str(event.exception).splitlines()[0])
        else:
            logger.info("Stream of view '%s' (id %s) stopped", self.writer.view.name, event.id)
        # Not from this thread: it is Spark's listener thread, in the middle of delivering this event.
        threading.Thread(target=self._detach_quietly, name="featurespark-listener-detach", daemon=True).start()

    def _detach_quietly(self) -> None:
        try:
            self.detach()
        except Exception:  # noqa: BLE001 - the session may be stopping; the listener goes with it then
            logger.debug("Could not remove the progress listener of query %s", self.query_id, exc_info=True)


def query_error(query: StreamingQuery) -> Optional[str]:
    """The most telling line of a failed query's error (featurespark's own message when there is one).

    A ``foreachBatch`` error reaches the driver wrapped in Spark's and py4j's stack traces; this
    finds the line that says what went wrong, e.g. ``InvalidRowsError: 2 of 10 row(s) ...``.
    """
    exc = query.exception()
    if exc is None:
        return None
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    prefix = "featurespark.errors."
    for line in lines:
        if line.startswith(prefix) and "Error" in line.split(":", 1)[0]:
            return line[len(prefix):]
    return lines[0] if lines else repr(exc)


class FeatureStream:
    """A running :func:`write_stream` query, its batch summaries and its progress listener.

    Every attribute of :class:`pyspark.sql.streaming.StreamingQuery` is available on it (``id``,
    ``isActive``, ``lastProgress``, ``processAllAvailable()``, ...).

    Attributes
    ----------
    query : StreamingQuery
    view : str
    """

    def __init__(self, query: StreamingQuery, writer: MicroBatchWriter, listener: _ProgressLogger) -> None:
        self.query = query
        self.view = writer.view.name
        self._writer = writer
        self._listener = listener

    def __getattr__(self, name: str) -> Any:
        return getattr(self.query, name)

    def summaries(self) -> list[PushSummary]:
        """Summaries of the batches this process wrote (the last :data:`SUMMARIES_KEPT`)."""
        return list(self._writer.summaries)

    def error(self) -> Optional[str]:
        """The telling line of the query's error, or None while it runs or after a clean stop."""
        return query_error(self.query)

    def stop(self) -> None:
        """Stop the query and remove its progress listener."""
        try:
            self.query.stop()
        finally:
            self._listener.detach()

    def await_termination(self, timeout_s: Optional[int] = None) -> bool:
        """Wait for the query to end (or ``timeout_s``); True when it ended.

        Raises
        ------
        StreamFailedError
            If the query failed; the message is its telling line, and a restart from the same
            checkpoint resumes the unfinished batch.
        """
        try:
            if timeout_s is None:
                self.query.awaitTermination()
                ended = True
            else:
                ended = bool(self.query.awaitTermination(timeout_s))
        except Exception as exc:  # noqa: BLE001 - a failed query surfaces as Spark's exception type
            self._listener.detach()
            raise StreamFailedError(
                f"Stream into '{self.view}' failed: {self.error() or exc}. Restart it with the same "
                "checkpoint_location to resume the unfinished batch."
            ) from exc
        if ended:
            self._listener.detach()
        return ended


def write_stream(
    config: Config,
    view: AnyView,
    streaming_df: DataFrame,
    *,
    checkpoint_location: str,
    trigger: Optional[Mapping[str, Any]] = None,
    max_items_per_second: Optional[float] = None,
    on_invalid: OnInvalid = "fail",
    output_mode: StreamOutputMode = "update",
    query_name: Optional[str] = None,
) -> FeatureStream:
    """Start a streaming query that writes every micro-batch to the offline and online stores.

    Parameters
    ----------
    config : Config
    view : FeatureView or AggregationView
        A registered feature view with a ``ManagedSource``, or an aggregation view with a ``DeltaSource``:
        each batch's events are appended to the source and the online items of the keys they touch are
        rebuilt (:func:`featurespark.services.push_events.push_events`; ``on_invalid`` must be ``"fail"``).
    streaming_df : DataFrame
        A streaming DataFrame with the view's join keys, timestamp columns and features.
    checkpoint_location : str
        Folder (local or S3) of the query's checkpoint; restart with the same folder to resume.
    trigger : mapping, optional
        Keyword arguments of ``DataStreamWriter.trigger``: ``{"processingTime": "30 seconds"}``,
        ``{"availableNow": True}`` or ``{"once": True}``. Default: as fast as batches complete.
    max_items_per_second : float, optional
        Rate limit of each batch's online write, shared by its Spark tasks.
    on_invalid : {"fail", "quarantine"}
        Rows with a null key or event time stop the query before the batch is written, or go to
        the view's quarantine table.
    output_mode : {"update", "append", "complete"}
        Passed to Spark; ``update`` suits both plain and aggregating streams (upserts absorb updates).
    query_name : str, optional
        Default ``featurespark_<view>``.

    Returns
    -------
    FeatureStream
        The query (every ``StreamingQuery`` attribute works on it) with its batch summaries.

    Raises
    ------
    InvalidArgumentError
        Not a streaming DataFrame, a view featurespark does not own, or bad options.
    SchemaMismatchError
        The stream's columns do not fit the view (checked before the query starts).

    Examples
    --------
    >>> query = write_stream(config, view, events, checkpoint_location="s3://bucket/checkpoints/driver_stats",
    ...                      trigger={"processingTime": "1 minute"}, max_items_per_second=500)  # doctest: +SKIP
    >>> query.awaitTermination()  # doctest: +SKIP
    """
    if not isinstance(streaming_df, DataFrame) or not streaming_df.isStreaming:
        raise InvalidArgumentError(
            "write_stream needs a streaming DataFrame (spark.readStream...); for a batch DataFrame use "
            "FeatureStore.push."
        )
    if isinstance(view, AggregationView):
        check_pushable(view, on_invalid)
    else:
        check_writable(view)
    if not checkpoint_location:
        raise InvalidArgumentError("checkpoint_location is required: it is where the query resumes after a restart.")
    _check_trigger(trigger)
    check_option(output_mode, StreamOutputMode, "output_mode")
    check_option(on_invalid, OnInvalid, "on_invalid")
    if max_items_per_second is not None and not max_items_per_second > 0:
        raise InvalidArgumentError(f"max_items_per_second must be positive, found {max_items_per_second!r}.")
    spark = streaming_df.sparkSession
    if isinstance(view, AggregationView):
        check_source_schema(view, streaming_df)  # schema errors before start
    else:
        conform_to_view(streaming_df, view, where=f"Stream for '{view.name}'")  # schema errors before start
        # Created before the query starts: a table created inside a batch's idempotent transaction
        # would record the batch's version and make Delta skip that batch's own upsert.
        ensure_managed_table(spark, view, managed_table_of(config, view))
    if view.online and config.online_store.manage_tables:
        ensure_online_tables(config, [view])

    handler = MicroBatchWriter(config, view, on_invalid, max_items_per_second)
    listener = _ProgressLogger(handler, spark.streams)
    listener.attach()
    writer = (
        streaming_df.writeStream.foreachBatch(handler)
        .outputMode(output_mode)
        .option("checkpointLocation", checkpoint_location)
        .queryName(query_name or f"featurespark_{view.name}")
    )
    if trigger:
        writer = writer.trigger(**trigger)
    try:
        query = writer.start()
    except BaseException:
        listener.detach()
        raise
    listener.watch(query)
    handler.started(query)
    logger.info("Streaming into '%s' (query %s, checkpoint %s)", view.name, query.id, checkpoint_location)
    return FeatureStream(query, handler, listener)


def _check_trigger(trigger: Optional[Mapping[str, Any]]) -> None:
    if trigger is None:
        return
    if not isinstance(trigger, Mapping) or len(trigger) != 1 or next(iter(trigger)) not in TRIGGER_KEYS:
        raise InvalidArgumentError(
            f"trigger must be one of {{'processingTime': '30 seconds'}}, {{'availableNow': True}} or "
            f"{{'once': True}}; found {trigger!r}."
        )
