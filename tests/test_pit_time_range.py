"""The entity time range aggregate and the feature pruning filter it produces."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pyspark.sql import SparkSession

from featurespark.pit import EntityTimeRange, entity_time_range


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 1, 1, hour, minute, tzinfo=timezone.utc)


def test_range_counts_and_bounds(spark: SparkSession) -> None:
    entity = spark.createDataFrame([(1, at(10)), (2, at(12)), (3, None), (4, at(11))], "id int, ts timestamp")
    rng = entity_time_range(entity, "ts")
    assert (rng.min_ts, rng.max_ts, rng.null_count, rng.row_count) == (at(10), at(12), 1, 4)
    assert rng.feature_window(timedelta(hours=1)) == (at(9), at(12))
    assert rng.feature_window(None) == (None, at(12))


def test_feature_filter_keeps_the_window_inclusive(spark: SparkSession) -> None:
    rng = EntityTimeRange(
        min_micros=int(at(10).timestamp()) * 1_000_000, max_micros=int(at(12).timestamp()) * 1_000_000,
        null_count=0, row_count=2,
    )
    source = spark.createDataFrame(
        [(at(8, 59),), (at(9),), (at(12),), (at(12, 1),)], "ts timestamp"
    )
    kept = [r["ts"] for r in source.where(rng.feature_filter("ts", timedelta(hours=1))).collect()]
    assert len(kept) == 2  # 09:00 and 12:00, both ends inclusive
    unbounded = source.where(rng.feature_filter("ts", None)).count()
    assert unbounded == 3


def test_ntz_range_and_filter(spark: SparkSession) -> None:
    entity = spark.createDataFrame([(datetime(2024, 3, 10, 2, 30),)], "ts timestamp_ntz")
    rng = entity_time_range(entity, "ts")
    assert rng.ntz and rng.min_ts == datetime(2024, 3, 10, 2, 30)
    source = spark.createDataFrame(
        [(datetime(2024, 3, 10, 1, 29),), (datetime(2024, 3, 10, 1, 30),), (datetime(2024, 3, 10, 2, 30, 0, 1),)],
        "ts timestamp_ntz",
    )
    kept = [r["ts"] for r in source.where(rng.feature_filter("ts", timedelta(hours=1))).collect()]
    assert kept == [datetime(2024, 3, 10, 1, 30)]


def test_empty_entities_keep_no_feature_rows(spark: SparkSession) -> None:
    entity = spark.createDataFrame([], "id int, ts timestamp")
    rng = entity_time_range(entity, "ts")
    assert (rng.min_ts, rng.max_ts, rng.null_count, rng.row_count) == (None, None, 0, 0)
    assert rng.feature_window(timedelta(hours=1)) == (None, None)
    source = spark.createDataFrame([(at(9),)], "ts timestamp")
    assert source.where(rng.feature_filter("ts", None)).count() == 0
