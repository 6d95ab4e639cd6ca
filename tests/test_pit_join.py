"""Hand-written point-in-time join cases, checked for every algorithm with chispa."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Optional

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from featurespark.pit import AUTO_RANGE_MAX_ENTITY_ROWS, PitView, point_in_time_join, point_in_time_join_many
from featurespark.pit.api import choose_algorithm

# (algorithm, hot_key_buckets): the range join, the as-of join and the as-of join split by time.
PATHS = [("range", None), ("asof", None), ("asof", 3)]


def at(hour: int, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(2024, 1, 1, hour, minute, second, micro, tzinfo=timezone.utc)


def _join(entity: DataFrame, feature: DataFrame, path: tuple[str, Optional[int]], **kwargs: Any) -> DataFrame:
    algorithm, buckets = path
    options: dict[str, Any] = {"keys": ["driver_id"], "entity_timestamp": "ts", "feature_timestamp": "event_ts"}
    options.update(kwargs)
    return point_in_time_join(entity, feature, algorithm=algorithm, hot_key_buckets=buckets, **options)


@pytest.fixture(scope="module")
def drivers(spark: SparkSession) -> tuple[DataFrame, DataFrame]:
    entity = spark.createDataFrame(
        [
            (1, at(10), "a"),
            (1, at(10), "a"),  # duplicate entity rows stay duplicates
            (1, at(10, 5), "b"),
            (2, at(10), "c"),  # only a row older than the TTL
            (None, at(10), "d"),  # null key
            (3, at(10), "e"),  # no feature rows at all
        ],
        "driver_id int, ts timestamp, label string",
    )
    feature = spark.createDataFrame(
        [
            (1, at(9, 50), at(9, 50), 5, 4.0),
            (1, at(10), at(10, 1), 7, 4.5),
            (1, at(10), at(10, 2), 6, 4.4),  # correction: same event time, created later, smaller values
            (1, at(10, 6), at(10, 6), 9, 5.0),  # after every entity row
            (2, at(9), at(9), 1, 1.0),
            (None, at(10), at(10), 99, 9.9),  # null key: never a candidate
            (1, None, at(10), 98, 9.8),  # null feature timestamp: never a candidate
        ],
        "driver_id int, event_ts timestamp, created_ts timestamp, trips int, rating double",
    )
    return entity, feature


EXPECTED_SCHEMA = "driver_id int, ts timestamp, label string, trips int, rating double"


@pytest.mark.parametrize("path", PATHS)
def test_latest_row_within_ttl_with_corrections(
    spark: SparkSession, drivers: tuple[DataFrame, DataFrame], path: tuple[str, Optional[int]]
) -> None:
    entity, feature = drivers
    out = _join(entity, feature, path, created_timestamp="created_ts", ttl=timedelta(minutes=30))
    expected = spark.createDataFrame(
        [
            (1, at(10), "a", 6, 4.4),
            (1, at(10), "a", 6, 4.4),
            (1, at(10, 5), "b", 6, 4.4),
            (2, at(10), "c", None, None),
            (None, at(10), "d", None, None),
            (3, at(10), "e", None, None),
        ],
        EXPECTED_SCHEMA,
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.parametrize("path", PATHS)
def test_filter_by_created_timestamp_hides_later_corrections(
    spark: SparkSession, drivers: tuple[DataFrame, DataFrame], path: tuple[str, Optional[int]]
) -> None:
    entity, feature = drivers
    out = _join(entity, feature, path, created_timestamp="created_ts", filter_by_created_timestamp=True)
    expected = spark.createDataFrame(
        [
            (1, at(10), "a", 5, 4.0),
            (1, at(10), "a", 5, 4.0),
            (1, at(10, 5), "b", 6, 4.4),
            (2, at(10), "c", 1, 1.0),  # no TTL: the 09:00 row counts
            (None, at(10), "d", None, None),
            (3, at(10), "e", None, None),
        ],
        EXPECTED_SCHEMA,
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.parametrize("path", PATHS)
def test_late_backfill_does_not_shadow_newer_rows(spark: SparkSession, path: tuple[str, Optional[int]]) -> None:
    # B is an old event written late: it becomes visible after A but A is still the newer event.
    entity = spark.createDataFrame(
        [(1, at(9, 30)), (1, at(10, 35)), (1, at(10, 45))], "driver_id int, ts timestamp"
    )
    feature = spark.createDataFrame(
        [(1, at(10), at(10), "A"), (1, at(9), at(10, 30), "B"), (1, at(10, 20), at(10, 40), "C")],
        "driver_id int, event_ts timestamp, created_ts timestamp, v string",
    )
    out = _join(entity, feature, path, created_timestamp="created_ts", filter_by_created_timestamp=True)
    expected = spark.createDataFrame(
        [(1, at(9, 30), None), (1, at(10, 35), "A"), (1, at(10, 45), "C")], "driver_id int, ts timestamp, v string"
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.parametrize("path", PATHS)
def test_ttl_bounds_are_inclusive(spark: SparkSession, path: tuple[str, Optional[int]]) -> None:
    entity = spark.createDataFrame([(1, at(10)), (2, at(10)), (3, at(10))], "driver_id int, ts timestamp")
    feature = spark.createDataFrame(
        [
            (1, at(9, 30), "exactly ttl old"),
            (2, at(9, 29, 59, 999999), "one microsecond too old"),
            (3, at(10), "same instant"),
            (3, at(10, 0, 0, 1), "one microsecond in the future"),
        ],
        "driver_id int, event_ts timestamp, v string",
    )
    out = _join(entity, feature, path, ttl=timedelta(minutes=30))
    expected = spark.createDataFrame(
        [(1, at(10), "exactly ttl old"), (2, at(10), None), (3, at(10), "same instant")],
        "driver_id int, ts timestamp, v string",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)
    exact = _join(entity, feature, path, ttl=timedelta(0))
    expected_exact = spark.createDataFrame(
        [(1, at(10), None), (2, at(10), None), (3, at(10), "same instant")], "driver_id int, ts timestamp, v string"
    )
    assert_df_equality(exact, expected_exact, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.parametrize("path", PATHS)
def test_ties_go_to_the_greater_feature_values(spark: SparkSession, path: tuple[str, Optional[int]]) -> None:
    entity = spark.createDataFrame([(1, at(10)), (2, at(10))], "driver_id int, ts timestamp")
    feature = spark.createDataFrame(
        [
            (1, at(9), 3, "x"),
            (1, at(9), 7, "a"),  # first feature compared first: 7 > 3
            (2, at(9), None, "z"),
            (2, at(9), 2, "a"),  # a null value is below every value
        ],
        "driver_id int, event_ts timestamp, n int, s string",
    )
    out = _join(entity, feature, path)
    expected = spark.createDataFrame(
        [(1, at(10), 7, "a"), (2, at(10), 2, "a")], "driver_id int, ts timestamp, n int, s string"
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.parametrize("path", PATHS)
def test_unorderable_values_tie_break_on_json(spark: SparkSession, path: tuple[str, Optional[int]]) -> None:
    entity = spark.createDataFrame([(1, at(10))], "driver_id int, ts timestamp")
    feature = spark.createDataFrame(
        [(1, at(9), {"a": 1}), (1, at(9), {"b": 0})], "driver_id int, event_ts timestamp, m map<string,int>"
    )
    rows = _join(entity, feature, path).collect()
    assert [r["m"] for r in rows] == [{"b": 0}]  # '{"b":0}' > '{"a":1}'


@pytest.mark.parametrize("algorithm", ["range", "asof"])
def test_mapped_keys_several_views_and_output_names(spark: SparkSession, algorithm: str) -> None:
    orders = spark.createDataFrame(
        [("o1", 1, "c1", at(10)), ("o2", 2, "c1", at(11))], "order_id string, driver int, customer string, ts timestamp"
    )
    driver_stats = spark.createDataFrame(
        [(1, at(9), 0.5), (2, at(9), 0.7), (2, at(10, 30), 0.9)], "driver_id bigint, event_ts timestamp, rate double"
    )
    customer_stats = spark.createDataFrame([("c1", at(10, 30), 3)], "id string, event_ts timestamp, rate int")
    views = [
        PitView(
            driver_stats, keys={"driver": "driver_id"}, feature_timestamp="event_ts", ttl=timedelta(hours=2),
            prefix="driver__",
        ),
        PitView(
            customer_stats, keys={"customer": "id"}, feature_timestamp="event_ts",
            output_names={"rate": "customer_rate"},
        ),
    ]
    out = point_in_time_join_many(orders, views, entity_timestamp="ts", algorithm=algorithm)
    expected = spark.createDataFrame(
        [("o1", 1, "c1", at(10), 0.5, None), ("o2", 2, "c1", at(11), 0.9, 3)],
        "order_id string, driver int, customer string, ts timestamp, driver__rate double, customer_rate int",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.parametrize("algorithm", ["range", "asof"])
def test_odd_column_names(spark: SparkSession, algorithm: str) -> None:
    entity = spark.createDataFrame([(1, at(10), "x")], "`driver id` int, `event.ts` timestamp, `we``ird` string")
    feature = spark.createDataFrame([(1, at(9), 4)], "`driver id` int, `ts` timestamp, `trip.count` int")
    out = point_in_time_join(
        entity, feature, keys=["driver id"], entity_timestamp="event.ts", feature_timestamp="ts", algorithm=algorithm
    )
    assert out.columns == ["driver id", "event.ts", "we`ird", "trip.count"]
    assert [tuple(r) for r in out.collect()][0][-1] == 4


def test_transform_usage(spark: SparkSession, drivers: tuple[DataFrame, DataFrame]) -> None:
    entity, feature = drivers
    out = entity.where(F.col("label") == "b").transform(
        point_in_time_join,
        feature_df=feature,
        keys=["driver_id"],
        entity_timestamp="ts",
        feature_timestamp="event_ts",
        created_timestamp="created_ts",
        features=["trips"],
        prefix="d_",
    )
    assert out.columns == ["driver_id", "ts", "label", "d_trips"]
    assert [r["d_trips"] for r in out.collect()] == [6]


def test_case_insensitive_names_resolve(spark: SparkSession, drivers: tuple[DataFrame, DataFrame]) -> None:
    entity, feature = drivers
    out = point_in_time_join(
        entity.where(F.col("label") == "b"), feature,
        keys=["DRIVER_ID"], entity_timestamp="TS", feature_timestamp="Event_TS",
        features=["Trips"],
    )
    # Without a created timestamp the two 10:00 rows tie; the tie rule picks the greater trips.
    assert out.columns == ["driver_id", "ts", "label", "trips"]
    assert [r["trips"] for r in out.collect()] == [7]


@pytest.mark.parametrize("algorithm", ["range", "asof"])
def test_empty_inputs(spark: SparkSession, drivers: tuple[DataFrame, DataFrame], algorithm: str) -> None:
    entity, feature = drivers
    no_entities = point_in_time_join(
        entity.limit(0), feature,
        keys=["driver_id"], entity_timestamp="ts", feature_timestamp="event_ts", algorithm=algorithm,
    )
    assert no_entities.columns == ["driver_id", "ts", "label", "created_ts", "trips", "rating"]
    assert no_entities.count() == 0
    no_features = point_in_time_join(
        entity, feature.limit(0),
        keys=["driver_id"], entity_timestamp="ts", feature_timestamp="event_ts", algorithm=algorithm,
    )
    rows = no_features.collect()
    assert len(rows) == 6 and all(r["trips"] is None for r in rows)


def test_auto_rule() -> None:
    hour = 3_600_000_000
    assert choose_algorithm("auto", hour, 10) == "range"
    assert choose_algorithm("auto", 0, AUTO_RANGE_MAX_ENTITY_ROWS) == "range"
    assert choose_algorithm("auto", hour, AUTO_RANGE_MAX_ENTITY_ROWS + 1) == "asof"
    assert choose_algorithm("auto", None, 10) == "asof"
    assert choose_algorithm("range", None, 10**9) == "range"
    assert choose_algorithm("asof", hour, 1) == "asof"
