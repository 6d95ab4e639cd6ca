"""Generate the driver / customer example data (spark-submit job).

    spark-submit jobs/generate_example_data.py --config conf/local.yaml --out .featurespark/example_data
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

from pyspark.sql import SparkSession

from featurespark._jobs import job_parser, parse, run_job
from featurespark.config import Config
from featurespark.examples.driver_data import ExampleSize, write_example_data


def build_parser() -> argparse.ArgumentParser:
    parser = job_parser("generate_example_data", "Write synthetic driver/customer example data.")
    parser.add_argument("--out", default=os.environ.get("FEATURESPARK_EXAMPLE_DATA", ".featurespark/example_data"),
                        help="output folder or URI (default: $FEATURESPARK_EXAMPLE_DATA or "
                             ".featurespark/example_data)")
    parser.add_argument("--drivers", type=int, default=ExampleSize.drivers)
    parser.add_argument("--customers", type=int, default=ExampleSize.customers)
    parser.add_argument("--days", type=int, default=ExampleSize.days)
    parser.add_argument("--entity-rows", type=int, default=ExampleSize.entity_rows)
    return parser


def generate(spark: SparkSession, config: Config, args: argparse.Namespace) -> str:
    size = ExampleSize(drivers=args.drivers, customers=args.customers, days=args.days,
                       entity_rows=args.entity_rows)
    paths = write_example_data(spark, args.out, size)
    return f"wrote {len(paths)} data sets to {args.out}"


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse(build_parser(), argv)
    return run_job("generate_example_data", args, generate)


if __name__ == "__main__":
    sys.exit(main())
