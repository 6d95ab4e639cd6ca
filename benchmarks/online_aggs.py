"""Online aggregation lookups and push freshness (issue #14), against the local DynamoDB endpoint.

One online :class:`~featurespark.AggregationView` over generated trip events (a Delta source): count, sum
and mean of ``fare`` over 1h, 1d, 7d and 30d and the max fare over 1d, with a one-hour horizon. After one
``materialize``, the benchmark times, interleaved call by call (order rotated, so background load hits
both alike):

- ``featurespark``: ``FeatureStore.get_online_features`` of every window value for 1 or 100 entity rows
  (``BatchGetItem`` of the items, then decoding the tiles and evaluating the windows on the caller);
- ``raw_batch_get``: ``BatchGetItem`` of the same items (100 keys per request, requests in parallel on
  a pool of the reader's size), returning the undecoded items: the floor of any reader.

Freshness: ``FeatureStore.push`` of one new event for a key, then one lookup of that key; the time from
the start of the push until the lookup returns a value that counts the event (push appends the event to
the Delta source and rebuilds the touched key's item from the source, synchronously).

    bash benchmarks/run.sh online-aggregations [--keys 2000] [--events-per-key 200] [--calls 1=300,100=100]

Results go to ``benchmarks/results/online_aggregations.json`` and BENCHMARKS.md is regenerated with
its section (:func:`section`).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import random
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Sequence

import pandas as pd

from benchmarks.bench import environment, start_spark
from benchmarks.online import RAW_READ_THREADS, _client, interleaved_calls
from featurespark import Aggregation, AggregationView, FeatureStore
from featurespark.definitions import DeltaSource, Entity, Field
from featurespark.online.items import PK_ATTRIBUTE, encode_partition_key

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_WORK = REPO / ".featurespark" / "bench-online-aggs"
RESULTS = REPO / "benchmarks" / "results" / "online_aggregations.json"
VIEW = "driver_trip_aggs"
WINDOWS = ["1h", "1d", "7d", "30d"]
AGGREGATIONS = [
    Aggregation("fare", "count", WINDOWS),
    Aggregation("fare", "sum", WINDOWS),
    Aggregation("fare", "mean", WINDOWS),
    Aggregation("fare", "max", ["1d"]),
]

CONFIG = """\
project:
  name: bench_online_aggs
offline_store:
  root: {root}/offline
  database: bench_online_aggs
online_store:
  type: dynamodb
  region: us-east-1
  endpoint_url: {endpoint}
  table_name_template: "{{project}}.{{view}}.{run}"
