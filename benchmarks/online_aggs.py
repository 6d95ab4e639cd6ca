"""Online aggregation lookups, push and streaming freshness (issue #14), against the local DynamoDB endpoint.

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

Streaming freshness: a ``write_stream`` into the view reads a folder of JSON files with a
``processingTime`` trigger; one event at a time, a file holding it is moved into the folder and its key
looked up every 50 ms: the time from the file's arrival until a lookup counts the event
(:func:`run_stream_freshness`).

    bash benchmarks/run.sh online-aggregations [--keys 2000] [--events-per-key 200] [--calls 1=300,100=100]
        [--pushes 10] [--stream-events 20] [--trigger-interval 1]

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
#: Columns of the events streamed in by :func:`run_stream_freshness` (the view's source columns).
STREAM_SCHEMA = "driver_id long, event_ts timestamp, fare double"
#: Pause between two lookups while waiting for a streamed event (part of the measured freshness).
STREAM_POLL_S = 0.05
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


def run_stream_freshness(store: FeatureStore, work: Path, keys: int, events: int, trigger_s: float,
                         seed: int = 13, warmup: int = 1, timeout_s: float = 120.0) -> List[float]:
    """Seconds from an event file's arrival in a running stream's input folder until a lookup counts it.

    Starts a ``write_stream`` into the view from a new folder of JSON files with a ``processingTime``
    trigger of ``trigger_s``. Then, one event at a time (``warmup`` untimed events first): a random pause of
    up to one trigger interval (so arrivals fall at every phase of the trigger), the event's file written
    beside the folder and renamed into it (the file source never sees half a file), and a lookup of its key
    every :data:`STREAM_POLL_S` until the 1h count includes it; then the batch is let finish (untimed). The
    time so measured holds the wait for the next trigger, the file listing, the batch up to its item write
    (Delta append and rebuild of the key's item) and the polling.

    Raises
    ------
    AssertionError
        If an event is not counted within ``timeout_s``, or the stream fails.
    """
    spark = store.spark
    run = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S%f")
    folder, staging = work / f"stream-{run}" / "in", work / f"stream-{run}" / "staging"
    folder.mkdir(parents=True)
    staging.mkdir()
    query = store.write_stream(VIEW, spark.readStream.schema(STREAM_SCHEMA).json(str(folder)),
                               checkpoint_location=str(work / f"stream-{run}" / "checkpoint"),
                               trigger={"processingTime": f"{round(trigger_s * 1000)} milliseconds"})
    rng = random.Random(seed)
    feature = [f"{VIEW}:fare_count_1h"]

    def count(key: int) -> int:
        return store.get_online_features(feature, [{"driver_id": key}]).to_dict()["fare_count_1h"][0] or 0

    seconds = []
    try:
        for n in range(warmup + events):
            key = rng.randrange(keys)
            before = count(key)
            time.sleep(rng.uniform(0, trigger_s))
            staged = staging / f"event-{n:05d}.json"
            event_ts = datetime.now(timezone.utc) - timedelta(seconds=1)
            staged.write_text(json.dumps({"driver_id": key, "event_ts": event_ts.isoformat(), "fare": 12.5}) + "\n")
            arrived = time.perf_counter()
            os.replace(staged, folder / staged.name)
            while count(key) != before + 1:
                if query.exception() is not None or time.perf_counter() - arrived > timeout_s:
                    raise AssertionError(f"streamed event {n} (key {key}) not counted after "
                                         f"{time.perf_counter() - arrived:.0f} s: {query.error() or 'no error'}")
                time.sleep(STREAM_POLL_S)
            if n >= warmup:
                seconds.append(time.perf_counter() - arrived)
            # The lookup can count the event before the batch has committed: let it finish, untimed, so the
            # next event meets an idle stream and stop() never interrupts a batch.
            query.processAllAvailable()
    finally:
        query.stop()
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
              "event to the Delta source and rebuilds the key's item with a Spark job, synchronously.", ""]
    lines += [stream_freshness_line(result.get("stream_freshness_s") or [], result.get("stream_trigger_s")), ""]
    return "\n".join(lines)


def stream_freshness_line(seconds: Sequence[float], trigger_s: Any) -> str:
    """The report's sentence on streaming freshness (results written before it was measured have none).

    Examples
    --------
    >>> line = stream_freshness_line([2.0, 3.0, 4.0], 1.0)
    >>> line.split(": ", 1)[1].split(" from an event")[0]
    'median 3.00 s, p90 4.00 s, max 4.00 s'
    >>> "trigger every 1 s" in line
    True
    >>> stream_freshness_line([], None)
    '**Streaming freshness** (`write_stream`) was not measured in this run.'
    """
    if not seconds:
        return "**Streaming freshness** (`write_stream`) was not measured in this run."
    median, p90 = statistics.median(seconds), _percentile(seconds, 0.9)
    return (f"**Streaming freshness** ({len(seconds)} events, `write_stream` from a folder of JSON files, trigger "
            f"every {float(trigger_s):g} s): median {median:.2f} s, p90 {p90:.2f} s, max {max(seconds):.2f} s from an "
            "event file's arrival in the folder until a lookup counts the event. This holds the wait for the next "
            "trigger (arrivals are spread over the interval, so half an interval on average), the file listing, the "
            "batch up to its online write (Delta append, then the key's item rebuilt from the source) and lookups "
            f"every {STREAM_POLL_S * 1000:.0f} ms; one event in the stream at a time.")


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.online_aggs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint-url", required=True, help="the local DynamoDB endpoint")
    parser.add_argument("--keys", type=int, default=2000, help="entity keys (default 2000)")
    parser.add_argument("--events-per-key", type=int, default=200, help="events per key over 30 days (default 200)")
    parser.add_argument("--calls", default="1=300,100=100", help="timed calls per batch size (default 1=300,100=100)")
    parser.add_argument("--pushes", type=int, default=10, help="timed pushes for freshness (default 10)")
    parser.add_argument("--stream-events", type=int, default=20,
                        help="events timed through a running write_stream for streaming freshness (default 20; "
                             "0 skips the measurement)")
    parser.add_argument("--trigger-interval", type=float, default=1.0, metavar="SECONDS",
                        help="processingTime trigger of that stream, in seconds (default 1)")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--results", type=Path, default=RESULTS, help="results JSON (its folder holds the others)")
    parser.add_argument("--report", type=Path, default=REPO / "BENCHMARKS.md",
                        help="report to regenerate from the results folder (default BENCHMARKS.md)")
    args = parser.parse_args(list(argv) or None)
    if max(_parse_calls(args.calls)) > args.keys:
        parser.error(f"--keys {args.keys} is smaller than the largest batch of --calls {args.calls}")
    if args.stream_events < 0 or not args.trigger_interval > 0:
        parser.error("--stream-events must be at least 0 and --trigger-interval positive")
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
    logger.info("streaming freshness: %d events, trigger %g s", args.stream_events, args.trigger_interval)
    streamed = (run_stream_freshness(store, args.work_dir, args.keys, args.stream_events, args.trigger_interval)
                if args.stream_events else [])
    result = {"environment": meta, "load_average_at_end": list(os.getloadavg()), "keys": args.keys,
              "events_per_key": args.events_per_key, "latency": summarize(records),
              "freshness_s": [round(s, 3) for s in fresh],
              "stream_freshness_s": [round(s, 3) for s in streamed], "stream_trigger_s": args.trigger_interval}
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
