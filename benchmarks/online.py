"""Online-store benchmarks against one DynamoDB Local: materialize throughput and lookup latency.

Materialize (items per second, the whole call timed):

- ``featurespark``: ``FeatureStore.materialize`` of the three views (Spark reads the files, keeps
  the latest row per key, ``foreachPartition`` writers with 4 threads per task, 2 task slots).
- ``feast``: ``FeatureStore.materialize`` (Spark offline store pulls the latest rows, Feast's local
  engine converts them and writes with its DynamoDB store).
- ``raw_loop``: the ceiling: the same items as featurespark writes, encoded beforehand (not
  timed), sent by a plain ``BatchWriteItem`` loop of 25-item requests on ``RAW_THREADS`` threads,
  the same number of requests in flight as featurespark (2 tasks x 4 threads).

Lookups (latency per call of 1 or 100 entity rows, features of all three views): featurespark's
``get_online_features(...).to_dict()``, Feast's ``get_online_features(...).to_dict()`` and raw
``BatchGetItem`` calls for the same keys on featurespark's tables (100 keys per request, requests
in parallel on a pool of the reader's size). Calls are interleaved (one call of each system in
turn, order rotated), so background load hits all three alike.
"""
from __future__ import annotations

import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, Callable, Dict, List, Mapping, Sequence

import boto3
from pyspark.sql import SparkSession

from benchmarks.systems import FEATURES, REGION, VIEW_NAMES, VIEWS

logger = logging.getLogger(__name__)

#: Requests in flight in the raw write loop: featurespark's 2 task slots x 4 writer threads.
RAW_THREADS = 8
#: Threads of the raw read path: featurespark's OnlineReader default.
RAW_READ_THREADS = 8


def _client(endpoint_url: str, pool: int) -> Any:
    from botocore.config import Config

    return boto3.session.Session().client(
        "dynamodb", endpoint_url=endpoint_url, region_name=REGION,
        config=Config(max_pool_connections=pool, retries={"mode": "standard", "total_max_attempts": 3}),
    )


def raw_items(spark: SparkSession, store: Any, start: datetime, end: datetime) -> Dict[str, List[dict]]:
    """featurespark's items for every view (latest row per key, encoded), built on the driver; not timed."""
    from featurespark.offline.sources import read_source
    from featurespark.services.locations import managed_table_of
    from featurespark.online.items import ItemLayout
    from featurespark.online.materialize import latest_per_key

    out = {}
    for name in VIEW_NAMES:
        view = store.get_feature_view(name)
        layout = ItemLayout.build({k.name: k.dtype for k in view.join_key_fields},
                                  {f.name: f.dtype for f in view.schema}, view.ttl)
        latest = latest_per_key(
            read_source(spark, view, managed=managed_table_of(store.config, view)), keys=view.join_keys,
            event_timestamp=view.timestamp_field, features=view.feature_names,
            created_timestamp=view.created_timestamp_field, start=start, end=end,
        )
        created = view.created_timestamp_field
        items = []
        for row in latest.toLocalIterator():
            items.append(layout.encode([row[k] for k in view.join_keys], [row[f] for f in view.feature_names],
                                       row[view.timestamp_field], row[created] if created else None))
        out[name] = items
    return out


def ensure_raw_tables(endpoint_url: str, names: Sequence[str]) -> None:
    """Create the raw loop's tables with featurespark's key schema (``pk`` string hash key)."""
    from featurespark.online.tables import ensure_table

    client = _client(endpoint_url, 4)
    for name in names:
        ensure_table(client, name, billing_mode="PAY_PER_REQUEST")


def raw_write(endpoint_url: str, tables: Mapping[str, List[dict]]) -> int:
    """Write pre-encoded items with ``BatchWriteItem`` on ``RAW_THREADS`` threads; return items written."""
    client = _client(endpoint_url, RAW_THREADS)

    def send(table: str, batch: List[dict]) -> int:
        request = {table: [{"PutRequest": {"Item": item}} for item in batch]}
        for _ in range(20):
            left = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
            if not left:
                return len(batch)
            request = left
            time.sleep(0.01)
        raise RuntimeError(f"raw loop: unprocessed items left for {table}")

    with ThreadPoolExecutor(max_workers=RAW_THREADS) as pool:
        futures = [pool.submit(send, table, items[i:i + 25])
                   for table, items in tables.items() for i in range(0, len(items), 25)]
        return sum(f.result() for f in futures)


