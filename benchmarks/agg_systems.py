"""The systems of the aggregation benchmark: featurespark and three ways to do without it.

Every system computes, for each order row at time ``t`` and its driver, over the trips with
``t - w <= event_ts < t``: count, sum and mean of ``fare`` over 1h, 1d, 7d and 30d, the max fare over 1d,
the last 5 ratings over 30d (newest first, ties by value) and the distinct merchants over 7d.

- ``featurespark``: :func:`featurespark.aggregations.window_aggregate_as_of` with its defaults (hot keys
  split when a key holds more than twice a task slot's share of the events: never on 2 cores with this
  data); ``featurespark_split``: the same with ``hot_key_share=0.01``, so the hottest drivers are split.
- ``range_between``: Spark window functions over the union of orders and trips, one sliding frame
  ``rangeBetween(-w, -1)`` per window (``collect_list`` for the last ratings, Spark's
  ``approx_count_distinct`` (HyperLogLog++) for merchants: an estimate, so not compared).
- ``range_join``: orders left-joined with the trips of their driver in ``[t - 30d, t)``, then one group-by
  per order row with conditional aggregates (exact ``count(DISTINCT ...)``).
- ``sort_floor``: the union of orders and trips shuffled by driver and sorted by time within partitions,
  written to the ``noop`` sink: a lower bound for any algorithm that sorts both inputs by key and time.

Timed runs write to the ``noop`` sink (the cost of computing, not of writing files); the comparison runs
write Parquet once more, untimed.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Literal, Mapping, Optional, Union

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from featurespark.aggregations import DEFAULT_HOT_KEY_SHARE, Aggregation, window_aggregate_as_of

HOUR_US = 3_600_000_000
WINDOWS: Dict[str, int] = {"1h": HOUR_US, "1d": 24 * HOUR_US, "7d": 7 * 24 * HOUR_US, "30d": 30 * 24 * HOUR_US}
AGGREGATIONS: List[Aggregation] = [
    Aggregation("fare", "count", list(WINDOWS)),
    Aggregation("fare", "sum", list(WINDOWS)),
    Aggregation("fare", "mean", list(WINDOWS)),
    Aggregation("fare", "max", ["1d"]),
    Aggregation("rating", "last_k", ["30d"], k=5),
    Aggregation("merchant_id", "approx_count_distinct", ["7d"]),
]
ORDER_COLUMNS = ["order_id", "driver_id", "order_ts", "completed"]
OUTPUTS: List[str] = [name for agg in AGGREGATIONS for name in agg.output_names()]
DISTINCT = "merchant_id_approx_count_distinct_7d"

Build = Callable[[SparkSession, Mapping[str, str]], Optional[DataFrame]]


def featurespark(hot_key_share: Union[float, Literal["auto"], None]) -> Build:
    """featurespark's ``window_aggregate_as_of`` (call-time jobs included in the timing)."""

    def build(spark: SparkSession, paths: Mapping[str, str]) -> DataFrame:
        return window_aggregate_as_of(
            spark.read.parquet(paths["orders"]), spark.read.parquet(paths["trips"]), keys=["driver_id"],
            entity_timestamp="order_ts", event_timestamp="event_ts", aggregations=AGGREGATIONS,
            hot_key_share=hot_key_share)

    return build


def _union(spark: SparkSession, paths: Mapping[str, str]) -> DataFrame:
    orders = spark.read.parquet(paths["orders"]).withColumns({"ts": F.col("order_ts"), "is_order": F.lit(True)})
    trips = spark.read.parquet(paths["trips"]).withColumns({"ts": F.col("event_ts"), "is_order": F.lit(False)})
    return orders.unionByName(trips.drop("event_ts"), allowMissingColumns=True)


def _newest(entries: Column) -> Column:
    """Ratings of ``struct(ts, rating)`` entries, newest first (at one instant the greater rating first), 5 at most."""
    values = F.slice(F.transform(F.sort_array(entries, asc=False), lambda e: e.getField("rating")), 1, 5)
    return F.when(F.size(values) > 0, values)


def range_between(spark: SparkSession, paths: Mapping[str, str]) -> DataFrame:
    """Sliding ``rangeBetween(-w, -1)`` frames over the union of orders and trips."""
    micros = F.unix_micros(F.col("ts"))
    by_time = Window.partitionBy("driver_id").orderBy(micros)
    columns = []
    for name, w in WINDOWS.items():
        frame = by_time.rangeBetween(-w, -1)
        columns += [F.count("fare").over(frame).alias(f"fare_count_{name}"),
                    F.sum("fare").over(frame).alias(f"fare_sum_{name}"),
                    F.avg("fare").over(frame).alias(f"fare_mean_{name}")]
    day, month, week = (by_time.rangeBetween(-WINDOWS[w], -1) for w in ("1d", "30d", "7d"))
    ratings = F.collect_list(F.when(F.col("rating").isNotNull(), F.struct(micros.alias("ts"), F.col("rating"))))
    columns += [F.max("fare").over(day).alias("fare_max_1d"),
                _newest(ratings.over(month)).alias("rating_last_k_30d"),
                F.approx_count_distinct("merchant_id").over(week).alias(DISTINCT)]
    out = _union(spark, paths).select("*", *columns).where(F.col("is_order"))
    return out.select(*ORDER_COLUMNS, *[c for c in OUTPUTS if c in out.columns])


