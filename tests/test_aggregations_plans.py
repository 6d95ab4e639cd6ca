"""How the engine runs: one shuffle, the sorts each function needs, growing frames, jobs at call time."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from featurespark.aggregations import Aggregation, window_aggregate_as_of
from featurespark.aggregations.hot_keys import hot_key_threshold
from featurespark.pit import EntityTimeRange, entity_time_range
from test_pit_plans import _jobs_started  # tests/ is on sys.path; one job counter for both toolkits

T0 = datetime(2024, 1, 1, 10, tzinfo=timezone.utc)
COUNT_SUM = [Aggregation("fare", "count", ["1h", "7d"]), Aggregation("fare", "sum", ["1h", "lifetime"])]


@pytest.fixture(scope="module")
def frames(spark: SparkSession) -> tuple[DataFrame, DataFrame]:
    entity = spark.createDataFrame([(1, "x", T0), (2, "y", T0)], "driver int, city string, ts timestamp")
    events = spark.createDataFrame([(1, T0.replace(hour=9), 3.5, "m")], "driver int, event_ts timestamp, fare double, shop string")
    return entity, events


def _plan(df: DataFrame) -> str:
    return str(df._jdf.queryExecution().executedPlan().toString())


def _aggregate(frames: tuple[DataFrame, DataFrame], aggregations: list[Aggregation], **options: Any) -> DataFrame:
    entity, events = frames
    options.setdefault("hot_key_share", None)
    options.setdefault("time_range", EntityTimeRange(0, 1, 0, 2))
    return window_aggregate_as_of(entity, events, keys=["driver"], entity_timestamp="ts", event_timestamp="event_ts",
                                  aggregations=aggregations, **options)


@pytest.mark.parametrize("extra, sorts", [
    ([], 1),  # one ascending sort serves every growing frame
    ([Aggregation("fare", "last_k", ["1h"], k=2)], 1),  # the last_k order is a refinement of the ascending one
    ([Aggregation("fare", "max", ["1h", "1d"]), Aggregation("fare", "first", ["1h"])], 2),  # + one descending sort
    ([Aggregation("shop", "approx_count_distinct", ["1h"])], 2),  # + (keys, value hash, time)
    ([Aggregation("fare", "last_k", ["1h"], k=2), Aggregation("shop", "last_k", ["1h"], k=2)], 2),  # one per column
])
def test_one_shuffle_and_one_sort_per_ordering(frames: tuple[DataFrame, DataFrame], extra: list[Aggregation],
                                               sorts: int) -> None:
    plan = _plan(_aggregate(frames, COUNT_SUM + extra))
    assert plan.count("Exchange hashpartitioning") == 1, plan
    # As many partitions as the session's spark.sql.shuffle.partitions says (4 from the fixture, unless a test
    # before this one on the same worker ran a command in process that set its config's value).
    partitions = frames[0].sparkSession.conf.get("spark.sql.shuffle.partitions")
    assert re.search(rf"Exchange hashpartitioning\(__fs_agg_k0#\d+, __fs_agg_split#\d+L?, {partitions}\)", plan), plan
    assert plan.count("Sort [") == sorts, plan
    assert "BroadcastHashJoin" not in plan and "Aggregate" not in plan


def test_windows_are_growing_frames_never_sliding(frames: tuple[DataFrame, DataFrame]) -> None:
    plan = _plan(_aggregate(frames, COUNT_SUM + [Aggregation("fare", "max", ["1h"])]))
    frames_used = set(re.findall(r"specifiedwindowframe\(RangeFrame, ([^,]+), ([^)]+)\)", plan))
    hour = 3_600_000_000
    assert frames_used == {
        # The ascending pass orders by 2 * time + mark (queries before events at one instant).
        ("unboundedpreceding$()", "-1"),  # before t
        ("unboundedpreceding$()", str(-(2 * hour + 1))),  # before t - 1h
        ("unboundedpreceding$()", str(-(2 * 7 * 24 * hour + 1))),  # before t - 7d
        ("unboundedpreceding$()", str(hour)),  # descending: at or after t - 1h
    }, plan


def test_last_k_lags_share_the_ascending_window_operator(frames: tuple[DataFrame, DataFrame]) -> None:
    plan = _plan(_aggregate(frames, COUNT_SUM + [Aggregation("fare", "last_k", ["1h"], k=2)]))
    windows = [line for line in plan.splitlines() if "Window [" in line]
    assert len(windows) == 1 and windows[0].count("lag(") == 2 and "RangeFrame" in windows[0], plan


def test_max_and_first_share_the_descending_frame(frames: tuple[DataFrame, DataFrame]) -> None:
    plan = _plan(_aggregate(frames, [Aggregation("fare", "max", ["1h"]), Aggregation("fare", "first", ["1h"])]))
    descending = [line for line in plan.splitlines() if "Window [" in line and "DESC" in line]
    assert len(descending) == 1 and "max(" in descending[0] and "min_by(" in descending[0], plan


def test_jobs_at_call_time(spark: SparkSession, frames: tuple[DataFrame, DataFrame]) -> None:
    entity, events = frames
    time_range = entity_time_range(entity, "ts")
    assert _jobs_started(spark, "agg-lazy", lambda: _aggregate(frames, COUNT_SUM, time_range=time_range)) == 0
    range_jobs = _jobs_started(spark, "agg-range-only", lambda: entity_time_range(entity, "ts"))
    assert range_jobs >= 1  # adaptive execution may run one aggregate as several jobs
    assert _jobs_started(spark, "agg-range", lambda: _aggregate(frames, COUNT_SUM, time_range=None)) == range_jobs
    # Detection is one more aggregate (collected): at least one more job, and only with hot_key_share set.
    detecting = _jobs_started(spark, "agg-detect", lambda: _aggregate(frames, COUNT_SUM, time_range=time_range,
                                                                      hot_key_share=0.5))
    assert detecting >= 1


def test_hot_keys_are_split_by_time_bucket(frames: tuple[DataFrame, DataFrame]) -> None:
    entity, events = frames
    time_range = entity_time_range(entity, "ts")
    out = _aggregate(frames, COUNT_SUM, time_range=time_range, hot_key_share=0.5)  # driver 1 holds all events
    split = _plan(out)
    assert "__fs_agg_S_n0" in split and "Aggregate" in split, split  # carry rows of driver 1
    assert "BroadcastHashJoin" not in split  # hot keys enter as literals (variance alone joins references)
    rows = {r["driver"]: r for r in out.collect()}
    assert (rows[1]["fare_count_1h"], rows[1]["fare_sum_lifetime"], rows[2]["fare_count_1h"]) == (1, 3.5, 0)


def test_auto_threshold_follows_the_task_slots(spark: SparkSession) -> None:
    slots = spark.sparkContext.defaultParallelism
    assert hot_key_threshold("auto", spark) == min(0.5, 2 / slots)
    assert hot_key_threshold(0.25, spark) == 0.25 and hot_key_threshold(None, spark) is None
