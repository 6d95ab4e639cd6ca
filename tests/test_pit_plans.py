"""How the joins run: Spark jobs started at call time, passes per key set, hot-key buckets."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from featurespark.pit import PitView, entity_time_range, local_copy, point_in_time_join, point_in_time_join_many
from featurespark.pit import time_range as time_range_module
from featurespark.pit import _prepare
from featurespark.pit.hot_keys import bucket_width


def at(minute: int) -> datetime:
    return datetime(2024, 1, 1, 10, minute, tzinfo=timezone.utc)


def _plan(df: DataFrame) -> str:
    return str(df._jdf.queryExecution().executedPlan().toString())


@pytest.fixture(scope="module")
def frames(spark: SparkSession) -> tuple[DataFrame, DataFrame, DataFrame]:
    entity = spark.createDataFrame([(1, "x", at(5)), (2, "y", at(6))], "a int, b string, ts timestamp")
    by_a = spark.createDataFrame([(1, at(1), 10), (2, at(2), 20)], "a int, fts timestamp, v int")
    by_b = spark.createDataFrame([("x", at(1), 1.5)], "b string, fts timestamp, w double")
    return entity, by_a, by_b


@pytest.fixture(autouse=True)
def no_key_filter(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan shapes below are those of entity frames too large for the key filter (tested on its own)."""
    monkeypatch.setattr(_prepare, "KEY_FILTER_MAX_ROWS", -1)


def _jobs_started(spark: SparkSession, group: str, action: object) -> int:
    sc = spark.sparkContext
    sc.setJobGroup(group, "count the jobs of a point-in-time join call")
    try:
        action()
    finally:
        for prop in ("spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel"):
            sc.setLocalProperty(prop, None)
    return len(sc.statusTracker().getJobIdsForGroup(group))


def test_one_aggregate_job_at_call_time_and_none_with_a_time_range(
    spark: SparkSession, frames: tuple[DataFrame, DataFrame, DataFrame]
) -> None:
    entity, by_a, _ = frames
    kwargs = dict(keys=["a"], entity_timestamp="ts", feature_timestamp="fts")
    # With adaptive execution one aggregate action runs as several jobs (one per query stage), so
    # compare with the jobs of the time-range aggregate on its own.
    aggregate_jobs = _jobs_started(spark, "pit-range-only", lambda: entity_time_range(entity, "ts"))
    assert aggregate_jobs >= 1
    assert _jobs_started(spark, "pit-call", lambda: point_in_time_join(entity, by_a, **kwargs)) == aggregate_jobs
    time_range = entity_time_range(entity, "ts")
    assert _jobs_started(
        spark, "pit-call-with-range", lambda: point_in_time_join(entity, by_a, time_range=time_range, **kwargs)
    ) == 0


def test_views_sharing_entity_keys_use_one_window_pass(
    spark: SparkSession, frames: tuple[DataFrame, DataFrame, DataFrame]
) -> None:
    entity, by_a, by_b = frames
    same_keys = [
        PitView(by_a, keys=["a"], feature_timestamp="fts", prefix="p_"),
        PitView(by_a, keys=["a"], feature_timestamp="fts", prefix="q_", ttl=timedelta(minutes=1)),
    ]
    out = point_in_time_join_many(entity, same_keys, entity_timestamp="ts", algorithm="asof")
    plan = _plan(out)
    assert plan.count("Window [") == 1, plan
    assert plan.count("Exchange hashpartitioning") == 1, plan
    assert [tuple(r)[3:] for r in out.orderBy("a").collect()] == [(10, None), (20, None)]

    other_keys = [same_keys[0], PitView(by_b, keys=["b"], feature_timestamp="fts")]
    plan = _plan(point_in_time_join_many(entity, other_keys, entity_timestamp="ts", algorithm="asof"))
    assert plan.count("Window [") == 2, plan


def test_hot_key_buckets_partition_the_window_by_time_bucket(
    spark: SparkSession, frames: tuple[DataFrame, DataFrame, DataFrame]
) -> None:
    entity, by_a, _ = frames
    plain = _plan(
        point_in_time_join(entity, by_a, keys=["a"], entity_timestamp="ts", feature_timestamp="fts", algorithm="asof")
    )
    split = point_in_time_join(
        entity, by_a, keys=["a"], entity_timestamp="ts", feature_timestamp="fts", algorithm="asof", hot_key_buckets=4
    )
    assert "__fs_pit_bucket" not in plain
    # the window partitions by the entity key column itself (no cast needed), the salt and the time bucket
    assert re.search(r"hashpartitioning\(a#\w+, __fs_pit_salt#\w+, __fs_pit_bucket#", _plan(split))
    assert sorted(r["v"] for r in split.collect()) == [10, 20]


