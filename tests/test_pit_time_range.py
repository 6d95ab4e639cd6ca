"""The entity time range aggregate and the feature pruning filter it produces."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
import pytest
from pyspark.sql import SparkSession
from test_pit_plans import _jobs_started  # tests/ is on sys.path; one job counter for the PIT toolkit

import featurespark.pit.time_range as time_range_module
from featurespark.pit import EntityTimeRange, entity_time_range, local_copy


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


@pytest.mark.parametrize("kind", ["timestamp", "timestamp_ntz"])
def test_a_local_copy_is_measured_without_a_job_and_agrees_with_the_aggregate(
        spark: SparkSession, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    stamp = (lambda h: at(h)) if kind == "timestamp" else (lambda h: at(h).replace(tzinfo=None))
    rows = [(7, "a", stamp(10)), (7, "a", stamp(12)), (7, "b", None), (8, None, stamp(11)), (None, "a", stamp(9))]
    frame = spark.createDataFrame(rows, f"k long, s string, ts {kind}")
    copy = local_copy(frame)
    assert copy.isLocal() and not frame.isLocal()
    key_sets = [["k"], ["k", "s"]]
    found: list[EntityTimeRange] = []
    measure = lambda: found.append(entity_time_range(copy, "ts", key_sets=key_sets))  # noqa: E731
    assert _jobs_started(spark, f"local-{kind}", measure) == 0
    local = found[0]
    measured = entity_time_range(frame, "ts", key_sets=key_sets)  # the aggregate job
    assert (local.min_micros, local.max_micros, local.null_count, local.row_count, local.ntz) == (
        measured.min_micros, measured.max_micros, measured.null_count, measured.row_count, measured.ntz)
    assert local.min_ts == stamp(9) and local.max_ts == stamp(12) and local.null_count == 1
    # exact shares over the rows whose keys are all set: 3 of 4 rows hold k=7; 2 of 3 hold (7, "a")
    assert local.hot_share(["k"]) == 0.75 and local.hot_share(["k", "s"]) == pytest.approx(2 / 3)
    empty = local_copy(spark.createDataFrame([], f"k long, ts {kind}"))
    assert entity_time_range(empty, "ts", key_sets=[["k"]]) == EntityTimeRange(None, None, 0, 0, kind != "timestamp",
                                                                               {("k",): 0.0})
    monkeypatch.setattr(time_range_module, "LOCAL_COPY_MAX_ROWS", 4)  # more rows than that: the aggregate job
    assert _jobs_started(spark, f"local-large-{kind}", lambda: entity_time_range(copy, "ts")) >= 1
