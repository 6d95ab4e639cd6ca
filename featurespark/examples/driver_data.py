"""Synthetic data for the driver / customer example domain (also used by the benchmarks).

All frames are built lazily with Spark from seeded random columns, so a given
:class:`ExampleSize` always yields the same rows. Shapes:

- driver stats: one row per driver and hour, plus ~1% late corrections that share an
  event time with an earlier row but have a later created time and other values;
- customer profile: one row per customer and day;
- driver-customer stats: sparse weekly rows for ~1 in 20 (driver, customer) pairs;
- driver ratings: one row per driver and day (an Iceberg table, :data:`DRIVER_RATINGS_TABLE`);
- entity rows (orders): driver, customer, event time, a label; ~2% unknown drivers and
  ~1% exact duplicates; optionally one "hot" driver holding a share of the rows.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from featurespark.errors import ConfigError
from featurespark.offline.formats import ICEBERG_CATALOG

logger = logging.getLogger(__name__)

__all__ = [
    "DRIVER_RATINGS_TABLE", "ExampleSize", "START", "customer_profile", "driver_customer_stats", "driver_hourly_stats",
    "driver_ratings", "entity_rows", "stats_with_corrections", "write_example_data",
]

#: First event time of the generated data.
START = datetime(2026, 1, 1, tzinfo=timezone.utc)

#: The example's Iceberg table, in the Hadoop catalog ``iceberg`` that ``configure_spark`` sets up locally when
#: the Iceberg runtime jar is in the jars folder (warehouse ``<spark.metastore_dir>/iceberg-warehouse``).
DRIVER_RATINGS_TABLE = f"{ICEBERG_CATALOG}.example.driver_ratings"


@dataclass(frozen=True)
class ExampleSize:
    """How much data to generate.

    Attributes
    ----------
    drivers, customers : int
        Entity counts.
    days : int
        Days of history; driver stats are hourly, customer profiles daily, pairs weekly.
    entity_rows : int
        Rows of the label (entity) frame.
    hot_key_share : float
        Share of entity rows and driver-stat rows given to driver 0 (skewed variant); 0 for none.
    seed : int
        Seed of every random column.
    start : datetime
        First event time (UTC).
    """

    drivers: int = 50
    customers: int = 200
    days: int = 14
    entity_rows: int = 1000
    hot_key_share: float = 0.0
    seed: int = 7
    start: datetime = START


def driver_hourly_stats(spark: SparkSession, size: ExampleSize) -> DataFrame:
    """Hourly driver statistics with late corrections (see module docs)."""
    hours = size.days * 24
    base = (
        spark.range(size.drivers * hours)
        .select(
            (F.col("id") % size.drivers).alias("driver_id"),
            (F.col("id") / size.drivers).cast("long").alias("hour"),
        )
    )
    if size.hot_key_share > 0:
        extra = int(size.drivers * hours * size.hot_key_share)
        # The hot driver also reports several times an hour, at distinct minutes.
        hot = spark.range(extra).select(
            F.lit(0).cast("long").alias("driver_id"),
            (F.col("id") % hours).cast("long").alias("hour"),
            F.col("id"),
        )
        base = base.select("*", F.lit(0).cast("long").alias("id")).unionByName(hot)
    else:
        base = base.withColumn("id", F.lit(0).cast("long"))
    start = F.lit(size.start)
    event = start + F.make_dt_interval(hours=F.col("hour").cast("int"), mins=(F.col("id") % 60).cast("int"))
    return stats_with_corrections(base, event, seed=size.seed)


def stats_with_corrections(base: DataFrame, event: Column, *, seed: int, correction_share: float = 0.01) -> DataFrame:
    """Driver statistics for rows of ``base`` (with ``driver_id``) at ``event``, plus late corrections.

    Each row is created five minutes after its event; a ``correction_share`` of the rows get a
    correction with the same event time, created a day later, with other values (the case the
    point-in-time join breaks ties on).
    """
    rows = base.select(
        "driver_id",
        event.alias("event_timestamp"),
        (event + F.expr("INTERVAL 5 MINUTES")).alias("created"),
        F.round(F.rand(seed), 4).alias("conv_rate"),
        F.round(F.rand(seed + 1), 4).cast("float").alias("acc_rate"),
        (F.rand(seed + 2) * 30).cast("long").alias("avg_daily_trips"),
    )
    corrections = rows.where(F.rand(seed + 3) < correction_share).select(
        "driver_id",
        "event_timestamp",
        (F.col("created") + F.expr("INTERVAL 1 DAY")).alias("created"),
        F.round(F.col("conv_rate") * 0.9, 4).alias("conv_rate"),
        "acc_rate",
        (F.col("avg_daily_trips") + 1).alias("avg_daily_trips"),
    )
    return rows.unionByName(corrections)


def customer_profile(spark: SparkSession, size: ExampleSize) -> DataFrame:
    """Daily customer profiles."""
    areas = F.array(F.lit("centre"), F.lit("airport"), F.lit("harbour"), F.lit("north"))
    return spark.range(size.customers * size.days).select(
        F.concat(F.lit("C"), F.lpad((F.col("id") % size.customers).cast("string"), 6, "0")).alias("customer_id"),
        (F.lit(size.start) + F.make_dt_interval(days=(F.col("id") / size.customers).cast("int"))).alias(
            "event_timestamp"
        ),
        F.round(F.rand(size.seed + 10) * 100, 2).alias("current_balance"),
        (F.rand(size.seed + 11) * 500).cast("long").alias("lifetime_trip_count"),
        F.slice(F.shuffle(areas), 1, 2).alias("favourite_areas"),
    )


def driver_customer_stats(spark: SparkSession, size: ExampleSize) -> DataFrame:
    """Sparse weekly statistics of (driver, customer) pairs."""
    weeks = max(1, size.days // 7)
    pairs = size.drivers * size.customers
    return (
        spark.range(pairs * weeks)
        .where(F.rand(size.seed + 20) < 0.05)
        .select(
            (F.col("id") % size.drivers).alias("driver_id"),
            F.concat(
                F.lit("C"),
                F.lpad(((F.col("id") % pairs) / size.drivers).cast("long").cast("string"), 6, "0"),
            ).alias("customer_id"),
            (F.lit(size.start) + F.make_dt_interval(days=((F.col("id") / pairs).cast("int") * 7))).alias(
                "event_timestamp"
            ),
            (F.rand(size.seed + 21) * 10).cast("int").alias("trips_together"),
            F.round(F.rand(size.seed + 22) * 5, 2).alias("avg_rating_given"),
        )
    )


def driver_ratings(spark: SparkSession, size: ExampleSize) -> DataFrame:
    """Daily driver ratings: ``driver_id, event_timestamp, avg_rating, rated_trips``."""
    return spark.range(size.drivers * size.days).select(
        (F.col("id") % size.drivers).alias("driver_id"),
        (F.lit(size.start) + F.make_dt_interval(days=(F.col("id") / size.drivers).cast("int"))).alias(
            "event_timestamp"
        ),
        F.round(F.lit(3.0) + F.rand(size.seed + 40) * 2, 2).alias("avg_rating"),
        (F.rand(size.seed + 41) * 40).cast("long").alias("rated_trips"),
    )


def entity_rows(spark: SparkSession, size: ExampleSize) -> DataFrame:
    """Label rows: ``order_id, driver_id, customer_id, event_timestamp, completed``."""
    seconds = size.days * 86400
    hot = F.rand(size.seed + 30) < F.lit(size.hot_key_share)
    unknown = F.rand(size.seed + 31) < 0.02
    driver = (
        F.when(hot, F.lit(0))
        .when(unknown, F.lit(size.drivers) + (F.rand(size.seed + 32) * 100).cast("long"))
        .otherwise((F.rand(size.seed + 33) * size.drivers).cast("long"))
    )
    rows = spark.range(size.entity_rows).select(
        F.col("id").alias("order_id"),
        driver.alias("driver_id"),
        F.concat(
            F.lit("C"), F.lpad((F.rand(size.seed + 34) * size.customers).cast("long").cast("string"), 6, "0")
        ).alias("customer_id"),
        F.timestamp_seconds(F.unix_seconds(F.lit(size.start)) + (F.rand(size.seed + 35) * seconds).cast("long")).alias(
            "event_timestamp"
        ),
        (F.rand(size.seed + 36) < 0.7).alias("completed"),
    )
    duplicates = rows.where(F.rand(size.seed + 37) < 0.01)
    return rows.unionByName(duplicates)


def write_example_data(spark: SparkSession, out_dir: str, size: ExampleSize = ExampleSize()) -> dict[str, str]:
    """Write every example frame under ``out_dir`` and return their locations.

    ``customer_profile`` is a Delta table, ``driver_ratings`` the Iceberg table :data:`DRIVER_RATINGS_TABLE`
    (replaced on every run), the rest Parquet, matching the example repo's sources; ``driver_hourly_stats_raw``
    is the input of ``jobs/ingest.py``.

    Raises
    ------
    ConfigError
        If the session has no Iceberg catalog named ``iceberg`` (no Iceberg runtime jar in the jars folder).
    """
    if not spark.conf.get(f"spark.sql.catalog.{ICEBERG_CATALOG}", None):
        raise ConfigError(
            f"The example's driver_ratings view reads the Iceberg table {DRIVER_RATINGS_TABLE}, but this session has "
            f"no catalog named {ICEBERG_CATALOG!r}. configure_spark sets it up when the jars folder holds the Iceberg "
            "runtime jar: run `bash bootstrap/setup-local.sh` (`bash bootstrap/setup-compat.sh` for Spark 3.5)."
        )
    out = out_dir.rstrip("/")
    paths = {
        "driver_hourly_stats_raw": f"{out}/driver_hourly_stats_raw",
        "customer_profile": f"{out}/customer_profile",
        "driver_customer_stats": f"{out}/driver_customer_stats",
        "orders": f"{out}/orders",
        "driver_ratings": DRIVER_RATINGS_TABLE,
    }
    driver_hourly_stats(spark, size).write.mode("overwrite").parquet(paths["driver_hourly_stats_raw"])
    customer_profile(spark, size).write.format("delta").mode("overwrite").option(
        "overwriteSchema", "true"
    ).save(paths["customer_profile"])
    driver_customer_stats(spark, size).write.mode("overwrite").parquet(paths["driver_customer_stats"])
    entity_rows(spark, size).write.mode("overwrite").parquet(paths["orders"])
    driver_ratings(spark, size).writeTo(DRIVER_RATINGS_TABLE).using("iceberg").createOrReplace()
    logger.info("Wrote example data to %s", out)
    return paths
