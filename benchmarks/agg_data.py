"""Data of the aggregation benchmark: trip events over skewed driver keys, and entity (order) rows.

Generated with Spark from seeded random columns over ``spark.range`` and written once as Parquet; every
system reads the same files. Shapes (see :data:`AGG_SIZES`):

- ``trips`` (events): ``trip_id``, ``driver_id``, ``event_ts`` uniform over ``days`` days (microseconds),
  ``fare`` (double), ``merchant_id`` (int, ``merchants`` distinct), ``rating`` (int 1-5, ~5% null).
  Keys are skewed: ``driver_id = floor(keys * u**SKEW)`` for uniform ``u``, so driver 0 holds about
  ``keys**(-1/SKEW)`` of the events (2.2% for 100,000 keys) and a long tail holds few.
- ``orders`` (entity rows): ``order_id`` (unique), ``driver_id`` from the same distribution (other seed),
  ``order_ts`` uniform over the last ``query_days`` days, so that the longest window (30 days) has full
  history behind most rows; ``completed`` (bool).
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

logger = logging.getLogger(__name__)

#: First event time of the generated data.
AGG_START = datetime(2026, 1, 1, tzinfo=timezone.utc)
#: Exponent of the key skew: driver_id = floor(keys * u ** SKEW).
SKEW = 3.0
DAY_US = 86_400_000_000
#: Names of the generated tables, in writing order.
AGG_TABLES = ("trips", "orders")


@dataclass(frozen=True)
class AggSize:
    """How much data to generate.

    Attributes
    ----------
    name : str
        Label in the report.
    events, keys, entity_rows : int
        Trip events, distinct drivers (the key space), order rows.
    days, query_days : int
        Days of events; the orders fall in the last ``query_days`` of them.
    merchants : int
        Distinct merchant ids.
    seed : int
        Seed of every random column.
    """

    name: str
    events: int
    keys: int
    entity_rows: int
    days: int = 60
    query_days: int = 30
    merchants: int = 2_000
    seed: int = 13


AGG_SIZES: Dict[str, AggSize] = {
    "XS": AggSize("XS", events=100_000, keys=1_000, entity_rows=10_000),
    "S": AggSize("S", events=1_000_000, keys=10_000, entity_rows=100_000),
    "M": AggSize("M", events=10_000_000, keys=100_000, entity_rows=1_000_000),
}


def agg_size_by_name(name: str) -> AggSize:
    """A size from :data:`AGG_SIZES`.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones).
    """
    if name not in AGG_SIZES:
        raise ValueError(f"unknown aggregation benchmark size {name!r}; known sizes: {', '.join(AGG_SIZES)}")
    return AGG_SIZES[name]


def _start_us() -> Column:
    return F.lit(int(AGG_START.timestamp()) * 1_000_000).cast("long")


def _skewed_key(size: AggSize, seed: int) -> Column:
    return F.floor(F.lit(size.keys) * F.pow(F.rand(seed), F.lit(SKEW))).cast("long")


def trips(spark: SparkSession, size: AggSize) -> DataFrame:
    """Trip events (see module docs)."""
    span = size.days * DAY_US
    rating = (F.rand(size.seed + 4) * 5).cast("int") + 1
    return spark.range(size.events).select(
        F.col("id").alias("trip_id"),
        _skewed_key(size, size.seed + 1).alias("driver_id"),
        F.timestamp_micros(_start_us() + (F.rand(size.seed + 2) * span).cast("long")).alias("event_ts"),
        F.round(F.rand(size.seed + 3) * 45 + 5, 2).alias("fare"),
        (F.rand(size.seed + 5) * size.merchants).cast("int").alias("merchant_id"),
        F.when(F.rand(size.seed + 6) >= 0.05, rating).alias("rating"),
    )


def orders(spark: SparkSession, size: AggSize) -> DataFrame:
    """Entity (order) rows (see module docs)."""
    offset = (size.days - size.query_days) * DAY_US
    return spark.range(size.entity_rows).select(
        F.col("id").alias("order_id"),
        _skewed_key(size, size.seed + 11).alias("driver_id"),
        F.timestamp_micros(_start_us() + F.lit(offset) + (F.rand(size.seed + 12) * size.query_days * DAY_US)
                           .cast("long")).alias("order_ts"),
        (F.rand(size.seed + 13) < 0.7).alias("completed"),
    )


def write_agg_dataset(spark: SparkSession, size: AggSize, out_dir: str, *, force: bool = False) -> Dict[str, Any]:
    """Write both tables of ``size`` as Parquet under ``out_dir`` once; return the manifest.

    The manifest (``manifest.json``: the size's parameters, paths and row counts) is written last, so a
    folder whose manifest matches the size is complete and is reused unless ``force``.
    """
    root = Path(out_dir)
    manifest_path = root / "manifest.json"
    params = json.loads(json.dumps(asdict(size)))
    if manifest_path.exists() and not force:
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("size") == params:
            logger.info("Reusing %s aggregation data in %s", size.name, root)
            return dict(manifest)
    root.mkdir(parents=True, exist_ok=True)
    manifest_path.unlink(missing_ok=True)
    paths, rows = {}, {}
    for table, generate in (("trips", trips), ("orders", orders)):
        path = str(root / table)
        generate(spark, size).write.mode("overwrite").parquet(path)
        paths[table] = path
        rows[table] = spark.read.parquet(path).count()
        logger.info("%s %s: %d rows", size.name, table, rows[table])
    hot = spark.read.parquet(paths["trips"]).groupBy("driver_id").count().orderBy(F.desc("count")).first()
    manifest = {"size": params, "paths": paths, "rows": rows,
                "hottest_key_share": (hot["count"] / rows["trips"]) if hot else 0.0}
    manifest_path.write_text(json.dumps(manifest, indent=2))
    return manifest
