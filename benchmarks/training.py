"""Training-set benchmark: featurespark and Feast point-in-time joins, and two floors.

Each measured case reads the entity rows from Parquet, builds the training set and writes it to
Parquet; the clock runs from the call to the end of the write (Spark start-up is not timed).

- ``featurespark_auto`` / ``_range`` / ``_asof``: ``FeatureStore.get_historical_features`` with
  each ``algorithm``.
- ``feast``: Feast's ``get_historical_features`` on its Spark offline store, ``to_spark_df()``.
- ``io_floor``: read every input once (entity rows and the three views) into Spark's ``noop`` sink.
- ``join_floor``: entity rows left-joined with one row per key of each view (``dropDuplicates`` on
  the keys of the full history, so the history is read and shuffled once), written to Parquet:
  the cost of producing an output of the same shape without any point-in-time logic.
- ``sort_floor``: for each view in turn, the entity rows (carrying the columns gathered so far) and the
  view's rows unioned, shuffled by the view's keys and sorted by key and time within partitions, the
  entity rows kept; written to Parquet. What any sort-based as-of join must at least do (until
  2026-11-29 the view's rows were pruned by the optimizer, see :func:`sort_floor_frame`).
- ``featurespark_chained``: the DataFrame-level path a user writes without a registry: three chained
  ``point_in_time_join`` calls over the same Parquet files (``algorithm="auto"``).
- ``featurespark_tiny``: the fixed cost of a call: ``get_historical_features`` for 10 entity rows built
  with ``createDataFrame`` (as a notebook user would), written to Parquet.
"""
from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from benchmarks.systems import FEATURES, VIEWS

logger = logging.getLogger(__name__)

OUTPUT_COLUMNS = ["order_id", "driver_id", "customer_id", "event_timestamp", "completed"] + [
    f for v in VIEWS for f in v.features
]


def io_floor(spark: SparkSession, paths: Mapping[str, str], out: str) -> None:
    """Read every input table once into the ``noop`` sink (``out`` is unused)."""
    for path in paths.values():
        spark.read.parquet(path).write.format("noop").mode("overwrite").save()


def join_floor(spark: SparkSession, paths: Mapping[str, str], out: str) -> None:
    """Entity rows left-joined with one (arbitrary) row per key of each view, written to ``out``."""
    frame = spark.read.parquet(paths["orders"])
    for view in VIEWS:
        keys = list(view.keys)
        one_per_key = spark.read.parquet(paths[view.table]).dropDuplicates(keys).select(*keys, *view.features)
        frame = frame.join(one_per_key, on=keys, how="left")
    frame.write.mode("overwrite").parquet(out)


def sort_floor(spark: SparkSession, paths: Mapping[str, str], out: str) -> None:
    """One shuffle and sort by (keys, time) per view of the entity rows with the view's rows; no as-of logic."""
    sort_floor_frame(spark, paths).write.mode("overwrite").parquet(out)


def sort_floor_frame(spark: SparkSession, paths: Mapping[str, str]) -> DataFrame:
    """The sort floor's result: the entity rows, after one shuffle and sort with each view's rows in turn.

    The entity rows are picked out after the sort by an expression Spark cannot see through (it is
    nondeterministic), so the filter stays where it is. A plain ``where("_entity")`` is pushed below the
    sort and the shuffle into the union, where the constant marker of the view's branch folds to false and
    the view's rows are never read: the floor then sorted the entity rows only.
    """
    frame = spark.read.parquet(paths["orders"])
    for view in VIEWS:
        keys = list(view.keys)
        rows = spark.read.parquet(paths[view.table]).select(*keys, "event_timestamp", *view.features)
        side = frame.withColumn("_entity", F.lit(True))
        both = side.unionByName(rows.withColumn("_entity", F.lit(False)), allowMissingColumns=True)
        sorted_rows = both.repartition(*keys).sortWithinPartitions(*keys, "event_timestamp")
        # _entity, made nondeterministic by adding 0 * rand(): Spark keeps such a filter where it is. (Simpler
        # spellings such as `_entity AND rand() >= 0` or `_entity = (rand() >= 0)` were still pushed down.)
        kept_after_sort = F.col("_entity").cast("double") + F.rand(0) * 0 > 0.5
        frame = sorted_rows.where(kept_after_sort).drop("_entity")
    return frame


def featurespark_chained(spark: SparkSession, paths: Mapping[str, str], out: str) -> None:
    """Three chained ``point_in_time_join`` calls (no registry), as a user writes them."""
    from featurespark import point_in_time_join

    frame = spark.read.parquet(paths["orders"])
    for view in VIEWS:
        frame = point_in_time_join(
            frame, spark.read.parquet(paths[view.table]), keys=list(view.keys), entity_timestamp="event_timestamp",
            feature_timestamp="event_timestamp", created_timestamp=view.created, ttl=view.ttl,
            features=list(view.features),
        )
    frame.write.mode("overwrite").parquet(out)


def featurespark_case(store: Any, algorithm: str) -> Callable[[SparkSession, Mapping[str, str], str], None]:
    """A case running featurespark's ``get_historical_features`` with ``algorithm``."""

    def run(spark: SparkSession, paths: Mapping[str, str], out: str) -> None:
        entity = spark.read.parquet(paths["orders"])
        store.get_historical_features(entity, FEATURES, algorithm=algorithm).write.mode("overwrite").parquet(out)

    return run


#: Entity rows of the tiny call (the first rows by order id).
TINY_ROWS = 10


