"""Build a point-in-time correct training set (spark-submit job).

    spark-submit jobs/build_training_set.py --config s3://bucket/featurespark/conf/emr.yaml \\
        --entities s3://bucket/labels/orders/ \\
        --features driver_hourly_stats:conv_rate customer_profile \\
        --output s3://bucket/training/orders_v1 --format parquet

Writes the training set and ``_featurespark_manifest.json`` beside it: feature references, each
source with the Delta version read, row counts, match rate and staleness per feature view, filled
rows per aggregation-view feature. Rebuild the
same set later with ``--pin-versions <old output or manifest>``.
"""
from __future__ import annotations

import argparse
import logging
import re
import sys
from typing import Optional, Sequence

from pyspark.sql import DataFrame, SparkSession

from featurespark import FeatureStore
from featurespark._jobs import job_parser, parse, run_job
from featurespark.config import Config
from featurespark.services.training_manifest import read_manifest, write_training_set

logger = logging.getLogger("featurespark.jobs.build_training_set")

_PATHLIKE = re.compile(r"^([a-z0-9]+://|/|\.)")


def build_parser() -> argparse.ArgumentParser:
    parser = job_parser("build_training_set", "Join features point-in-time onto entity rows and write the "
                                              "training set with a manifest.")
    parser.add_argument("--entities", required=True,
                        help="entity rows: a path or URI (Parquet or Delta, see --entities-format), a table name, "
                             "or a SQL query starting with SELECT/WITH")
    parser.add_argument("--entities-format", default="parquet", choices=["parquet", "delta", "csv", "json"],
                        help="format of an --entities path (default: parquet)")
    parser.add_argument("--entity-timestamp", default="event_timestamp",
                        help="timestamp column of the entity rows (default: event_timestamp)")
    parser.add_argument("--features", required=True, nargs="+",
                        help="feature references: view:feature, or a view name for all its features")
    parser.add_argument("--output", required=True, help="output folder or URI")
    parser.add_argument("--format", default="parquet", choices=["parquet", "delta"], help="output format")
    parser.add_argument("--full-feature-names", action="store_true", help="name columns view__feature")
    parser.add_argument("--algorithm", default="auto", choices=["auto", "range", "asof"],
                        help="point-in-time join algorithm (default: auto, see docs/point_in_time.md)")
    parser.add_argument("--as-known-at-query-time", action="store_true",
                        help="aggregation views: count only events created by each entity row's time")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("--pin-versions", metavar="MANIFEST",
                        help="read the Delta versions recorded in an earlier manifest (a training-set folder or "
                             "its _featurespark_manifest.json) to rebuild that set exactly")
    return parser


def extract_entities(spark: SparkSession, args: argparse.Namespace) -> "DataFrame | str":
    """A path becomes a DataFrame; a table name or query is passed on as text."""
    if _PATHLIKE.match(args.entities):
        reader = spark.read.format(args.entities_format)
        if args.entities_format == "csv":
            reader = reader.option("header", "true").option("inferSchema", "true")
        return reader.load(args.entities)
    return str(args.entities)


def build(spark: SparkSession, config: Config, args: argparse.Namespace) -> str:
    store = FeatureStore(spark, config)
    pinned = None
    if args.pin_versions:
        manifest = read_manifest(spark, args.pin_versions)
        pinned = {s["view"]: s["version"] for s in manifest["sources"] if s["version"] is not None}
        logger.info("pinning source versions from %s: %s", args.pin_versions, pinned)
    logger.info("[1/2] planning the point-in-time join of %d feature reference(s)", len(args.features))
    retrieval = store.retrieve_training_set(
        extract_entities(spark, args), args.features, full_feature_names=args.full_feature_names,
        entity_timestamp=args.entity_timestamp, algorithm=args.algorithm, source_versions=pinned,
        with_feature_timestamps=True, as_known_at_query_time=args.as_known_at_query_time,
    )
    for source in retrieval.sources:
        logger.info("  %s: %s %s version %s", source.view, source.kind, source.location, source.version)
    logger.info("[2/2] writing %s (%s)", args.output, args.format)
    manifest = write_training_set(
        spark, retrieval, args.output, fmt=args.format, overwrite=args.overwrite,
        extra={"job": {"features": args.features, "entities": args.entities, "algorithm": args.algorithm,
                       "full_feature_names": args.full_feature_names,
                       "as_known_at_query_time": args.as_known_at_query_time}},
    )
    rates = ", ".join(f"{v} {s['match_rate']:.1%}" for v, s in manifest["views"].items()
                      if s.get("match_rate") is not None)
    rows, seconds = manifest["output"]["rows"], manifest["write_seconds"]
    return (f"{rows} rows, {len(manifest['output']['columns'])} columns, {rows / seconds if seconds else 0:.0f} rows/s; "
            f"match rate {rates or 'n/a'}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse(build_parser(), argv)
    return run_job("build_training_set", args, build)


if __name__ == "__main__":
    sys.exit(main())
