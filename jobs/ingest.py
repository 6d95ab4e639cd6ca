"""Ingest a source into a managed feature view (spark-submit job).

    spark-submit jobs/ingest.py --config conf/emr.yaml --view driver_hourly_stats \\
        --source-path s3://bucket/raw/driver_stats/ --source-format parquet --mode upsert

Exactly one of --source-path, --source-table, --source-query. Exits non-zero on failure,
leaving the table as it was (invalid rows fail the run unless --on-invalid quarantine).
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from pyspark.sql import DataFrame, SparkSession

from featurespark import FeatureStore
from featurespark._jobs import job_parser, parse, run_job
from featurespark.config import Config


def build_parser() -> argparse.ArgumentParser:
    parser = job_parser("ingest", "Validate a source and write it into a managed feature view.")
    parser.add_argument("--view", required=True, help="registered feature view to write")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--source-path", help="files or table at a path or URI")
    src.add_argument("--source-table", help="metastore table, e.g. analytics.driver_stats")
    src.add_argument("--source-query", help="Spark SQL query producing the rows")
    parser.add_argument("--source-format", default="parquet", choices=["parquet", "delta", "json", "csv", "orc"],
                        help="format of --source-path (default: parquet)")
    parser.add_argument("--mode", default="append", choices=["append", "upsert"],
                        help="append rows, or upsert on (join keys, event timestamp) (default: append)")
    parser.add_argument("--on-invalid", default="fail", choices=["fail", "quarantine"],
                        help="rows with null keys or timestamps: fail the run, or quarantine them (default: fail)")
    return parser


def extract(spark: SparkSession, args: argparse.Namespace) -> DataFrame:
    """Read the source named on the command line."""
    if args.source_path:
        reader = spark.read.format(args.source_format)
        if args.source_format == "csv":
            reader = reader.option("header", "true").option("inferSchema", "true")
        return reader.load(args.source_path)
    if args.source_table:
        return spark.table(args.source_table)
    return spark.sql(args.source_query)  # the user's own query text


def ingest(spark: SparkSession, config: Config, args: argparse.Namespace) -> str:
    store = FeatureStore(spark, config)
    summary = store.write_features(args.view, extract(spark, args), mode=args.mode, on_invalid=args.on_invalid)
    return summary.line()


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse(build_parser(), argv)
    return run_job("ingest", args, ingest)


if __name__ == "__main__":
    sys.exit(main())