def test_bucket_width_covers_the_range() -> None:
    assert bucket_width(0, 99, 4) == 25
    assert bucket_width(0, 100, 4) == 26  # 101 microseconds need 26-wide buckets
    assert bucket_width(5, 5, 8) == 1


@pytest.mark.parametrize(
    "ttl, exchanges, values",
    [(None, 2, [10, 20]), (timedelta(0), 2, [None, None]), (timedelta(minutes=5), 3, [10, 20])],
)
def test_range_join_picks_the_winner_without_reshuffling_unless_bucketed(
    spark: SparkSession, frames: tuple[DataFrame, DataFrame, DataFrame], ttl: timedelta, exchanges: int, values: list
) -> None:
    entity, by_a, _ = frames
    out = point_in_time_join(
        entity, by_a, keys=["a"], entity_timestamp="ts", feature_timestamp="fts", algorithm="range", ttl=ttl
    )
    assert _plan(out).count("Exchange") == exchanges, _plan(out)
    assert [r["v"] for r in out.orderBy("a").collect()] == values


def test_chained_joins_are_planned_as_one_join_of_the_entity_rows(
    spark: SparkSession, frames: tuple[DataFrame, DataFrame, DataFrame]
) -> None:
    entity, by_a, by_b = frames
    by_a2 = by_a.withColumnRenamed("v", "v2")
    common = dict(entity_timestamp="ts", feature_timestamp="fts", algorithm="asof")
    first = point_in_time_join(entity, by_a, keys=["a"], **common)
    # The second and third calls measure nothing: they reuse the first call's entity time range.
    assert _jobs_started(spark, "pit-chained", lambda: point_in_time_join(first, by_a2, keys=["a"], **common)) == 0
    chained = point_in_time_join(point_in_time_join(first, by_a2, keys=["a"], **common), by_b, keys=["b"], **common)
    grouped = point_in_time_join_many(
        entity, [PitView(by_a, keys=["a"], feature_timestamp="fts"), PitView(by_a2, keys=["a"], feature_timestamp="fts"),
                 PitView(by_b, keys=["b"], feature_timestamp="fts")], entity_timestamp="ts", algorithm="asof")
    # Same physical plan shape: views keyed by `a` share one window pass (two passes in all, not three).
    chained_plan, grouped_plan = _plan(chained), _plan(grouped)
    assert chained_plan.count("Window [") == grouped_plan.count("Window [") == 2
    assert chained_plan.count("Exchange") == grouped_plan.count("Exchange")
    assert chained.columns == grouped.columns == ["a", "b", "ts", "v", "v2", "w"]
    assert sorted(chained.collect()) == sorted(grouped.collect())


def test_a_join_keyed_by_an_earlier_joins_feature_is_planned_on_its_own(
    spark: SparkSession, frames: tuple[DataFrame, DataFrame, DataFrame]
) -> None:
    entity, by_a, _ = frames
    with_key = by_a.withColumn("c", by_a.v)  # the first join adds feature `c`, the second join is keyed by it
    by_c = spark.createDataFrame([(10, at(0), "ten")], "c int, fts timestamp, label string")
    first = point_in_time_join(entity, with_key, keys=["a"], entity_timestamp="ts", feature_timestamp="fts")
    second = point_in_time_join(first, by_c, keys=["c"], entity_timestamp="ts", feature_timestamp="fts")
    assert sorted((r.a, r.label) for r in second.collect()) == [(1, "ten"), (2, None)]


def test_a_hot_key_is_detected_and_split_by_time_without_being_asked(spark: SparkSession) -> None:
    from pyspark.sql import functions as F

    # 30% of 20,000 entity rows share key 7: measured in the time-range job, split automatically.
    skewed = spark.range(20_000).select(F.when(F.col("id") % 10 < 3, F.lit(7)).otherwise(F.col("id")).alias("a"),
                                        (F.lit(1_700_000_000) + F.col("id")).cast("timestamp").alias("ts"))
    uniform = spark.range(20_000).select(F.col("id").alias("a"),
                                         (F.lit(1_700_000_000) + F.col("id")).cast("timestamp").alias("ts"))
    features = spark.createDataFrame([(7, datetime(2023, 11, 14, tzinfo=timezone.utc), 1)], "a long, fts timestamp, v int")
    kwargs = dict(keys=["a"], entity_timestamp="ts", feature_timestamp="fts", ttl=timedelta(days=3650))
    hot = point_in_time_join(skewed, features, **kwargs)
    # auto: the as-of join (a window pass, never the range join) split by time buckets
    assert "Window [" in _plan(hot) and "__fs_pit_bucket" in _plan(hot)
    assert "__fs_pit_bucket" not in _plan(point_in_time_join(uniform, features, algorithm="asof", **kwargs))
    assert "__fs_pit_bucket" not in _plan(point_in_time_join(skewed, features, algorithm="asof", hot_key_buckets=0,
                                                             **kwargs))
    assert hot.where("v = 1").count() == 6_001  # every row of key 7 (6,000 plus id 7 itself) sees the feature