class RawReader:
    """Plain ``BatchGetItem`` calls for the keys of all three views (the lookup floor)."""

    def __init__(self, endpoint_url: str, fs_store: Any) -> None:
        from featurespark.online.items import ItemLayout
        from featurespark.services.locations import online_table_name

        self.client = _client(endpoint_url, RAW_READ_THREADS)
        self.pool = ThreadPoolExecutor(max_workers=RAW_READ_THREADS)
        self.tables = []
        for name in VIEW_NAMES:
            view = fs_store.get_feature_view(name)
            layout = ItemLayout.build({k.name: k.dtype for k in view.join_key_fields},
                                      {f.name: f.dtype for f in view.schema})
            self.tables.append((online_table_name(fs_store.config, view), layout, list(view.join_keys)))

    def _get(self, keys: List[tuple]) -> int:
        request: Dict[str, Any] = {}
        for table, pk in keys:
            request.setdefault(table, {"Keys": []})["Keys"].append({"pk": {"S": pk}})
        found = 0
        while request:
            response = self.client.batch_get_item(RequestItems=request)
            found += sum(len(v) for v in response.get("Responses", {}).values())
            request = response.get("UnprocessedKeys") or {}
        return found

    def get(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Fetch every view's item for ``rows``; return the number of items found."""
        wanted = list(dict.fromkeys(
            (table, layout.partition_key([row[k] for k in keys])) for table, layout, keys in self.tables for row in rows
        ))
        chunks = [wanted[i:i + 100] for i in range(0, len(wanted), 100)]
        return sum(self.pool.map(self._get, chunks))


def materialize_cases(
    spark: SparkSession, fs_store: Any, feast_store: Any, endpoint_url: str, start: datetime, end: datetime,
    raw_project: str,
) -> tuple[Dict[str, Callable[[], int]], int]:
    """The three materialize cases (each returns items written) and the expected item count.

    The raw loop writes into tables ``<raw_project>.<view>`` with featurespark's key schema.
    """
    items = raw_items(spark, fs_store, start, end)
    raw_tables = {f"{raw_project}.{name}": rows for name, rows in items.items()}
    ensure_raw_tables(endpoint_url, list(raw_tables))
    expected = sum(len(v) for v in items.values())

    def featurespark() -> int:
        summaries = fs_store.materialize(start, end, VIEW_NAMES)
        return sum(s.items for s in summaries.values())

    def feast() -> int:
        feast_store.materialize(start_date=start, end_date=end, feature_views=VIEW_NAMES)
        return expected  # Feast does not report counts; it writes one item per key, as checked below

    def raw_loop() -> int:
        return raw_write(endpoint_url, raw_tables)

    return {"featurespark": featurespark, "feast": feast, "raw_loop": raw_loop}, expected


def run_materialize(size_name: str, cases: Mapping[str, Callable[[], int]], expected: int,
                    runs: int) -> List[Dict[str, Any]]:
    """Time each case ``runs`` times in rotating order; records carry items and items per second."""
    names = list(cases)
    records = []
    for run in range(runs):
        for name in names[run % len(names):] + names[: run % len(names)]:
            started = time.perf_counter()
            items = cases[name]()
            seconds = time.perf_counter() - started
            logger.info("materialize %s: %d items in %.2f s (%.0f items/s)", name, items, seconds, items / seconds)
            records.append({"bench": "materialize", "size": size_name, "system": name, "run": run,
                            "seconds": seconds, "items": items, "items_per_second": items / seconds,
                            "expected_items": expected})
    return records


def count_items(endpoint_url: str, table: str) -> int:
    """Items in a table (a full scan with ``Select=COUNT``)."""
    client = _client(endpoint_url, 2)
    total, kwargs = 0, {"TableName": table, "Select": "COUNT"}
    while True:
        page = client.scan(**kwargs)
        total += page["Count"]
        if "LastEvaluatedKey" not in page:
            return total
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def run_lookups(
    size_name: str, fs_store: Any, feast_store: Any, raw: RawReader, key_pool: Sequence[Mapping[str, Any]],
    *, calls: Mapping[int, int], warmup: int = 20, seed: int = 5,
) -> List[Dict[str, Any]]:
    """Latency of lookups of 1 and 100 entity rows; one record per system, batch size and call."""
    systems: Dict[str, Callable[[Sequence[Mapping[str, Any]]], Any]] = {
        "featurespark": lambda rows: fs_store.get_online_features(FEATURES, rows).to_dict(),
        "feast": lambda rows: feast_store.get_online_features(features=FEATURES, entity_rows=list(rows)).to_dict(),
        "raw_batch_get": raw.get,
    }
    return [{"bench": "online", "size": size_name, **timing}
            for timing in interleaved_calls(systems, key_pool, calls=calls, warmup=warmup, seed=seed)]


def interleaved_calls(
    systems: Mapping[str, Callable[[Sequence[Mapping[str, Any]]], Any]], key_pool: Sequence[Mapping[str, Any]],
    *, calls: Mapping[int, int], warmup: int = 20, seed: int = 5,
) -> List[Dict[str, Any]]:
    """Time each system on the same random entity rows, one call of each in turn (order rotated, so
    background load hits all alike); ``{"system", "batch", "seconds"}`` per timed call after ``warmup``."""
    rng = random.Random(seed)
    names = list(systems)
    records = []
    for batch, n in calls.items():
        for i in range(warmup + n):
            rows = rng.sample(list(key_pool), batch) if batch <= len(key_pool) else list(key_pool)[:batch]
            for name in names[i % len(names):] + names[: i % len(names)]:
                started = time.perf_counter()
                systems[name](rows)
                seconds = time.perf_counter() - started
                if i >= warmup:
                    records.append({"system": name, "batch": batch, "seconds": seconds})
    return records


def check_lookup_agreement(fs_store: Any, feast_store: Any, rows: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """Whether featurespark and Feast return the same online values for ``rows`` (per feature).

    TTL-expired values differ by design (featurespark returns None past the TTL measured from now;
    Feast 0.67's DynamoDB store returns the stored value), so only features of views without a TTL
    and the key coverage are compared strictly; the others are reported.
    """
    fs = fs_store.get_online_features(FEATURES, rows).to_dict()
    fe = feast_store.get_online_features(features=FEATURES, entity_rows=list(rows)).to_dict()
    out: Dict[str, Any] = {}
    for view in VIEWS:
        for f in view.features:
            a, b = fs.get(f, []), fe.get(f, [])
            same = sum(1 for x, y in zip(a, b) if x == y or (isinstance(x, float) and y is not None
                                                             and abs(x - float(y)) < 1e-6))
            out[f] = {"equal": same, "rows": len(rows), "fs_non_null": sum(x is not None for x in a),
                      "feast_non_null": sum(y is not None for y in b)}
    return out