def featurespark_tiny(store: Any) -> Callable[[SparkSession, Mapping[str, str], str], None]:
    """A case timing ``get_historical_features`` on :data:`TINY_ROWS` entity rows held by the driver."""
    held: Dict[str, Any] = {}

    def run(spark: SparkSession, paths: Mapping[str, str], out: str) -> None:
        if "rows" not in held:  # read once, untimed after the first (warm-up) run
            orders = spark.read.parquet(paths["orders"])
            held["schema"], held["rows"] = orders.schema, orders.orderBy("order_id").limit(TINY_ROWS).collect()
        entity = spark.createDataFrame(held["rows"], held["schema"])
        store.get_historical_features(entity, FEATURES).write.mode("overwrite").parquet(out)

    return run


def feast_case(store: Any) -> Callable[[SparkSession, Mapping[str, str], str], None]:
    """A case running Feast's ``get_historical_features`` (Spark offline store)."""

    def run(spark: SparkSession, paths: Mapping[str, str], out: str) -> None:
        entity = spark.read.parquet(paths["orders"])
        job = store.get_historical_features(entity_df=entity, features=FEATURES)
        job.to_spark_df().write.mode("overwrite").parquet(out)

    return run


def time_case(
    spark: SparkSession, name: str, case: Callable[[SparkSession, Mapping[str, str], str], None],
    paths: Mapping[str, str], out: str, timeout_s: Optional[float] = None,
) -> Optional[float]:
    """Run one case and return its wall-clock seconds, or None if it was cancelled after ``timeout_s``.

    The output folder is removed first. A timer cancels every Spark job of the session when the
    time is up (the benchmark runs one case at a time).
    """
    shutil.rmtree(out, ignore_errors=True)
    spark.sparkContext.setJobDescription(f"bench {name}")
    timed_out = threading.Event()

    def cancel() -> None:
        timed_out.set()
        spark.sparkContext.cancelAllJobs()

    timer = threading.Timer(timeout_s, cancel) if timeout_s else None
    started = time.perf_counter()
    if timer:
        timer.start()
    try:
        case(spark, paths, out)
    except Exception:
        if not timed_out.is_set():
            raise
    finally:
        if timer:
            timer.cancel()
    seconds = time.perf_counter() - started
    if timed_out.is_set():
        logger.info("training %s: cancelled after %.0f s", name, seconds)
        return None
    logger.info("training %s: %.2f s", name, seconds)
    return seconds


def run_training(
    spark: SparkSession,
    size_name: str,
    paths: Mapping[str, str],
    cases: Mapping[str, Callable[[SparkSession, Mapping[str, str], str], None]],
    outdir: Path,
    runs: int,
    case_runs: Optional[Mapping[str, int]] = None,
    timeout_s: Optional[float] = None,
) -> List[Dict[str, Any]]:
    """Time every case ``runs`` times, rotating the order each run so no case always goes first.

    ``case_runs`` caps the runs of some cases (Feast on large sizes takes many minutes per run).
    A case cancelled after ``timeout_s`` is recorded with ``seconds=None`` and ``timed_out`` and is
    not run again.

    Returns
    -------
    list of dict
        One record per case and run: ``bench, size, system, run, seconds``. The last run's outputs
        stay in ``outdir/<case>`` for :func:`compare_outputs`.
    """
    names = list(cases)
    records: List[Dict[str, Any]] = []
    gave_up: set = set()
    for run in range(runs):
        order = names[run % len(names):] + names[: run % len(names)]
        for name in order:
            if name in gave_up or (case_runs and run >= case_runs.get(name, runs)):
                continue
            seconds = time_case(spark, name, cases[name], paths, str(outdir / name), timeout_s)
            record = {"bench": "training", "size": size_name, "system": name, "run": run, "seconds": seconds}
            if seconds is None:
                record.update(timed_out=True, timeout_s=timeout_s)
                gave_up.add(name)
            records.append(record)
    return records


def _normalised(df: DataFrame) -> DataFrame:
    return df.select(
        *[F.unix_micros(F.col(c)).alias(c) if c == "event_timestamp" else F.col(c) for c in OUTPUT_COLUMNS]
    )


def compare_outputs(spark: SparkSession, left_path: str, right_path: str) -> Dict[str, Any]:
    """Compare two training sets row for row (as multisets, duplicates counted).

    Returns
    -------
    dict
        ``rows_left``, ``rows_right``, ``only_left``, ``only_right`` (``exceptAll`` counts, which keep
        duplicate counts), ``non_null`` per feature for each side, and ``feature_mismatches``: per
        feature, how many entity rows (by ``order_id``, duplicates collapsed) differ.
    """
    left = _normalised(spark.read.parquet(left_path))
    right = _normalised(spark.read.parquet(right_path))
    features = OUTPUT_COLUMNS[5:]
    stats = {}
    for side, df in (("left", left), ("right", right)):
        row = df.agg(F.count(F.lit(1)).alias("rows"), *[F.count(F.col(f)).alias(f) for f in features]).first()
        stats[side] = row.asDict() if row else {}
    l1, r1 = left.dropDuplicates(), right.dropDuplicates()
    joined = l1.alias("l").join(r1.alias("r"), on="order_id", how="full_outer")
    mismatch = joined.agg(*[
        F.sum((~F.col(f"l.{f}").eqNullSafe(F.col(f"r.{f}"))).cast("long")).alias(f) for f in features
    ]).first()
    return {
        "rows_left": stats["left"].get("rows"),
        "rows_right": stats["right"].get("rows"),
        "only_left": left.exceptAll(right).count(),
        "only_right": right.exceptAll(left).count(),
        "non_null_left": {f: stats["left"].get(f) for f in features},
        "non_null_right": {f: stats["right"].get(f) for f in features},
        "feature_mismatches": mismatch.asDict() if mismatch else {},
    }
