"""Run the example end to end on the configured stores (the README's main command).

Steps: generate the example data; apply the example feature repo (Delta tables, DynamoDB tables);
ingest the driver statistics (upsert, so reruns change nothing); build a point-in-time training
set with its manifest; materialize the online views incrementally; stream trip events into the
``driver_trip_stats`` view (offline and online at once); look features up online.

    python jobs/run_example.py --config conf/local.yaml
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional, Sequence

from pyspark.sql import SparkSession

from featurespark import FeatureStore, load_repo
from featurespark._jobs import job_parser, parse, run_job
from featurespark.config import Config
from featurespark.examples.driver_data import ExampleSize, write_example_data
from featurespark.examples.trip_stream import TRIP_EVENT_SCHEMA, trip_window_features, write_trip_event_files
from featurespark.streaming.sources import json_files_stream
from featurespark.services.training_manifest import write_training_set

logger = logging.getLogger("featurespark.jobs.run_example")

REPO = Path(__file__).resolve().parents[1] / "examples" / "driver_repo"
FEATURES = ["driver_hourly_stats", "customer_profile:current_balance", "driver_customer_stats:trips_together",
            "driver_activity_aggs:conv_rate_mean_7d", "driver_ratings:avg_rating"]


def build_parser() -> argparse.ArgumentParser:
    parser = job_parser("run_example", "Run the driver/customer example end to end: data, apply, ingest, "
                                       "training set, materialize, online lookup.")
    parser.add_argument("--repo", default=str(REPO), help="feature repo folder (default: examples/driver_repo)")
    parser.add_argument("--data", default=None,
                        help="example data folder (default: $FEATURESPARK_EXAMPLE_DATA or "
                             ".featurespark/example_data at the repository root)")
    return parser


def run(spark: SparkSession, config: Config, args: argparse.Namespace) -> str:
    data = args.data or os.environ.get("FEATURESPARK_EXAMPLE_DATA") or str(REPO.parents[1] / ".featurespark" /
                                                                           "example_data")
    os.environ["FEATURESPARK_EXAMPLE_DATA"] = data  # the example definitions read their paths from it
    # Recent data, so the online values are within their TTLs when looked up now.
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    size = ExampleSize(start=now - timedelta(days=ExampleSize.days))
    logger.info("[1/7] generating example data in %s", data)
    paths = write_example_data(spark, data, size)

    logger.info("[2/7] applying feature repo %s", args.repo)
    store = FeatureStore(spark, config)
    plan = store.apply(load_repo(args.repo))
    print(plan.describe())

    logger.info("[3/7] ingesting driver statistics")
    raw = spark.read.parquet(paths["driver_hourly_stats_raw"])
    print(store.write_features("driver_hourly_stats", raw, mode="upsert").line())

    logger.info("[4/7] building a point-in-time training set")
    retrieval = store.retrieve_training_set(spark.read.parquet(paths["orders"]), FEATURES,
                                            with_feature_timestamps=True)
    output = f"{data}/training_sets/orders"
    manifest = write_training_set(spark, retrieval, output, overwrite=True)
    print(f"Training set {output}: {manifest['output']['rows']} rows")
    print(json.dumps(manifest["views"], indent=2))

    logger.info("[5/7] materializing online views up to the end of the data")
    end = now
    for view, summary in store.materialize_incremental(end).items():
        print(f"{view}: {summary.items} items, {summary.requests} requests, {summary.retries} retries, "
              f"{summary.seconds:.1f}s")

    logger.info("[6/7] streaming trip events into driver_trip_stats (Delta and DynamoDB together)")
    stream_summary = stream_trip_events(spark, store, data, start=now - timedelta(hours=3))
    print(stream_summary)

    logger.info("[7/7] online lookup")
    response = store.get_online_features(
        ["driver_hourly_stats:conv_rate", "driver_hourly_stats:avg_daily_trips", "customer_profile:current_balance",
         "driver_trip_stats:trips"],
        [{"driver_id": 1, "customer_id": "C000001"}, {"driver_id": 2, "customer_id": "C000002"},
         {"driver_id": 10_000, "customer_id": "nobody"}],
    )
    print(json.dumps(response.to_dict(), indent=2, default=str))
    return (f"{manifest['output']['rows']} training rows, "
            f"{len(store.list_feature_views())} views, online lookup of {len(response.to_dict()['driver_id'])} rows")


def stream_trip_events(spark: SparkSession, store: FeatureStore, data: str, *, start: datetime) -> str:
    """Write trip event files (once) and stream them through the windowed feature into both stores.

    The checkpoint remembers the files already processed, so a rerun of the example streams nothing twice.
    """
    events = Path(data) / "trip_events"
    if not events.exists():
        write_trip_event_files(events, start=start, hours=3, drivers=20, files=3)
    features = trip_window_features(json_files_stream(spark, str(events), schema=TRIP_EVENT_SCHEMA,
                                                      max_files_per_trigger=1), watermark="1 day")
    stream = store.write_stream("driver_trip_stats", features, trigger={"availableNow": True},
                                checkpoint_location=f"{data}/checkpoints/driver_trip_stats")
    stream.await_termination()
    batches = stream.summaries()
    items = sum(b.online.items for b in batches if b.online is not None)
    rows = sum(b.offline.rows_in for b in batches)
    return f"driver_trip_stats: {len(batches)} micro-batch(es), {rows} feature rows, {items} online items"


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse(build_parser(), argv)
    return run_job("run_example", args, run)


if __name__ == "__main__":
    sys.exit(main())