"""


def _parse_calls(text: str) -> Dict[int, int]:
    pairs = (part.split("=", 1) for part in text.split(",") if part)
    return {int(batch): int(n) for batch, n in pairs}


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def build_store(spark: Any, work: Path, endpoint: str, keys: int, events_per_key: int, end: datetime) -> FeatureStore:
    """Events over the 30 days before ``end`` in a Delta table, the view applied and materialized at ``end``."""
    from pyspark.sql import functions as F

    run = datetime.now(timezone.utc).strftime("%H%M%S")
    (work / "config.yaml").write_text(CONFIG.format(root=work, endpoint=endpoint, run=run))
    events_path = str(work / "events")
    span_s = 30 * 24 * 3600
    start_s = int(end.timestamp()) - span_s
    events = (spark.range(keys * events_per_key)
              .select((F.col("id") % keys).alias("driver_id"),
                      F.timestamp_seconds(F.lit(start_s) + (F.rand(7) * span_s).cast("long")).alias("event_ts"),
                      F.round(F.rand(11) * 40 + 5, 2).alias("fare")))
    events.write.format("delta").mode("overwrite").save(events_path)
    driver = Entity("driver", join_keys={"driver_id": "int64"})
    view = AggregationView(
        name=VIEW, entities=[driver], source=DeltaSource(path=events_path, timestamp_field="event_ts"),
        event_schema=[Field("fare", "float64")], aggregations=AGGREGATIONS, online=True, horizon="1h",
    )
    store = FeatureStore(spark, str(work / "config.yaml"))
    store.apply([driver, view])
    summary = store.materialize(end - timedelta(hours=1), end, views=[VIEW])[VIEW]
    logger.info("materialized %d items in %.1f s", summary.items, summary.seconds)
    return store


class RawItems:
    """``BatchGetItem`` of the view's items, as featurespark's reader issues it, without decoding."""

    def __init__(self, endpoint: str, table: str) -> None:
        self.table = table
        self.client = _client(endpoint, RAW_READ_THREADS)
        self.pool = ThreadPoolExecutor(RAW_READ_THREADS)

    def _get(self, keys: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        out: List[Dict[str, Any]] = []
        request = {self.table: {"Keys": keys}}
        while request:
            page = self.client.batch_get_item(RequestItems=request)
            out.extend(page["Responses"].get(self.table, []))
            request = page.get("UnprocessedKeys") or {}
        return out

    def get(self, rows: Sequence[Mapping[str, Any]]) -> List[Dict[str, Any]]:
        keys = [{PK_ATTRIBUTE: {"S": encode_partition_key([r["driver_id"]], ["int64"])}} for r in rows]
        chunks = [keys[i:i + 100] for i in range(0, len(keys), 100)]
        if len(chunks) == 1:
            return self._get(chunks[0])
        return [item for part in self.pool.map(self._get, chunks) for item in part]


def run_lookups(store: FeatureStore, raw: RawItems, keys: int, calls: Mapping[int, int], now: datetime,
                warmup: int = 20, seed: int = 5) -> List[Dict[str, Any]]:
    features = [f"{VIEW}:{name}" for a in AGGREGATIONS for name in a.output_names()]
    systems: Dict[str, Callable[[Sequence[Mapping[str, Any]]], Any]] = {
        "featurespark": lambda rows: store.get_online_features(features, rows, now=now).to_dict(),
        "raw_batch_get": raw.get,
    }
    pool = [{"driver_id": k} for k in range(keys)]
    return [{"system": r["system"], "batch": r["batch"], "ms": r["seconds"] * 1000}
            for r in interleaved_calls(systems, pool, calls=calls, warmup=warmup, seed=seed)]


def run_freshness(store: FeatureStore, keys: int, pushes: int, seed: int = 9) -> List[float]:
    """Seconds from the start of a push of one event until a lookup of its key counts it."""
    rng = random.Random(seed)
    seconds = []
    for _ in range(pushes):
        key = rng.randrange(keys)
        before = store.get_online_features([f"{VIEW}:fare_count_1h"], [{"driver_id": key}]).to_dict()
        count = before["fare_count_1h"][0] or 0
        now = datetime.now(timezone.utc)
        started = time.perf_counter()
        store.push(VIEW, pd.DataFrame({"driver_id": [key], "event_ts": [pd.Timestamp(now) - pd.Timedelta(seconds=1)],
                                       "fare": [12.5]}))
        after = store.get_online_features([f"{VIEW}:fare_count_1h"], [{"driver_id": key}]).to_dict()
        elapsed = time.perf_counter() - started
        if after["fare_count_1h"][0] != count + 1:
            raise AssertionError(f"push of key {key} not visible: count {count} -> {after['fare_count_1h'][0]}")
        seconds.append(elapsed)
    return seconds


def summarize(records: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    groups: Dict[tuple, List[float]] = {}
    for r in records:
        groups.setdefault((r["batch"], r["system"]), []).append(r["ms"])
    return [{"batch": b, "system": s, "calls": len(v), "p50_ms": round(_percentile(v, 0.5), 2),
             "p99_ms": round(_percentile(v, 0.99), 2)} for (b, s), v in sorted(groups.items())]


def section(results_dir: Path) -> str:
    """The BENCHMARKS.md section of this benchmark, or "" when it has not run."""
    path = results_dir / RESULTS.name
    if not path.exists():
        return ""
    result = json.loads(path.read_text())
    meta = result["environment"]
    lines = ["## Online aggregation lookups (issue #14)", "",
             f"One online aggregation view ({result['keys']} keys, {result['events_per_key']} events per key over 30 "
             "days; count, sum and mean of a fare over 1h, 1d, 7d and 30d and the max over 1d: 13 values per row, "
             "horizon 1h), materialized once, then `get_online_features` of every value against raw `BatchGetItem` "
             "of the same items (undecoded), calls interleaved. `bash benchmarks/run.sh online-aggregations`; "
             "results in `benchmarks/results/online_aggregations.json`.", "",
             f"- **Date**: {meta.get('date')}, git commit `{meta.get('git_commit')}`, {meta.get('cores')} cores; load "
             f"average (1/5/15 min) at start {[round(x, 1) for x in meta.get('load_average_at_start', [])]}, at end "
             f"{[round(x, 1) for x in result.get('load_average_at_end', [])]}.",
             f"- **Endpoint**: {meta.get('dynamodb_endpoint')} on 127.0.0.1 (not AWS: the server's own time per "
             "request is far larger than DynamoDB's, which shrinks every ratio against the raw calls; the ratios "
             "say how much featurespark adds on the same endpoint, not what AWS would show).", "",
             "| entity rows | calls | featurespark p50 / p99 (ms) | raw BatchGetItem p50 / p99 (ms) | ratio p50 / p99 |",
             "|---:|---:|---:|---:|---:|"]
    by = {(s["batch"], s["system"]): s for s in result["latency"]}
    for batch in sorted({s["batch"] for s in result["latency"]}):
        fs, raw = by[(batch, "featurespark")], by[(batch, "raw_batch_get")]
        lines.append(f"| {batch} | {fs['calls']} | {fs['p50_ms']} / {fs['p99_ms']} | {raw['p50_ms']} / {raw['p99_ms']} | "
                     f"{fs['p50_ms'] / raw['p50_ms']:.2f}x / {fs['p99_ms'] / raw['p99_ms']:.2f}x |")
    fresh = result["freshness_s"]
    lines += ["", f"**Push freshness** ({len(fresh)} pushes of one event): median {statistics.median(fresh):.2f} s, "
              f"max {max(fresh):.2f} s from the start of `push` until a lookup counts the event. `push` appends the "
              "event to the Delta source and rebuilds the key's item with a Spark job, synchronously; streaming "
              "freshness (`write_stream`) adds the trigger interval and was not measured.", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.online_aggs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint-url", required=True, help="the local DynamoDB endpoint")
    parser.add_argument("--keys", type=int, default=2000, help="entity keys (default 2000)")
    parser.add_argument("--events-per-key", type=int, default=200, help="events per key over 30 days (default 200)")
    parser.add_argument("--calls", default="1=300,100=100", help="timed calls per batch size (default 1=300,100=100)")
    parser.add_argument("--pushes", type=int, default=10, help="timed pushes for freshness (default 10)")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--results", type=Path, default=RESULTS, help="results JSON (its folder holds the others)")
    parser.add_argument("--report", type=Path, default=REPO / "BENCHMARKS.md",
                        help="report to regenerate from the results folder (default BENCHMARKS.md)")
    args = parser.parse_args(list(argv) or None)
    if max(_parse_calls(args.calls)) > args.keys:
        parser.error(f"--keys {args.keys} is smaller than the largest batch of --calls {args.calls}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("py4j", "featurespark"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    meta = environment()  # before Spark starts: the load average of the machine as it was
    spark = start_spark(args.work_dir)
    end = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    store = build_store(spark, args.work_dir, args.endpoint_url, args.keys, args.events_per_key, end)
    from featurespark.services.locations import online_table_name

    table = online_table_name(store.config, store.registry.state().aggregation_views[VIEW])
    raw = RawItems(args.endpoint_url, table)
    logger.info("lookups: %s", args.calls)
    records = run_lookups(store, raw, args.keys, _parse_calls(args.calls), now=end + timedelta(minutes=30))
    logger.info("freshness: %d pushes", args.pushes)
    fresh = run_freshness(store, args.keys, args.pushes)
    result = {"environment": meta, "load_average_at_end": list(os.getloadavg()), "keys": args.keys,
              "events_per_key": args.events_per_key, "latency": summarize(records),
              "freshness_s": [round(s, 3) for s in fresh]}
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(section(args.results.parent))
    if args.report is not None:
        from benchmarks.report import regenerate

        regenerate(args.report, args.results.parent)
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
