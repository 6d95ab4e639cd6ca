"""Materialize online views into DynamoDB (spark-submit job).

    spark-submit jobs/materialize.py --config s3://bucket/featurespark/conf/emr.yaml --start 2026-01-01T00:00 --end 2026-01-02T00:00
    spark-submit jobs/materialize.py --config s3://bucket/featurespark/conf/emr.yaml --incremental --end 2026-01-02T00:00

Incremental runs go from each view's watermark (kept in the registry) to --end and move the
watermark only after every write succeeded; a failed run can simply be rerun.
"""
from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from typing import Optional, Sequence

from pyspark.sql import SparkSession

from featurespark import FeatureStore
from featurespark._jobs import job_parser, parse, run_job
from featurespark.cli import parse_timestamp
from featurespark.config import Config
from featurespark.errors import InvalidArgumentError
from featurespark.options import OnlineWriteMode


def build_parser() -> argparse.ArgumentParser:
    parser = job_parser("materialize", "Push the latest feature values of online views to DynamoDB.")
    parser.add_argument("--start", type=parse_timestamp, help="ISO time, inclusive (not with --incremental)")
    parser.add_argument("--end", type=parse_timestamp, required=True, help="ISO time, exclusive (UTC unless an offset)")
    parser.add_argument("--incremental", action="store_true", help="start from each view's watermark")
    parser.add_argument("--lookback-minutes", type=float, default=0.0,
                        help="incremental: re-read this much before the watermark for late rows")
    parser.add_argument("--views", nargs="+", help="only these views (default: every online view)")
    parser.add_argument("--monotonic", action="store_true",
                        help="conditional writes: an older event never overwrites a newer one online")
    parser.add_argument("--max-items-per-second", type=float, help="rate limit for the whole job")
    return parser


def materialize(spark: SparkSession, config: Config, args: argparse.Namespace) -> str:
    store = FeatureStore(spark, config)
    mode: OnlineWriteMode = "monotonic" if args.monotonic else "last_writer_wins"
    if args.incremental:
        if args.start is not None:
            raise InvalidArgumentError("--start cannot be used with --incremental (the watermark is the start).")
        summaries = store.materialize_incremental(args.end, args.views, lookback=timedelta(minutes=args.lookback_minutes),
                                                  write_mode=mode, max_items_per_second=args.max_items_per_second)
    else:
        if args.start is None:
            raise InvalidArgumentError("--start is required unless --incremental is given.")
        summaries = store.materialize(args.start, args.end, args.views, write_mode=mode,
                                      max_items_per_second=args.max_items_per_second)
    items = sum(s.items for s in summaries.values())
    seconds = sum(s.seconds for s in summaries.values())
    retries = sum(s.retries for s in summaries.values())
    requests = sum(s.requests for s in summaries.values())
    return (f"{len(summaries)} view(s), {items} items, {requests} requests, {retries} retries, {seconds:.1f}s "
            f"({items / seconds if seconds else 0:.0f} items/s)")


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse(build_parser(), argv)
    return run_job("materialize", args, materialize)


if __name__ == "__main__":
    sys.exit(main())
