"""Write online items to DynamoDB from Spark executors (one task = one partition).

:func:`write_partition` is what ``df.foreachPartition`` runs (bind its config with
:func:`partition_writer`). Per task it creates one boto3 client whose connection pool is sized to the
task's threads, an optional token bucket (the job's rate divided by the number of partitions) and a
:class:`BatchWriter`.

Write modes
-----------
``"last_writer_wins"`` (default)
    25-item ``BatchWriteItem`` requests. Cheapest and fastest, but the last request to arrive wins:
    materializing an *older* time range after a newer one overwrites newer values with older ones
    (until the newer range is materialized again). Duplicate keys in one request keep the newest
    ``(event_ts, created_ts)``; duplicates that land in different requests race.
``"monotonic"`` (opt-in)
    One conditional ``PutItem`` per item, in a thread pool, with ``attribute_not_exists(pk) OR
    event_ts < :e OR (event_ts = :e AND created_ts <= :c)``: an older event never replaces a newer
    one. Items refused by the condition are counted as ``skipped_older``. Costs one request per item.

Both modes are idempotent: writing the same partition twice (a retried task) leaves the same state.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

from botocore.exceptions import ClientError

from featurespark.errors import InvalidArgumentError, OnlineStoreError
from featurespark.online.client import dynamodb_client, error_code, with_retries
from featurespark.online.rate_limit import TokenBucket
from featurespark.options import OnlineWriteMode, check_option
from featurespark.retry import DYNAMODB_WRITE_RETRY, RetryPolicy
from featurespark.online.items import (
    CREATED_TS_ATTRIBUTE,
    EVENT_TS_ATTRIBUTE,
    PK_ATTRIBUTE,
    Item,
    ItemLayout,
)

logger = logging.getLogger(__name__)

__all__ = [
    "BatchWriter", "MAX_BATCH_ITEMS", "MONOTONIC_CONDITION", "RowEncoder", "WriteAccumulators", "WriteCounts",
    "TaskFault", "WriterConfig", "partition_writer", "rows_to_items", "write_partition",
]

_CAPACITY_HINT = ("Lower max_items_per_second, raise the table's write capacity (or use on-demand billing), or "
                  "pass a RetryPolicy with more attempts.")
#: DynamoDB's limit of items per BatchWriteItem request.
MAX_BATCH_ITEMS = 25
MONOTONIC_CONDITION = "attribute_not_exists(#pk) OR #e < :e OR (#e = :e AND #c <= :c)"
_CONDITION_NAMES = {"#pk": PK_ATTRIBUTE, "#e": EVENT_TS_ATTRIBUTE, "#c": CREATED_TS_ATTRIBUTE}


@dataclass
class WriteCounts:
    """Counters of one writer (thread-safe through :meth:`add`).

    Attributes
    ----------
    items : int
        Items DynamoDB accepted.
    requests : int
        Requests sent (each attempt counts).
    retries : int
        Retries after throttling or unprocessed items.
    skipped_older : int
        Monotonic mode: items not written because the table holds a newer event.
    duplicates : int
        Items dropped because a newer item with the same key was in the same request.
    """

    items: int = 0
    requests: int = 0
    retries: int = 0
    skipped_older: int = 0
    duplicates: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **deltas: int) -> None:
        """Add to some counters atomically."""
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)


@dataclass(frozen=True)
class WriteAccumulators:
    """Spark accumulators the tasks add their :class:`WriteCounts` to (created on the driver)."""

    items: Any
    requests: Any
    retries: Any
    skipped_older: Any
    duplicates: Any

    def add(self, counts: WriteCounts) -> None:
        """Add a task's counts (call once, from the task's main thread)."""
        self.items.add(counts.items)
        self.requests.add(counts.requests)
        self.retries.add(counts.retries)
        self.skipped_older.add(counts.skipped_older)
        self.duplicates.add(counts.duplicates)


@dataclass(frozen=True)
class WriterConfig:
    """Everything an executor needs to write a partition: picklable plain data.

    Attributes
    ----------
    table_name : str
        Target table.
    region : str
        AWS region.
    endpoint_url : str, optional
        Endpoint override (a local endpoint); None for AWS.
    layout : ItemLayout
        Keys, features, types and TTL.
    write_mode : {"last_writer_wins", "monotonic"}
        See the module docstring.
    threads : int
        Concurrent requests per task; also the size of the task's connection pool.
    items_per_second_per_task : float, optional
        Token-bucket rate of each task; None for no limit.
    retry : RetryPolicy
        Retries of throttled requests and unprocessed items.
    """

    table_name: str
    region: str
    layout: ItemLayout
    endpoint_url: Optional[str] = None
    write_mode: OnlineWriteMode = "last_writer_wins"
    threads: int = 4
    items_per_second_per_task: Optional[float] = None
    retry: RetryPolicy = DYNAMODB_WRITE_RETRY
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        check_option(self.write_mode, OnlineWriteMode, "write_mode")
        if self.threads < 1:
            raise InvalidArgumentError(f"threads must be at least 1, got {self.threads}.")
        if self.items_per_second_per_task is not None and not self.items_per_second_per_task > 0:
            raise InvalidArgumentError(
                f"The rate limit must be positive, got {self.items_per_second_per_task!r} items/s per task."
            )


def _newer(a: Item, b: Item) -> bool:
    """Whether item ``a`` is at least as new as ``b`` by (event_ts, created_ts)."""

    def rank(item: Item) -> tuple[int, int]:
        return int(item[EVENT_TS_ATTRIBUTE]["N"]), int(item[CREATED_TS_ATTRIBUTE]["N"])

    return rank(a) >= rank(b)


class BatchWriter:
    """Write items to one table with retries, a rate limit and a bounded thread pool.

    Parameters
    ----------
    client : DynamoDB client
        Anything with ``batch_write_item`` / ``put_item`` (a stub in tests).
    table_name : str
        Target table.
    write_mode : {"last_writer_wins", "monotonic"}, optional
        See the module docstring.
    threads : int, optional
        Requests in flight at once.
    retry : RetryPolicy, optional
        Backoff and retry bound.
    rate_limiter : TokenBucket, optional
        Takes one token per item sent (retries included).
    sleep : callable, optional
        Sleep function (injectable for tests).
    rng : random.Random, optional
        Jitter source.
    """

    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        write_mode: OnlineWriteMode = "last_writer_wins",
        threads: int = 4,
        retry: RetryPolicy = DYNAMODB_WRITE_RETRY,
        rate_limiter: Optional[TokenBucket] = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Optional[random.Random] = None,
    ) -> None:
        check_option(write_mode, OnlineWriteMode, "write_mode")
        self.client = client
        self.table_name = table_name
        self.write_mode = write_mode
        self.threads = max(1, threads)
        self.retry = retry
        self.rate_limiter = rate_limiter
        self.counts = WriteCounts()
        self._sleep = sleep
        self._rng = rng or random.Random()

    def write(self, items: Iterable[Item]) -> WriteCounts:
        """Write all items; return the counts.

        Raises
        ------
        RetriesExhaustedError
            If a request still had unprocessed or throttled items after ``retry.max_retries`` retries;
            the message says how many items were left.
        TableNotFoundError, DynamoEndpointError, OnlineStoreError
            For other DynamoDB failures.
        """
        jobs: Iterator[Callable[[], None]]
        if self.write_mode == "monotonic":
            jobs = (partial(self._put_conditional, item) for item in items)
        else:
            jobs = (partial(self._write_batch, batch) for batch in self._batches(items))
        self._run(jobs)
        return self.counts

    def _batches(self, items: Iterable[Item]) -> Iterator[list[Item]]:
        pending: dict[str, Item] = {}
        for item in items:
            pk = item[PK_ATTRIBUTE]["S"]
            previous = pending.get(pk)
            if previous is not None:
                self.counts.add(duplicates=1)
                if _newer(previous, item):
                    continue
            pending[pk] = item
            if len(pending) == MAX_BATCH_ITEMS:
                yield list(pending.values())
                pending = {}
        if pending:
            yield list(pending.values())

    def _run(self, jobs: Iterator[Callable[[], None]]) -> None:
        """Run jobs on the pool with at most ``2 * threads`` queued, so a partition is never held in memory."""
        if self.threads == 1:
            for job in jobs:
                job()
            return
        in_flight: set[Future[None]] = set()
        with ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="fs-ddb-write") as pool:
            try:
                for job in jobs:
                    if len(in_flight) >= 2 * self.threads:
                        done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                        for future in done:
                            future.result()
                    in_flight.add(pool.submit(job))
                for future in in_flight:
                    future.result()
            except BaseException:
                for future in in_flight:
                    future.cancel()
                raise

    def _write_batch(self, batch: Sequence[Item]) -> None:
        pending: list[dict[str, Any]] = [{"PutRequest": {"Item": item}} for item in batch]

        def attempt() -> Optional[str]:
            nonlocal pending
            if self.rate_limiter is not None:
                self.rate_limiter.acquire(len(pending))
            response = self.client.batch_write_item(RequestItems={self.table_name: pending})
            left = list(response.get("UnprocessedItems", {}).get(self.table_name, []))
            self.counts.add(requests=1, items=len(pending) - len(left))
            pending = left
            return "UnprocessedItems" if left else None

        self._send(attempt, "writing items", lambda cause: (
            f"{len(pending)} of {len(batch)} items of a BatchWriteItem request to table {self.table_name!r} were "
            f"still not written after {self.retry.max_retries} retries (last cause: {cause}); this task had "
            f"written {self.counts.items} items. {_CAPACITY_HINT}"))

    def _put_conditional(self, item: Item) -> None:
        def attempt() -> Optional[str]:
            if self.rate_limiter is not None:
                self.rate_limiter.acquire(1)
            try:
                self.client.put_item(
                    TableName=self.table_name,
                    Item=item,
                    ConditionExpression=MONOTONIC_CONDITION,
                    ExpressionAttributeNames=_CONDITION_NAMES,
                    ExpressionAttributeValues={":e": item[EVENT_TS_ATTRIBUTE], ":c": item[CREATED_TS_ATTRIBUTE]},
                )
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
                self.counts.add(requests=1, skipped_older=1)
                return None
            self.counts.add(requests=1, items=1)
            return None

        self._send(attempt, "writing an item", lambda cause: (
            f"1 item (pk {item[PK_ATTRIBUTE]['S']!r}) of a conditional PutItem to table {self.table_name!r} was "
            f"still not written after {self.retry.max_retries} retries (last cause: {cause}); this task had "
            f"written {self.counts.items} items. {_CAPACITY_HINT}"))

    def _send(self, attempt: Callable[[], Optional[str]], action: str, exhausted: Callable[[str], str]) -> None:
        with_retries(
            attempt, policy=self.retry, client=self.client, action=action, table=self.table_name,
            exhausted=exhausted, sleep=self._sleep, rng=self._rng,
            on_retry=lambda: self.counts.add(retries=1), on_failed_request=lambda: self.counts.add(requests=1),
        )


#: Turns a partition's rows into items (picklable: it travels to the executors).
RowEncoder = Callable[[Iterable[Sequence[Any]]], Iterator[Item]]


def rows_to_items(rows: Iterable[Sequence[Any]], layout: ItemLayout) -> Iterator[Item]:
    """Encode rows shaped ``(*keys, event_us, created_us, *features)`` as items.

    This is the row shape :func:`featurespark.online.materialize.write_online` selects; timestamps
    (event, created and timestamp features) arrive as epoch microseconds.
    """
    n_keys = len(layout.keys)
    for row in rows:
        yield layout.encode(row[:n_keys], row[n_keys + 2 :], row[n_keys], row[n_keys + 1])


@lru_cache(maxsize=8)
def _worker_client(region: str, endpoint_url: Optional[str], threads: int, connect_timeout_s: float,
                   read_timeout_s: float) -> Any:
    """One client per Python worker and settings: Spark reuses workers across tasks, and building a
    boto3 client costs a fraction of a second. Clients are thread-safe, and refresh role credentials."""
    return dynamodb_client(region=region, endpoint_url=endpoint_url, max_pool_connections=threads,
                           connect_timeout_s=connect_timeout_s, read_timeout_s=read_timeout_s)


def write_partition(
    rows: Iterable[Sequence[Any]],
    config: WriterConfig,
    accumulators: Optional[WriteAccumulators] = None,
    client: Optional[Any] = None,
    encode: Optional[RowEncoder] = None,
) -> WriteCounts:
    """Write one partition's rows (the body of ``foreachPartition``).

    Parameters
    ----------
    rows : iterable of row tuples
        Rows shaped ``(*keys, event_us, created_us, *features)``.
    config : WriterConfig
        Plain, picklable write settings.
    accumulators : WriteAccumulators, optional
        Spark accumulators to add the task's counts to.
    client : DynamoDB client, optional
        For tests; by default a client from the default credential chain shared by the tasks of a
        Python worker that have the same settings, its connection pool sized to ``config.threads``.
    encode : callable, optional
        Turns the partition's rows into items (default: :func:`rows_to_items` with ``config.layout``);
        aggregation items use their own encoder (:mod:`featurespark.online.tiles`).

    Returns
    -------
    WriteCounts
        The task's counts.
    """
    if client is None:
        client = _worker_client(config.region, config.endpoint_url, config.threads, config.connect_timeout_s,
                                config.read_timeout_s)
    limiter = (
        TokenBucket(config.items_per_second_per_task, max(float(MAX_BATCH_ITEMS), config.items_per_second_per_task))
        if config.items_per_second_per_task
        else None
    )
    writer = BatchWriter(
        client,
        config.table_name,
        write_mode=config.write_mode,
        threads=config.threads,
        retry=config.retry,
        rate_limiter=limiter,
    )
    started = time.monotonic()
    items = encode(rows) if encode is not None else rows_to_items(rows, config.layout)
    counts = writer.write(items)
    logger.debug(
        "Wrote %d items to %s in %.2f s (%d requests, %d retries, %d skipped older)",
        counts.items, config.table_name, time.monotonic() - started, counts.requests, counts.retries,
        counts.skipped_older,
    )
    if accumulators is not None:
        accumulators.add(counts)
    return counts


#: What a partition writer yields when its task met an expected fault: the error's class name and message.
TaskFault = tuple[str, str]


def partition_writer(
    config: WriterConfig, accumulators: Optional[WriteAccumulators] = None, encode: Optional[RowEncoder] = None
) -> Callable[[Iterable[Sequence[Any]]], Iterator[TaskFault]]:
    """A picklable per-partition writer for ``rdd.mapPartitions(...).collect()``.

    Each task writes its partition with ``config``. An expected fault (an
    :class:`~featurespark.errors.OnlineStoreError`: retries exhausted, table missing, endpoint down, an
    item that does not encode) is yielded as ``(error class name, message)`` instead of failing the
    task, so the driver raises one clean error and Spark logs no executor traceback for it; anything
    else fails the task as usual.

    Examples
    --------
    >>> failures = prepared.rdd.mapPartitions(partition_writer(config, accumulators)).collect()  # doctest: +SKIP
    """
    return _PartitionWriter(config, accumulators, encode)


@dataclass(frozen=True)
class _PartitionWriter:
    config: WriterConfig
    accumulators: Optional[WriteAccumulators] = None
    encode: Optional[RowEncoder] = None

    def __call__(self, rows: Iterable[Sequence[Any]]) -> Iterator[TaskFault]:
        try:
            write_partition(rows, self.config, self.accumulators, encode=self.encode)
        except OnlineStoreError as exc:
            yield type(exc).__name__, str(exc)