def range_join(spark: SparkSession, paths: Mapping[str, str]) -> DataFrame:
    """Orders left-joined with their driver's trips of the last 30 days, then a group-by per order."""
    orders = spark.read.parquet(paths["orders"]).withColumn("t", F.unix_micros("order_ts"))
    trips = spark.read.parquet(paths["trips"]).select(
        F.col("driver_id").alias("trip_driver"), F.unix_micros("event_ts").alias("ts"), "fare", "merchant_id", "rating")
    cond = ((F.col("driver_id") == F.col("trip_driver")) & (F.col("ts") >= F.col("t") - F.lit(WINDOWS["30d"]))
            & (F.col("ts") < F.col("t")))
    joined = orders.join(trips, cond, "left")

    def within(name: str) -> Column:
        return F.col("ts") >= F.col("t") - F.lit(WINDOWS[name])

    aggs = []
    for name in WINDOWS:
        fare = F.when(within(name), F.col("fare"))
        aggs += [F.count(fare).alias(f"fare_count_{name}"), F.sum(fare).alias(f"fare_sum_{name}"),
                 F.avg(fare).alias(f"fare_mean_{name}")]
    ratings = F.collect_list(F.when(F.col("rating").isNotNull(), F.struct(F.col("ts"), F.col("rating"))))
    aggs += [F.max(F.when(within("1d"), F.col("fare"))).alias("fare_max_1d"),
             _newest(ratings).alias("rating_last_k_30d"),
             F.count_distinct(F.when(within("7d"), F.col("merchant_id"))).alias(DISTINCT)]
    return joined.groupBy(*ORDER_COLUMNS, "t").agg(*aggs).select(*ORDER_COLUMNS, *OUTPUTS)


def sort_floor(spark: SparkSession, paths: Mapping[str, str]) -> DataFrame:
    """The union of orders and trips shuffled by driver and sorted by time within partitions."""
    return _union(spark, paths).repartition("driver_id").sortWithinPartitions("driver_id", "ts")


SYSTEMS: Dict[str, Build] = {
    "featurespark": featurespark(DEFAULT_HOT_KEY_SHARE),
    "featurespark_split": featurespark(0.01),
    "range_between": range_between,
    "range_join": range_join,
    "sort_floor": sort_floor,
}
#: Systems whose outputs are compared with featurespark's (the sort floor computes nothing).
COMPARED_SYSTEMS = ("featurespark_split", "range_between", "range_join")


def timed(build: Build) -> Callable[[SparkSession, Mapping[str, str], str], None]:
    """A benchmark case writing the system's result to the ``noop`` sink (``out`` unused)."""

    def run(spark: SparkSession, paths: Mapping[str, str], out: str) -> None:
        df = build(spark, paths)
        assert df is not None
        df.write.format("noop").mode("overwrite").save()

    return run


def save(spark: SparkSession, build: Build, paths: Mapping[str, str], out: str) -> None:
    """Write the system's result as Parquet to ``out`` (for the comparison; not timed)."""
    df = build(spark, paths)
    assert df is not None
    df.write.mode("overwrite").parquet(out)


def compare_outputs(spark: SparkSession, left_path: str, right_path: str, rel_tol: float = 1e-9) -> Dict[str, Any]:
    """Compare two outputs by ``order_id``, column by column (floats within ``rel_tol``).

    Returns
    -------
    dict
        ``rows_left``, ``rows_right``, ``unmatched`` (order ids in one output only) and ``mismatches``:
        per output column present in both, the number of orders whose values differ.
    """
    left, right = spark.read.parquet(left_path), spark.read.parquet(right_path)
    columns = [c for c in OUTPUTS if c in left.columns and c in right.columns]
    joined = left.alias("l").join(right.alias("r"), on="order_id", how="full_outer")

    def differs(c: str) -> Column:
        lc, rc = F.col(f"l.{c}"), F.col(f"r.{c}")
        if dict(left.dtypes)[c] == "double":
            close = F.abs(lc - rc) <= F.lit(rel_tol) * F.greatest(F.lit(1.0), F.abs(lc), F.abs(rc))
            return ~(close | (lc.isNull() & rc.isNull()))
        return ~lc.eqNullSafe(rc)

    row = joined.agg(
        F.sum(F.when(F.col("l.driver_id").isNull() | F.col("r.driver_id").isNull(), 1).otherwise(0)).alias("unmatched"),
        *[F.sum(differs(c).cast("long")).alias(c) for c in columns],
    ).first()
    counts = row.asDict() if row else {}
    return {"rows_left": left.count(), "rows_right": right.count(), "unmatched": counts.pop("unmatched", None),
            "mismatches": counts}
