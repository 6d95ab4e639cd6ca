"""Materialization core: the latest row per key, and writing it to the online table with Spark.

Typical use (the caller creates the table first, e.g. with :func:`featurespark.online.ensure_table`)::

    latest = latest_per_key(df, keys=["user_id"], event_timestamp="ts", features=["clicks", "ctr"],
                            start=start, end=end)
    summary = write_online(latest, table_name="fs_user_stats", keys=["user_id"],
                           features=["clicks", "ctr"], event_timestamp="ts", region="eu-west-1")
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping, Optional, Sequence, Union

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from featurespark.errors import InvalidArgumentError, ItemEncodingError, OnlineStoreError, SchemaMismatchError
from featurespark.online.feature_types import FeatureType, feature_type_of, parse_feature_type
from featurespark.online.items import ItemLayout
from featurespark.online.writer import WriteAccumulators, WriterConfig, partition_writer
from featurespark.options import OnlineWriteMode, check_option
from featurespark.retry import DYNAMODB_WRITE_RETRY, RetryPolicy

logger = logging.getLogger(__name__)

__all__ = ["OnlineWriteSummary", "TimeBound", "latest_per_key", "write_items", "write_online"]

TimeBound = Union[datetime, str]
_EVENT_US = "__fs_event_us"
_CREATED_US = "__fs_created_us"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _col(name: str) -> Column:
    """A column by exact name (backticks so dots and spaces in names are not parsed)."""
    return F.col("`" + name.replace("`", "``") + "`")


def _bound(value: TimeBound) -> Column:
    """A timestamp literal for a window bound; strings and naive datetimes are read as UTC in Python,
    whatever the session's time zone."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise InvalidArgumentError(
                f"start/end {value!r} is not an ISO time such as '2026-01-02' or '2026-01-02T03:00:00+00:00'."
            ) from exc
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        return F.timestamp_micros(F.lit((aware - _EPOCH) // timedelta(microseconds=1)))
    raise InvalidArgumentError(f"start/end must be a datetime or timestamp string, got {type(value).__name__}.")


def _check_columns(df: DataFrame, *, keys: Sequence[str], timestamps: Sequence[str], features: Sequence[str]) -> None:
    if not keys:
        raise InvalidArgumentError("keys must name at least one join-key column.")
    names = [*keys, *features]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise InvalidArgumentError(f"Columns {duplicated} are listed more than once among keys and features.")
    fields = {f.name: f.dataType for f in df.schema.fields}
    missing = [n for n in [*keys, *timestamps, *features] if n not in fields]
    if missing:
        raise SchemaMismatchError(f"The DataFrame lacks column(s) {missing}; it has {sorted(fields)}.")
    for name in timestamps:
        if not isinstance(fields[name], (T.TimestampType, T.TimestampNTZType)):
            raise SchemaMismatchError(
                f"Column {name!r} must be a timestamp, found {fields[name].simpleString()}. Cast it with "
                f"F.col({name!r}).cast('timestamp')."
            )


def latest_per_key(
    df: DataFrame,
    *,
    keys: Sequence[str],
    event_timestamp: str,
    features: Sequence[str],
    created_timestamp: Optional[str] = None,
    start: Optional[TimeBound] = None,
    end: Optional[TimeBound] = None,
) -> DataFrame:
    """Keep the latest row per key among rows with ``start <= event_timestamp < end``.

    "Latest" is the greatest ``(event_timestamp, created_timestamp)``; it is found with one aggregation,
    ``max(struct(event_ts, created_ts, *features))`` grouped by the keys, not a window over every row.
    Spark plans ``max`` over a struct as a sort-based partial aggregation: each input partition is
    reduced to one row per key before the single shuffle, so only those rows cross the network. When
    two rows tie on both timestamps, the one with the greater feature values (in Spark's struct
    ordering, nulls first) wins, so the result is deterministic. Rows whose event timestamp or any key
    is null are dropped: they cannot be served.

    Parameters
    ----------
    df : DataFrame
        Source rows.
    keys : sequence of str
        Join-key columns.
    event_timestamp : str
        Event-time column (timestamp).
    features : sequence of str
        Feature columns to keep.
    created_timestamp : str, optional
        Created-time column, the tie-breaker between rows with the same event time.
    start, end : datetime or str, optional
        Half-open event-time window; ISO strings and naive datetimes are UTC.

    Returns
    -------
    DataFrame
        One row per key: the key columns, the timestamp column(s) and the features, same names.

    Raises
    ------
    SchemaMismatchError
        If a column is missing or a timestamp column is not a timestamp.
    InvalidArgumentError
        If no key is given or a column is listed twice.

    Examples
    --------
    >>> df = spark.sql("SELECT * FROM VALUES ('u1', TIMESTAMP'2024-01-01 10:00:00', 3), "
    ...                "('u1', TIMESTAMP'2024-01-01 12:00:00', 5), ('u1', TIMESTAMP'2024-01-03 00:00:00', 9) "
    ...                "AS t(user_id, ts, clicks)")
    >>> df.transform(latest_per_key, keys=["user_id"], event_timestamp="ts", features=["clicks"],
    ...              end="2024-01-02").select("user_id", "clicks").collect()
    [Row(user_id='u1', clicks=5)]
    """
    timestamps = [event_timestamp] + ([created_timestamp] if created_timestamp else [])
    _check_columns(df, keys=keys, timestamps=timestamps, features=features)
    condition = _col(event_timestamp).isNotNull()
    for key in keys:
        condition = condition & _col(key).isNotNull()
    if start is not None:
        condition = condition & (_col(event_timestamp) >= _bound(start))
    if end is not None:
        condition = condition & (_col(event_timestamp) < _bound(end))
    # Positional field names keep the struct free of clashes with user column names.
    fields = [_col(event_timestamp).alias("e")]
    if created_timestamp:
        fields.append(_col(created_timestamp).alias("c"))
    fields += [_col(name).alias(f"f{i}") for i, name in enumerate(features)]
    latest = F.max(F.struct(*fields)).alias("latest")
    grouped = df.where(condition).groupBy(*[_col(k) for k in keys]).agg(latest)
    row = F.col("latest")
    out = [_col(k) for k in keys] + [row.getField("e").alias(event_timestamp)]
    if created_timestamp:
        out.append(row.getField("c").alias(created_timestamp))
    out += [row.getField(f"f{i}").alias(name) for i, name in enumerate(features)]
    return grouped.select(*out)


@dataclass(frozen=True)
class OnlineWriteSummary:
    """What a :func:`write_online` run did.

    Attributes
    ----------
    table_name : str
        The table written.
    items : int
        Items DynamoDB accepted.
    requests : int
        Requests sent, retries included.
    retries : int
        Retries after throttling or unprocessed items.
    skipped_older : int
        Monotonic mode: items not written because the table held a newer event.
    duplicates : int
        Items dropped as older duplicates of a key within one request.
    partitions : int
        Spark tasks that wrote.
    seconds : float
        Wall time of the write.
    skipped_invalid : int
        Materialize runs: source rows not written because their join key or event timestamp is
        null (they cannot be served; a warning names them).
    """

    table_name: str
    items: int
    requests: int
    retries: int
    skipped_older: int
    duplicates: int
    partitions: int
    seconds: float
    skipped_invalid: int = 0

    @property
    def items_per_second(self) -> float:
        """Average items written per second."""
        return self.items / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        return (
            f"{self.items} items to {self.table_name} in {self.seconds:.1f} s ({self.items_per_second:.0f} items/s; "
            f"{self.requests} requests, {self.retries} retries, {self.skipped_older} skipped older, "
            f"{self.duplicates} duplicates, {self.partitions} partitions"
            + (f", {self.skipped_invalid} source rows with a null key or event time skipped" if self.skipped_invalid
               else "") + ")"
        )


def write_online(
    df: DataFrame,
    *,
    table_name: str,
    keys: Sequence[str],
    features: Sequence[str],
    region: str,
    event_timestamp: str = "event_timestamp",
    created_timestamp: Optional[str] = None,
    feature_types: Optional[Mapping[str, str]] = None,
    endpoint_url: Optional[str] = None,
    ttl: Optional[timedelta] = None,
    write_mode: OnlineWriteMode = "last_writer_wins",
    max_items_per_second: Optional[float] = None,
    threads: int = 4,
    retry: RetryPolicy = DYNAMODB_WRITE_RETRY,
    progress_interval_s: float = 30.0,
) -> OnlineWriteSummary:
    """Write one item per row to a DynamoDB table, one batch writer per partition on the executors.

    Normally ``df`` is the output of :func:`latest_per_key`. Timestamps are turned into epoch
    microseconds in Spark, then each task encodes its rows (``docs/online_item_layout.md``) and writes
    them with its own client (see :mod:`featurespark.online.writer`). While it runs, a driver thread
    logs progress at INFO every ``progress_interval_s`` from the Spark accumulators (they advance as
    tasks finish); the summary is logged and returned at the end.

    Parameters
    ----------
    df : DataFrame
        Rows to write; keys should be unique (duplicates within one request keep the newest).
    table_name : str
        Target table (must exist with the online key schema).
    keys : sequence of str
        Join-key columns (string, int or bigint).
    features : sequence of str
        Feature columns.
    region : str
        AWS region.
    event_timestamp : str, optional
        Event-time column.
    created_timestamp : str, optional
        Created-time column (stored as 0 when None).
    feature_types : mapping of str to str, optional
        Feature type names; derived from the schema when None. Given types must match the schema.
    endpoint_url : str, optional
        Endpoint override (a local endpoint).
    ttl : timedelta, optional
        The view's TTL; items get ``expire_at = event time + ttl`` (epoch seconds).
    write_mode : {"last_writer_wins", "monotonic"}, optional
        ``last_writer_wins`` (default, batched): an older run written after a newer one overwrites
        newer values. ``monotonic``: conditional puts that never replace a newer event.
    max_items_per_second : float, optional
        Rate limit of the whole job, split evenly across the partitions (each task gets
        ``max_items_per_second / partitions``; with more partitions than concurrent task slots the
        job stays below the limit).
    threads : int, optional
        Concurrent requests per task (and its connection pool size).
    retry : RetryPolicy, optional
        Retry bound and backoff for throttling and unprocessed items.
    progress_interval_s : float, optional
        Seconds between progress log lines.

    Returns
    -------
    OnlineWriteSummary
        Items, requests, retries, time and rate.

    Raises
    ------
    SchemaMismatchError
        If a column is missing or has a type the online store cannot hold or that differs from
        ``feature_types``.
    InvalidArgumentError
        For inconsistent options.
    OnlineStoreError
        If a task fails (the message carries the task's error, e.g. retries exhausted).

    Examples
    --------
    >>> write_online(latest, table_name="fs_user_stats", keys=["user_id"], features=["clicks"],
    ...              event_timestamp="ts", region="eu-west-1", ttl=timedelta(days=2))  # doctest: +SKIP
    """
    check_option(write_mode, OnlineWriteMode, "write_mode")
    timestamps = [event_timestamp] + ([created_timestamp] if created_timestamp else [])
    _check_columns(df, keys=keys, timestamps=timestamps, features=features)
    schema = {f.name: f.dataType for f in df.schema.fields}
    for name in timestamps:
        if not isinstance(schema[name], T.TimestampType):
            raise SchemaMismatchError(
                f"Column {name!r} is {schema[name].simpleString()}; write_online needs a timestamp with time zone "
                f"semantics (TimestampType). Cast it with F.col({name!r}).cast('timestamp')."
            )
    if max_items_per_second is not None and not max_items_per_second > 0:
        raise InvalidArgumentError(f"max_items_per_second must be positive, got {max_items_per_second!r}.")
    key_types = {k: _key_type(k, schema[k]) for k in keys}
    types = _feature_types(features, schema, feature_types)
    try:
        layout = ItemLayout.build(key_types, types, ttl)
    except ItemEncodingError as exc:
        raise SchemaMismatchError(str(exc)) from exc

    prepared = df.select(
        *[_col(k) for k in keys],
        F.unix_micros(_col(event_timestamp)).alias(_EVENT_US),
        (F.unix_micros(_col(created_timestamp)) if created_timestamp else F.lit(None).cast("long")).alias(_CREATED_US),
        *[_micros(_col(name), types[name]).alias(name) for name in features],
    )
    return write_items(
        prepared.rdd, table_name=table_name, region=region, endpoint_url=endpoint_url, layout=layout,
        write_mode=write_mode, threads=threads, max_items_per_second=max_items_per_second, retry=retry,
        progress_interval_s=progress_interval_s,
    )


def write_items(
    rdd: Any,
    *,
    table_name: str,
    region: str,
    endpoint_url: Optional[str],
    layout: ItemLayout,
    write_mode: OnlineWriteMode,
    threads: int,
    max_items_per_second: Optional[float],
    retry: RetryPolicy,
    encoder: Optional[Any] = None,
    progress_interval_s: float = 30.0,
) -> OnlineWriteSummary:
    """Write the rows of ``rdd`` with one batch writer per partition; the loop shared by every online write.

    Spreads a few partitions over the task slots, splits the rate limit between partitions, logs
    progress, turns a failed task into :class:`OnlineStoreError` and the faults the tasks return
    (:func:`~featurespark.online.writer.partition_writer`) into one error raised on the driver.
    ``encoder`` (optional) turns a row into an item, as ``partition_writer`` takes it.
    """
    started = time.monotonic()
    # One RDD object for both calls: with adaptive execution, getNumPartitions runs the upstream
    # stages once and mapPartitions reuses their output.
    partitions = rdd.getNumPartitions()
    sc = rdd.context
    slots = max(int(sc.defaultParallelism), 1)
    if partitions < slots:
        # Adaptive execution coalesces a small latest-per-key result into few partitions (often one),
        # which would leave task slots, and their request threads, idle while DynamoDB waits. Spread
        # this RDD's rows (its upstream stages already ran) rather than planning the query again.
        rdd = rdd.repartition(slots)
        partitions = slots
    accumulators = WriteAccumulators(*(sc.accumulator(0) for _ in range(5)))
    config = WriterConfig(
        table_name=table_name,
        region=region,
        endpoint_url=endpoint_url,
        layout=layout,
        write_mode=write_mode,
        threads=threads,
        items_per_second_per_task=(max_items_per_second / max(partitions, 1)) if max_items_per_second else None,
        retry=retry,
    )
    logger.info(
        "Writing %d partitions to DynamoDB table %s (%s, %s, %d threads/task)",
        partitions, table_name, write_mode,
        f"{max_items_per_second:g} items/s" if max_items_per_second else "no rate limit", threads,
    )
    writer = partition_writer(config, accumulators) if encoder is None else partition_writer(config, accumulators,
                                                                                             encoder)
    progress = _Progress(table_name, accumulators, progress_interval_s, started)
    progress.start()
    try:
        # The tasks return only their expected faults (a handful of tuples), never rows.
        faults = rdd.mapPartitions(writer).collect()
    except Exception as exc:  # any task failure: Spark wraps it in a Py4J error; re-raised as the domain error
        done = accumulators.items.value
        raise OnlineStoreError(
            f"Writing DynamoDB table {table_name!r} failed in a Spark task ({done} items were written by tasks "
            f"that finished): {_task_error(exc)}"
        ) from exc
    finally:
        progress.stop()
    if faults:
        raise _fault_error(table_name, faults, partitions, int(accumulators.items.value))
    summary = _summary(table_name, accumulators, partitions, time.monotonic() - started)
    logger.info("Online write done: %s", summary)
    return summary


def _key_type(name: str, data_type: T.DataType) -> str:
    if isinstance(data_type, T.StringType):
        return "string"
    if isinstance(data_type, (T.ByteType, T.ShortType, T.IntegerType)):
        return "int32"
    if isinstance(data_type, T.LongType):
        return "int64"
    raise SchemaMismatchError(
        f"Join key {name!r} is {data_type.simpleString()}; online join keys must be string, int or bigint. "
        f"Cast the column."
    )


def _feature_types(
    features: Sequence[str], schema: Mapping[str, T.DataType], declared: Optional[Mapping[str, str]]
) -> dict[str, str]:
    types: dict[str, str] = {}
    for name in features:
        try:
            actual = feature_type_of(schema[name], column=name)
        except ItemEncodingError as exc:
            raise SchemaMismatchError(str(exc)) from exc
        if declared is not None:
            if name not in declared:
                raise SchemaMismatchError(f"feature_types has no type for feature {name!r}.")
            wanted = str(parse_feature_type(declared[name]))
            if wanted != actual:
                raise SchemaMismatchError(
                    f"Feature {name!r} is declared {wanted} but the column is {schema[name].simpleString()} "
                    f"({actual}). Cast the column or fix the declared type."
                )
        types[name] = actual
    return types


def _micros(column: Column, type_name: str) -> Column:
    """Timestamps (also inside arrays) as epoch microseconds, so executors need no time zone."""
    ftype = parse_feature_type(type_name)
    return _micros_of(column, ftype)


def _micros_of(column: Column, ftype: FeatureType) -> Column:
    if ftype.element is not None:
        if "timestamp" not in str(ftype):
            return column
        element = ftype.element
        return F.transform(column, lambda x: _micros_of(x, element))
    return F.unix_micros(column) if ftype.name == "timestamp" else column


class _Progress:
    """A driver thread that logs the accumulators every few seconds while the write runs."""

    def __init__(self, table: str, accumulators: WriteAccumulators, interval_s: float, started: float) -> None:
        self._table = table
        self._accumulators = accumulators
        self._interval_s = max(interval_s, 0.1)
        self._started = started
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fs-online-progress", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5.0)

    def _run(self) -> None:
        while not self._stopped.wait(self._interval_s):
            if logger.isEnabledFor(logging.INFO):
                elapsed = time.monotonic() - self._started
                items = self._accumulators.items.value
                logger.info(
                    "Online write to %s: %d items, %d requests, %d retries after %.0f s (%.0f items/s, "
                    "counted as tasks finish)",
                    self._table, items, self._accumulators.requests.value, self._accumulators.retries.value,
                    elapsed, items / elapsed if elapsed > 0 else 0.0,
                )


def _summary(table: str, accumulators: WriteAccumulators, partitions: int, seconds: float) -> OnlineWriteSummary:
    return OnlineWriteSummary(
        table_name=table,
        items=int(accumulators.items.value),
        requests=int(accumulators.requests.value),
        retries=int(accumulators.retries.value),
        skipped_older=int(accumulators.skipped_older.value),
        duplicates=int(accumulators.duplicates.value),
        partitions=partitions,
        seconds=seconds,
    )


def _fault_error(table: str, faults: list[tuple[str, str]], partitions: int, done: int) -> OnlineStoreError:
    """The error of the first task that met an expected fault, with its class, on the driver."""
    import featurespark.errors as errors

    name, message = faults[0]
    cls = getattr(errors, name, OnlineStoreError)
    if not (isinstance(cls, type) and issubclass(cls, OnlineStoreError)):
        cls = OnlineStoreError
    return cls(
        f"Writing DynamoDB table {table!r} failed in {len(faults)} of {partitions} Spark task(s) ({done} items were "
        f"written by the tasks that completed; rerunning the write is safe): {name}: {message}"
    )


def _task_error(exc: Exception) -> str:
    """The most telling line of a Spark task failure (the featurespark error if there is one)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in reversed(lines):
        if "featurespark.errors." in line:
            return line
    return lines[-1] if lines else repr(exc)