@pytest.mark.parametrize("algorithm", ["asof", "range"])
def test_a_small_entity_frame_filters_the_feature_rows_by_its_keys_before_the_shuffle(
    spark: SparkSession, frames: tuple[DataFrame, DataFrame, DataFrame], monkeypatch: pytest.MonkeyPatch,
    algorithm: str
) -> None:
    entity, by_a, _ = frames
    more = by_a.unionByName(spark.createDataFrame([(3, at(1), 30), (None, at(2), 40)], "a int, fts timestamp, v int"))
    with_null_key = entity.unionByName(spark.createDataFrame([(None, "z", at(7))], "a int, b string, ts timestamp"))
    kwargs = dict(keys=["a"], entity_timestamp="ts", feature_timestamp="fts", algorithm=algorithm)
    unfiltered = point_in_time_join(with_null_key, more, **kwargs)
    assert "LeftSemi" not in _plan(unfiltered)
    expected = sorted(unfiltered.collect(), key=repr)
    monkeypatch.setattr(_prepare, "KEY_FILTER_MAX_ROWS", 3)  # the frame's 3 rows: at most this many
    # a feature frame this small is shuffled whole: the filter would cost an extra job
    assert "LeftSemi" not in _plan(point_in_time_join(with_null_key, more, **kwargs))
    big = spark.range(2_000_000).select(F.col("id").cast("int").alias("a"),
                                        F.lit(at(1)).alias("fts"), F.col("id").cast("int").alias("v"))
    assert _prepare.estimated_bytes(big) >= _prepare.KEY_FILTER_MIN_FEATURE_BYTES
    assert "LeftSemi" in _plan(point_in_time_join(with_null_key, big, **kwargs))
    monkeypatch.setattr(_prepare, "KEY_FILTER_MIN_FEATURE_BYTES", 0)  # filter the small frame too
    filtered = point_in_time_join(with_null_key, more, **kwargs)
    plan = _plan(filtered)
    assert "BroadcastExchange" in plan and "LeftSemi" in plan, plan
    assert sorted(filtered.collect(), key=repr) == expected
    assert [r["v"] for r in sorted(expected, key=lambda r: (r["a"] is None, r["a"]))] == [10, 20, None]
    monkeypatch.setattr(_prepare, "KEY_FILTER_MAX_ROWS", 2)  # one row too many: no filter
    assert "LeftSemi" not in _plan(point_in_time_join(with_null_key, more, **kwargs))


def test_local_copy_holds_a_small_frame_in_the_plan_and_leaves_large_ones(spark: SparkSession,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    schema = "id long, s string, ts timestamp, ntz timestamp_ntz, tags array<string>, kv struct<k: string, v: double>"
    rows = [(1, "x", at(1), datetime(2026, 1, 1, 12), ["a", None], ("k", 1.5)),
            (2, None, None, None, None, None),
            (2, None, None, None, None, None)]  # duplicates stay duplicates
    frame = spark.createDataFrame(rows, schema)
    copy = local_copy(frame, max_rows=3)
    assert "LocalTableScan" in copy._jdf.queryExecution().executedPlan().toString()
    assert copy.schema == frame.schema and sorted(copy.collect(), key=repr) == sorted(frame.collect(), key=repr)
    assert local_copy(frame, max_rows=2) is frame  # one row too many: the frame as it was
    spread = spark.createDataFrame(spark.sparkContext.parallelize(rows, 3), schema)  # rows in 3 partitions
    assert _jobs_started(spark, "local-copy-spread", lambda: local_copy(spread, max_rows=3)) == 1  # not one per part
    large = spark.range(1_000_000)  # Spark estimates 8 MB: returned as is without running a job
    assert _jobs_started(spark, "local-copy-large", lambda: local_copy(large)) == 0 and local_copy(large) is large
    monkeypatch.setattr(time_range_module, "LOCAL_COPY_MAX_BYTES", 10**9)  # ... but tried when small enough
    assert local_copy(spark.range(5)).count() == 5
