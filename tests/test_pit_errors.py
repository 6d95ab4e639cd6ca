"""Every error path of the point-in-time join, with its message."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd
import pytest
from pyspark.sql import DataFrame, SparkSession

from featurespark.errors import InvalidArgumentError, NullValueError, SchemaMismatchError
from featurespark.pit import PitView, point_in_time_join, point_in_time_join_many

T0 = datetime(2024, 1, 1, 10, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def entity(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame([(1, "x", T0)], "driver_id int, city string, ts timestamp")


@pytest.fixture(scope="module")
def feature(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame([(1, T0, T0, 3)], "driver_id int, event_ts timestamp, created_ts timestamp, trips int")


def _join(entity: DataFrame, feature: DataFrame, **overrides: Any) -> DataFrame:
    options: dict[str, Any] = {"keys": ["driver_id"], "entity_timestamp": "ts", "feature_timestamp": "event_ts"}
    options.update(overrides)
    return point_in_time_join(entity, feature, **options)


def test_missing_entity_key_names_column_frame_and_available(entity: DataFrame, feature: DataFrame) -> None:
    with pytest.raises(SchemaMismatchError, match=re.escape(
        "join key column 'driver' not found in entity_df; available columns: driver_id, city, ts."
    )):
        _join(entity, feature, keys={"driver": "driver_id"})


def test_missing_feature_timestamp(entity: DataFrame, feature: DataFrame) -> None:
    with pytest.raises(SchemaMismatchError, match=re.escape(
        "feature timestamp column 'event_time' not found in feature_df; available columns: "
        "driver_id, event_ts, created_ts, trips. Did you mean 'event_ts'?"
    )):
        _join(entity, feature, feature_timestamp="event_time")


def test_missing_column_of_a_named_view(entity: DataFrame, feature: DataFrame) -> None:
    views = [
        PitView(feature, keys=["driver_id"], feature_timestamp="event_ts", prefix="a_"),
        PitView(feature, keys=["driver_id"], feature_timestamp="event_ts", features=["rides"], name="stats"),
    ]
    with pytest.raises(SchemaMismatchError, match=re.escape(
        "feature column 'rides' not found in feature_df of views[1] ('stats'); available columns:"
    )):
        point_in_time_join_many(entity, views, entity_timestamp="ts")


def test_missing_entity_timestamp(entity: DataFrame, feature: DataFrame) -> None:
    with pytest.raises(SchemaMismatchError, match="entity timestamp column 'event_ts' not found in entity_df"):
        _join(entity, feature, entity_timestamp="event_ts")


def test_key_types_that_cannot_be_compared(spark: SparkSession, entity: DataFrame) -> None:
    feature = spark.createDataFrame([("1", T0, 3)], "driver_id string, event_ts timestamp, trips int")
    with pytest.raises(SchemaMismatchError, match=re.escape(
        "join key 'driver_id' is int in entity_df but 'driver_id' is string in feature_df; the two cannot be "
        "compared. Cast one side"
    )):
        _join(entity, feature)


def test_date_timestamp_is_rejected_with_a_fix(spark: SparkSession, entity: DataFrame) -> None:
    feature = spark.createDataFrame([(1, T0.date(), 3)], "driver_id int, event_ts date, trips int")
    with pytest.raises(SchemaMismatchError, match=re.escape(
        "feature timestamp column 'event_ts' of feature_df is DATE; a point-in-time join needs TIMESTAMP or "
        "TIMESTAMP_NTZ"
    )) as info:
        _join(entity, feature)
    assert "F.col('event_ts').cast('timestamp')" in str(info.value)


@pytest.mark.parametrize(
    "ddl, value, advice",
    [("string", "2024-01-01", "F.to_timestamp"), ("bigint", 1704103200, "F.timestamp_seconds")],
)
def test_non_timestamp_entity_timestamp(
    spark: SparkSession, feature: DataFrame, ddl: str, value: Any, advice: str
) -> None:
    entity = spark.createDataFrame([(1, value)], f"driver_id int, ts {ddl}")
    expected = f"entity timestamp column 'ts' of entity_df is {ddl.upper()}"
    with pytest.raises(SchemaMismatchError, match=expected) as info:
        _join(entity, feature)
    assert advice in str(info.value)


def test_mixed_timestamp_kinds(spark: SparkSession, entity: DataFrame) -> None:
    feature = spark.createDataFrame([(1, datetime(2024, 1, 1), 3)], "driver_id int, event_ts timestamp_ntz, trips int")
    with pytest.raises(SchemaMismatchError, match=re.escape(
        "feature timestamp column 'event_ts' of feature_df is TIMESTAMP_NTZ but the entity timestamp is TIMESTAMP"
    )):
        _join(entity, feature)


def test_output_clashing_with_entity_column(spark: SparkSession, entity: DataFrame) -> None:
    feature = spark.createDataFrame([(1, T0, "y")], "driver_id int, event_ts timestamp, city string")
    with pytest.raises(InvalidArgumentError, match=re.escape(
        "output column 'city' (feature 'city' of feature_df) clashes with entity_df column 'city'. Set prefix="
    )):
        _join(entity, feature)


def test_outputs_clashing_between_views(entity: DataFrame, feature: DataFrame) -> None:
    views = [
        PitView(feature, keys=["driver_id"], feature_timestamp="event_ts", features=["trips"]),
        PitView(feature, keys=["driver_id"], feature_timestamp="event_ts", features=["trips"], name="again"),
    ]
    with pytest.raises(InvalidArgumentError, match=re.escape(
        "output column 'trips' (feature 'trips' of views[1] ('again')) clashes with output column 'trips' of views[0]"
    )):
        point_in_time_join_many(entity, views, entity_timestamp="ts")


def test_null_entity_timestamps_are_counted(spark: SparkSession, feature: DataFrame) -> None:
    entity = spark.createDataFrame([(1, T0), (2, None), (3, None)], "driver_id int, ts timestamp")
    with pytest.raises(NullValueError, match=re.escape(
        "entity_df has 2 row(s) with a null entity timestamp 'ts' (of 3)"
    )):
        _join(entity, feature)


@pytest.mark.parametrize(
    "ttl, message",
    [
        (timedelta(minutes=-5), "ttl of feature_df is negative (-1 day, 23:55:00)"),
        (
            3600,
            "ttl of feature_df must be a datetime.timedelta or None, got int 3600; for example ttl=timedelta(hours=2).",
        ),
        (pd.Timedelta(1, "ns"), "is not a whole number of microseconds"),
    ],
)
def test_bad_ttl(entity: DataFrame, feature: DataFrame, ttl: Any, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        _join(entity, feature, ttl=ttl)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"algorithm": "fastest"}, "algorithm must be one of 'auto', 'range', 'asof'; got 'fastest'."),
        ({"hot_key_buckets": -1}, "hot_key_buckets must be None (automatic), 0 (never split keys) or a positive int"),
        ({"keys": "driver_id"}, "keys of feature_df must be a list of column names or a mapping"),
        ({"keys": []}, "keys of feature_df is empty"),
        (
            {"filter_by_created_timestamp": True},
            "filter_by_created_timestamp=True for feature_df needs created_timestamp",
        ),
        ({"features": []}, "features of feature_df is empty"),
        ({"features": "trips"}, "features of feature_df must be a list of column names, got 'trips'."),
        ({"features": ["trips", "trips"]}, "features of feature_df lists a column more than once"),
        (
            {"output_names": {"created_ts": "c"}, "features": ["trips"]},
            "output_names of feature_df renames 'created_ts'",
        ),
        ({"prefix": "__fs_pit_"}, "output column '__fs_pit_created_ts' of feature_df uses the prefix '__fs_pit_'"),
    ],
)
def test_bad_options(entity: DataFrame, feature: DataFrame, overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        _join(entity, feature, **overrides)


def test_nothing_to_join(spark: SparkSession, entity: DataFrame) -> None:
    feature = spark.createDataFrame([(1, T0)], "driver_id int, event_ts timestamp")
    with pytest.raises(InvalidArgumentError, match="feature_df has no columns besides its keys and timestamps"):
        _join(entity, feature)


def test_reserved_and_duplicate_entity_columns(spark: SparkSession, feature: DataFrame) -> None:
    reserved = spark.createDataFrame([(1, T0, 0)], "driver_id int, ts timestamp, __fs_pit_x int")
    with pytest.raises(InvalidArgumentError, match="entity_df column '__fs_pit_x' uses the prefix '__fs_pit_'"):
        _join(reserved, feature)
    duplicated = spark.createDataFrame([(1, T0, 0, 1)], "driver_id int, ts timestamp, a int, b int").toDF(
        "driver_id", "ts", "a", "a"
    )
    with pytest.raises(SchemaMismatchError, match="entity_df has more than one column named 'a'"):
        _join(duplicated, feature)


def test_empty_view_list(entity: DataFrame) -> None:
    with pytest.raises(InvalidArgumentError, match="views must be a non-empty list of PitView"):
        point_in_time_join_many(entity, [], entity_timestamp="ts")


def test_map_keys_are_rejected(spark: SparkSession) -> None:
    entity = spark.createDataFrame([({"a": 1}, T0)], "k map<string,int>, ts timestamp")
    feature = spark.createDataFrame([({"a": 1}, T0, 3)], "k map<string,int>, event_ts timestamp, trips int")
    with pytest.raises(SchemaMismatchError, match=re.escape(
        "join key 'k' (map<string,int> in entity_df, map<string,int> in feature_df) holds maps"
    )):
        point_in_time_join(entity, feature, keys=["k"], entity_timestamp="ts", feature_timestamp="event_ts")


def test_time_range_of_another_timestamp_kind(spark: SparkSession, feature: DataFrame) -> None:
    from featurespark.pit import EntityTimeRange

    entity = spark.createDataFrame([(1, T0)], "driver_id int, ts timestamp")
    ntz_range = EntityTimeRange(min_micros=0, max_micros=0, null_count=0, row_count=1, ntz=True)
    with pytest.raises(InvalidArgumentError, match=re.escape(
        "time_range was measured on a timestamp of another kind than entity_df's 'ts'"
    )):
        _join(entity, feature, time_range=ntz_range)


def test_views_must_be_pit_views(entity: DataFrame, feature: DataFrame) -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape("views[0] must be a PitView, got DataFrame.")):
        point_in_time_join_many(entity, [feature], entity_timestamp="ts")


def test_ttl_longer_than_the_timestamp_range_is_unbounded() -> None:
    from featurespark.pit._validate import ttl_to_micros

    assert ttl_to_micros(timedelta(days=4_000_000), "v") is None
    assert ttl_to_micros(timedelta(0), "v") == 0
    assert ttl_to_micros(timedelta(seconds=1, microseconds=5), "v") == 1_000_005
