"""Run the example end to end on the configured stores (the README's main command).

Steps: generate the example data, apply the example feature repo, ingest the driver statistics
into their managed Delta table (upsert, so reruns change nothing), describe what is registered.

    python jobs/run_example.py --config conf/local.yaml
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

from pyspark.sql import SparkSession

from featurespark import FeatureStore, load_repo
from featurespark._jobs import job_parser, parse, run_job
from featurespark.config import Config
from featurespark.examples.driver_data import ExampleSize, write_example_data

logger = logging.getLogger("featurespark.jobs.run_example")

REPO = Path(__file__).resolve().parents[1] / "examples" / "driver_repo"


def build_parser() -> argparse.ArgumentParser:
    parser = job_parser("run_example", "Generate example data, apply the example repo and describe it.")
    parser.add_argument("--repo", default=str(REPO), help="feature repo folder (default: examples/driver_repo)")
    parser.add_argument("--data", default=None,
                        help="example data folder (default: $FEATURESPARK_EXAMPLE_DATA or "
                             ".featurespark/example_data at the repository root)")
    return parser


def run(spark: SparkSession, config: Config, args: argparse.Namespace) -> str:
    data = args.data or os.environ.get("FEATURESPARK_EXAMPLE_DATA") or str(REPO.parents[1] / ".featurespark" /
                                                                           "example_data")
    os.environ["FEATURESPARK_EXAMPLE_DATA"] = data  # the example definitions read their paths from it
    logger.info("[1/4] generating example data in %s", data)
    paths = write_example_data(spark, data, ExampleSize())

    logger.info("[2/4] applying feature repo %s", args.repo)
    store = FeatureStore(spark, config)
    objects = load_repo(args.repo)
    plan = store.apply(objects)
    print(plan.describe())

    logger.info("[3/4] ingesting driver statistics")
    raw = spark.read.parquet(paths["driver_hourly_stats_raw"])
    print(store.write_features("driver_hourly_stats", raw, mode="upsert").line())

    logger.info("[4/4] describing the registry")
    for view in store.list_feature_views():
        print(json.dumps(store.describe(view.name), indent=2, default=str))
    again = store.plan(objects)
    print(f"Second plan: {again.describe()}")
    return f"{len(store.list_entities())} entities, {len(store.list_feature_views())} feature views registered"


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse(build_parser(), argv)
    return run_job("run_example", args, run)


if __name__ == "__main__":
    sys.exit(main())
