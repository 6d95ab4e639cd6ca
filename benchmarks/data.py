"""Benchmark data: drivers, customers and driver-customer pairs, generated with Spark so it scales.

Every frame is built lazily from seeded random columns over ``spark.range`` and written once as
Parquet; featurespark and Feast then read the same files. Shapes (see :data:`SIZES`):

- ``driver_hourly_stats``: one row per driver and hour at a per-driver minute offset, plus ~1% late
  corrections that share an event time with an earlier row but have a created time one day later
  (and other values). In the skewed variant driver 0 also reports every few seconds, at half-second
  offsets so that no two of its rows tie on (event time, created time).
- ``customer_profile``: one row per customer and day, no created time.
- ``driver_customer_stats``: sparse weekly rows: ``pairs`` distinct (driver, customer) pairs, each
  present in a given week with probability one half.
- ``orders`` (entity rows): ~30% name a pair that has weekly stats, the rest a random driver and
  customer; ~2% unknown drivers, ~1% unknown customers, ~1% exact duplicate rows. In the skewed
  variant a share of the rows goes to driver 0.

Event times are never tied within a key (same event time and same created time), so the
point-in-time answer is unique and both systems can be compared row for row.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Dict

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from featurespark.examples.driver_data import stats_with_corrections

logger = logging.getLogger(__name__)

#: First event time of the generated data.
START = datetime(2026, 1, 1, tzinfo=timezone.utc)
#: A prime larger than every factor of drivers * customers: ``p -> p * PAIR_STRIDE mod (D * C)`` is
#: then a permutation, so distinct pair indexes give distinct (driver, customer) pairs.
PAIR_STRIDE = 1_000_003
#: Probability that a pair has a row in a given week.
PAIR_WEEKLY_PRESENCE = 0.5
#: Share of entity rows drawn from the pairs that have weekly stats.
ENTITY_PAIR_SHARE = 0.3
UNKNOWN_DRIVER_SHARE = 0.02
UNKNOWN_CUSTOMER_SHARE = 0.01
DUPLICATE_SHARE = 0.01
CORRECTION_SHARE = 0.01
#: Names of the generated tables, in writing order.
TABLES = ("driver_hourly_stats", "customer_profile", "driver_customer_stats", "orders")


@dataclass(frozen=True)
class BenchSize:
    """How much data to generate.

    Attributes
    ----------
    name : str
        Label in the report (``S``, ``M``, ``L``, ``M_skew``, ...).
    drivers, customers : int
        Entity counts.
    days : int
        Days of history: hourly driver rows, daily customer rows, weekly pair rows.
    entity_rows : int
        Rows of the entity frame before the ~1% duplicates are added.
    pairs : int
        Distinct (driver, customer) pairs with weekly stats.
    hot_key_share : float
        Share of entity rows given to driver 0 (skewed variant); 0 for none.
    hot_feature_share : float
        Extra driver-stat rows of driver 0, as a share of the regular driver rows.
    seed : int
        Seed of every random column.
    start : datetime
        First event time (UTC); the benchmark moves it close to today so online TTLs have not expired.
    """

    name: str
    drivers: int
    customers: int
    days: int
    entity_rows: int
    pairs: int
    hot_key_share: float = 0.0
    hot_feature_share: float = 0.0
    seed: int = 11
    start: datetime = START

    @property
    def weeks(self) -> int:
        """Weekly snapshots that fit in ``days`` (the first at day 0)."""
        return (self.days + 6) // 7

    @property
    def driver_rows(self) -> int:
        """Regular hourly driver rows (before corrections and hot-key extras)."""
        return self.drivers * self.days * 24

    @property
    def end(self) -> datetime:
        """First instant after the generated data."""
        return self.start + timedelta(days=self.days)

    def skewed(self, key_share: float = 0.3, feature_share: float = 0.1) -> BenchSize:
        """The skewed variant of this size: driver 0 holds a large share of rows."""
        return replace(self, name=f"{self.name}_skew", hot_key_share=key_share, hot_feature_share=feature_share)


SIZES: Dict[str, BenchSize] = {
    "XS": BenchSize("XS", drivers=36, customers=334, days=30, entity_rows=10_000, pairs=400),
    "S": BenchSize("S", drivers=360, customers=3_334, days=30, entity_rows=100_000, pairs=4_000),
    "M": BenchSize("M", drivers=3_600, customers=33_334, days=30, entity_rows=1_000_000, pairs=40_000),
    "L": BenchSize("L", drivers=36_000, customers=333_340, days=30, entity_rows=10_000_000, pairs=400_000),
}


def size_by_name(name: str) -> BenchSize:
    """A size from :data:`SIZES`, or its skewed variant for ``NAME_skew`` (``M_skew``).

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones).
    """
    base, _, suffix = name.partition("_")
    if base in SIZES and suffix in ("", "skew"):
        return SIZES[base].skewed() if suffix else SIZES[base]
    known = ", ".join(list(SIZES) + [f"{s}_skew" for s in SIZES])
    raise ValueError(f"unknown size {name!r}; known sizes: {known}")


def _customer_id(index: Column) -> Column:
    return F.concat(F.lit("C"), F.lpad(index.cast("string"), 7, "0"))


def _at(size: BenchSize, seconds: Column) -> Column:
    """``size.start`` plus a number of seconds (fractions kept) as a timestamp."""
    start_us = F.lit(int(size.start.timestamp()) * 1_000_000).cast("long")
    return F.timestamp_micros(start_us + (seconds * 1_000_000).cast("long"))


def driver_hourly_stats(spark: SparkSession, size: BenchSize) -> DataFrame:
    """Hourly driver statistics with ~1% late corrections (see module docs)."""
    base = spark.range(size.driver_rows).select(
        (F.col("id") % size.drivers).alias("driver_id"),
        ((F.col("id") / size.drivers).cast("long") * 3600 + (F.col("id") % size.drivers) * 7 % 60 * 60).alias("sec"),
    )
    extra = int(size.driver_rows * size.hot_feature_share)
    if extra:
        step = size.days * 86400 / extra
        # Half-second offsets: never equal to a regular row's whole-minute event time.
        hot = spark.range(extra).select(
            F.lit(0).cast("long").alias("driver_id"), (F.floor(F.col("id") * step) + 0.5).alias("sec")
        )
        base = base.select("driver_id", F.col("sec").cast("double").alias("sec")).unionByName(hot)
    return stats_with_corrections(base, _at(size, F.col("sec")), seed=size.seed, correction_share=CORRECTION_SHARE)


def customer_profile(spark: SparkSession, size: BenchSize) -> DataFrame:
    """Daily customer profiles at a per-customer minute offset."""
    segments = F.array(*[F.lit(s) for s in ("new", "regular", "frequent", "vip")])
    customer = F.col("id") % size.customers
    day = (F.col("id") / size.customers).cast("long")
    return spark.range(size.customers * size.days).select(
        _customer_id(customer).alias("customer_id"),
        _at(size, day * 86400 + customer % 1440 * 60).alias("event_timestamp"),
        F.round(F.rand(size.seed + 10) * 100, 2).alias("current_balance"),
        (F.rand(size.seed + 11) * 500).cast("long").alias("lifetime_trip_count"),
        F.element_at(segments, (F.rand(size.seed + 12) * 4).cast("int") + 1).alias("segment"),
    )


def _pair(index: Column, size: BenchSize) -> tuple[Column, Column]:
    """(driver_id, customer_id) of pair number ``index`` (distinct for distinct indexes)."""
    q = index * PAIR_STRIDE % (size.drivers * size.customers)
    return q % size.drivers, _customer_id((q / size.drivers).cast("long"))


def driver_customer_stats(spark: SparkSession, size: BenchSize) -> DataFrame:
    """Sparse weekly statistics of ``size.pairs`` distinct (driver, customer) pairs."""
    pair = F.col("id") % size.pairs
    week = (F.col("id") / size.pairs).cast("long")
    driver, customer = _pair(pair, size)
    return (
        spark.range(size.pairs * size.weeks)
        .where(F.rand(size.seed + 20) < PAIR_WEEKLY_PRESENCE)
        .select(
            driver.alias("driver_id"),
            customer.alias("customer_id"),
            _at(size, week * 7 * 86400 + pair % 600 * 60).alias("event_timestamp"),
            (F.rand(size.seed + 21) * 10).cast("int").alias("trips_together"),
            F.round(F.rand(size.seed + 22) * 5, 2).alias("avg_rating_given"),
        )
    )


def entity_rows(spark: SparkSession, size: BenchSize) -> DataFrame:
    """Entity (label) rows: ``order_id, driver_id, customer_id, event_timestamp, completed``."""
    # Draw every random number once per row first: a rand() inside a CASE branch only advances when
    # that branch is evaluated, so reusing one seed in two branches would not give the same draw.
    draws = spark.range(size.entity_rows).select(
        "id", *[F.rand(size.seed + 30 + i).alias(f"r{i}") for i in range(10)]
    )
    r = [F.col(f"r{i}") for i in range(10)]
    hot = r[0] < F.lit(size.hot_key_share)
    from_pair = r[0] < F.lit(size.hot_key_share + ENTITY_PAIR_SHARE * (1 - size.hot_key_share))
    pair_driver, pair_customer = _pair((r[1] * size.pairs).cast("long"), size)
    driver = (
        F.when(hot, F.lit(0).cast("long"))
        .when(from_pair, pair_driver)
        .when(r[2] < UNKNOWN_DRIVER_SHARE, F.lit(size.drivers) + (r[3] * 100).cast("long"))
        .otherwise((r[4] * size.drivers).cast("long"))
    )
    customer = (
        F.when(from_pair & ~hot, pair_customer)
        .when(r[5] < UNKNOWN_CUSTOMER_SHARE, _customer_id(F.lit(size.customers) + (r[6] * 100).cast("long")))
        .otherwise(_customer_id((r[7] * size.customers).cast("long")))
    )
    # From day 1 on, so that most rows have a TTL window full of history; whole seconds.
    seconds = 86400 + (r[8] * (size.days - 1) * 86400).cast("long")
    rows = draws.select(
        F.col("id").alias("order_id"),
        driver.alias("driver_id"),
        customer.alias("customer_id"),
        _at(size, seconds).alias("event_timestamp"),
        (r[9] < 0.7).alias("completed"),
    )
    return rows.unionByName(rows.where(F.rand(size.seed + 40) < DUPLICATE_SHARE))


GENERATORS = {
    "driver_hourly_stats": driver_hourly_stats,
    "customer_profile": customer_profile,
    "driver_customer_stats": driver_customer_stats,
    "orders": entity_rows,
}


def write_dataset(spark: SparkSession, size: BenchSize, out_dir: str, *, force: bool = False) -> dict:
    """Write every table of ``size`` as Parquet under ``out_dir`` once; return the manifest.

    The manifest (``manifest.json``: the size's parameters, the table paths and row counts) is
    written last, so a folder with a matching manifest is complete and is reused unless ``force``.

    Parameters
    ----------
    spark : SparkSession
        Session to generate with.
    size : BenchSize
        What to generate.
    out_dir : str
        Local folder of this size's data.
    force : bool
        Regenerate even if a matching manifest exists.

    Returns
    -------
    dict
        ``{"size": {...}, "paths": {table: path}, "rows": {table: count}}``.
    """
    root = Path(out_dir)
    manifest_path = root / "manifest.json"
    params = json.loads(json.dumps(asdict(size), default=str))
    if manifest_path.exists() and not force:
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("size") == params:
            logger.info("Reusing %s data in %s", size.name, root)
            return manifest
    root.mkdir(parents=True, exist_ok=True)
    manifest_path.unlink(missing_ok=True)
    paths, rows = {}, {}
    for table in TABLES:
        path = str(root / table)
        GENERATORS[table](spark, size).write.mode("overwrite").parquet(path)
        paths[table] = path
        rows[table] = spark.read.parquet(path).count()
        logger.info("%s %s: %d rows", size.name, table, rows[table])
    manifest = {"size": params, "paths": paths, "rows": rows}
    manifest_path.write_text(json.dumps(manifest, indent=2))
    return manifest
