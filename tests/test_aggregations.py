"""Worked examples of the windowed aggregation semantics (docs/aggregations.md), value by value."""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
from pyspark.sql import DataFrame, SparkSession

from featurespark.aggregations import Aggregation, window_aggregate_as_of
from pit_oracle import spark_rows


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 1, 1, hour, minute, tzinfo=timezone.utc)


def by_id(df: DataFrame) -> dict[Any, dict[str, Any]]:
    return {r["id"]: r for r in spark_rows(df)}


@pytest.fixture(scope="module")
def trips(spark: SparkSession) -> DataFrame:
    rows = [
        (1, at(9), 10.0),
        (1, at(9, 30), 20.0),
        (1, at(9, 30), 5.0),  # two events at one instant
        (1, at(10), None),  # a null value: ignored
        (1, at(10), 40.0),
        (1, at(10, 30), 40.0),
        (1, at(10, 30), 40.0),  # a duplicate event counts twice
        (1, at(11), 7.0),  # exactly at the entity row's time: never included
        (None, at(9), 99.0),  # a null key matches nothing
    ]
    return spark.createDataFrame(rows, "driver int, ts timestamp, fare double")


@pytest.fixture(scope="module")
def orders(spark: SparkSession) -> DataFrame:
    rows = [("a", 1, at(11)), ("b", 1, at(10)), ("c", 1, at(9, 30)), ("d", None, at(11)), ("e", 2, at(11)),
            ("a", 1, at(11))]  # a duplicate entity row stays a duplicate
    return spark.createDataFrame(rows, "id string, driver int, order_ts timestamp")


def aggregate(orders: DataFrame, trips: DataFrame, aggregations: list[Aggregation], **options: Any) -> DataFrame:
    return window_aggregate_as_of(orders, trips, keys=["driver"], entity_timestamp="order_ts", event_timestamp="ts",
                                  aggregations=aggregations, **options)


@pytest.mark.parametrize("hot_key_share", [None, 0.0])
def test_boundaries_ties_duplicates_and_empty_windows(orders: DataFrame, trips: DataFrame,
                                                      hot_key_share: Any) -> None:
    aggs = [
        Aggregation("fare", "count", ["1h", "2h", "30m", "lifetime"]),
        Aggregation("fare", "sum", ["1h", "2h"]),
        Aggregation("fare", "mean", ["2h"]),
        Aggregation("fare", "variance", ["lifetime"]),
        Aggregation("fare", "min", ["90m"]),
        Aggregation("fare", "max", ["90m"]),
        Aggregation("fare", "first", ["90m", "lifetime"]),
        Aggregation("fare", "last", ["1h"]),
        Aggregation("fare", "last_k", ["lifetime"], k=3),
        Aggregation("fare", "approx_count_distinct", ["1h", "lifetime"]),
    ]
    out = aggregate(orders, trips, aggs, hot_key_share=hot_key_share, hot_key_buckets=2)
    rows = spark_rows(out)
    assert len(rows) == 6 and sum(r["id"] == "a" for r in rows) == 2
    got = by_id(out)

    a = got["a"]  # t = 11:00
    assert (a["fare_count_1h"], a["fare_count_2h"], a["fare_count_30m"], a["fare_count_lifetime"]) == (3, 6, 2, 6)
    assert a["fare_sum_1h"] == 120.0  # [10:00, 11:00): 40 + 40 + 40; the 7.0 at 11:00 is out
    assert a["fare_sum_2h"] == 155.0  # [09:00, 11:00): the event at exactly t - w = 09:00 is in
    assert a["fare_mean_2h"] == pytest.approx(155.0 / 6)
    assert a["fare_min_90m"] == 5.0 and a["fare_max_90m"] == 40.0  # [09:30, 11:00)
    assert a["fare_first_90m"] == 5.0  # two events at 09:30: the smaller value counts as the earlier
    assert a["fare_first_lifetime"] == 10.0
    assert a["fare_last_1h"] == 40.0
    assert a["fare_last_k_lifetime"] == [40.0, 40.0, 40.0]
    assert a["fare_approx_count_distinct_1h"] == 1 and a["fare_approx_count_distinct_lifetime"] == 4

    b = got["b"]  # t = 10:00: the events at 10:00 are not yet in
    assert b["fare_count_1h"] == 3 and b["fare_sum_1h"] == 35.0
    assert b["fare_last_k_lifetime"] == [20.0, 5.0, 10.0]  # newest first; at one instant the greater value first
    assert b["fare_variance_lifetime"] == pytest.approx(175.0 / 3)  # sample variance of 10, 20, 5
    assert b["fare_last_1h"] == 20.0

    c = got["c"]  # t = 09:30: only the event at 09:00
    assert (c["fare_count_30m"], c["fare_count_1h"], c["fare_sum_1h"]) == (1, 1, 10.0)
    assert c["fare_variance_lifetime"] is None  # one value: no sample variance

    for empty in ("d", "e"):  # a null key, a key without events: count 0, distinct 0, everything else null
        row = got[empty]
        assert row["fare_count_lifetime"] == 0 and row["fare_approx_count_distinct_lifetime"] == 0
        assert all(row[c] is None for c in row if c.startswith("fare_") and "count" not in c)


def test_output_columns_and_types(orders: DataFrame, trips: DataFrame, spark: SparkSession) -> None:
    events = spark.createDataFrame(
        [(1, at(9), 3, 2**40, Decimal("1.10"), "x")],
        "driver int, ts timestamp, i int, l bigint, d decimal(10,2), s string")
    aggs = [Aggregation("i", "count", ["1h"]), Aggregation("i", "sum", ["1h"]), Aggregation("l", "sum", ["1h"]),
            Aggregation("d", "sum", ["1h"]), Aggregation("d", "mean", ["1h"]), Aggregation("i", "stddev", ["1h"]),
            Aggregation("s", "max", ["1h"]), Aggregation("s", "last_k", ["1h"], k=2),
            Aggregation("s", "approx_count_distinct", ["1h"], name="distinct_s")]
    out = aggregate(orders, events, aggs, hot_key_share=None)
    assert out.columns == ["id", "driver", "order_ts", "i_count_1h", "i_sum_1h", "l_sum_1h", "d_sum_1h", "d_mean_1h",
                           "i_stddev_1h", "s_max_1h", "s_last_k_1h", "distinct_s"]
    types = dict(out.dtypes)
    assert [types[c] for c in out.columns[3:]] == ["bigint", "bigint", "bigint", "decimal(20,2)", "double", "double",
                                                   "string", "array<string>", "bigint"]
    row = by_id(out)["c"]  # t = 09:30
    assert (row["l_sum_1h"], row["d_sum_1h"], row["d_mean_1h"], row["s_last_k_1h"]) == (2**40, Decimal("1.10"), 1.1, ["x"])


def test_nan_and_infinities_follow_ieee_and_do_not_poison_later_windows(spark: SparkSession) -> None:
    nan, inf = float("nan"), float("inf")
    events = spark.createDataFrame(
        [(1, at(10), 1.0), (1, at(10, 10), nan), (1, at(10, 20), inf), (1, at(10, 40), -inf), (1, at(10, 50), 2.0),
         (1, at(11, 40), 3.0)], "driver int, ts timestamp, x double")
    orders = spark.createDataFrame([("t11", 1, at(11)), ("t1030", 1, at(10, 30)), ("t12", 1, at(12))],
                                   "id string, driver int, order_ts timestamp")
    windows = ["15m", "25m", "45m", "55m", "lifetime"]
    aggs = [Aggregation("x", f, windows) for f in ("sum", "mean", "variance", "min", "max")]
    got = by_id(aggregate(orders, events, aggs, hot_key_share=None))

    def same(value: Any, expected: Any) -> bool:
        if isinstance(expected, float) and math.isnan(expected):
            return isinstance(value, float) and math.isnan(value)
        return bool(value == expected)

    t11 = got["t11"]
    expected = {  # window: (sum, mean, variance, min, max) at 11:00
        "15m": (2.0, 2.0, None, 2.0, 2.0),
        "25m": (-inf, -inf, nan, -inf, 2.0),
        "45m": (nan, nan, nan, -inf, inf),
        "55m": (nan, nan, nan, -inf, nan),  # Spark orders NaN above every number
    }
    for window, values in expected.items():
        for function, value in zip(("sum", "mean", "variance", "min", "max"), values):
            assert same(t11[f"x_{function}_{window}"], value), (window, function, t11[f"x_{function}_{window}"])
    assert same(got["t1030"]["x_sum_15m"], inf) and got["t1030"]["x_variance_15m"] is None
    assert same(got["t1030"]["x_sum_lifetime"], nan)
    # A NaN in the key's history must not leak into a later window without one.
    assert got["t12"]["x_sum_25m"] == 3.0 and got["t12"]["x_mean_25m"] == 3.0


def test_bigint_sums_are_exact_when_running_totals_leave_the_bigint_range(spark: SparkSession) -> None:
    big = 2**62
    events = spark.createDataFrame([(1, at(9), big), (1, at(10), big), (1, at(11), -big), (1, at(12), 5)],
                                   "driver int, ts timestamp, x bigint")
    orders = spark.createDataFrame([("t", 1, at(13))], "id string, driver int, order_ts timestamp")
    row = by_id(aggregate(orders, events, [Aggregation("x", "sum", ["150m", "lifetime"]),
                                            Aggregation("x", "mean", ["lifetime"])], hot_key_share=None))["t"]
    assert row["x_sum_150m"] == -big + 5  # [10:30, 13:00), after a running total of 2**63
    assert row["x_sum_lifetime"] == big + 5
    assert row["x_mean_lifetime"] == pytest.approx((big + 5) / 4)


def test_values_spark_cannot_order_are_tied_by_their_json(spark: SparkSession) -> None:
    events = spark.createDataFrame(
        [(1, at(9), {"b": 1}), (1, at(9), {"a": 2}), (1, at(10), {"c": 3})], "driver int, ts timestamp, m map<string,int>")
    orders = spark.createDataFrame([("t", 1, at(11))], "id string, driver int, order_ts timestamp")
    aggs = [Aggregation("m", "first", ["lifetime"]), Aggregation("m", "last", ["90m"]),
            Aggregation("m", "last_k", ["lifetime"], k=3), Aggregation("m", "count", ["lifetime"])]
    row = aggregate(orders, events, aggs, hot_key_share=None).first()
    assert row is not None
    assert row["m_first_lifetime"] == {"a": 2}  # '{"a":2}' < '{"b":1}'
    assert row["m_last_90m"] == {"c": 3}
    assert row["m_last_k_lifetime"] == [{"c": 3}, {"b": 1}, {"a": 2}]
    assert row["m_count_lifetime"] == 3


def test_key_mapping_widens_integers_and_compares_composite_keys_column_by_column(spark: SparkSession) -> None:
    # ("1", "12") and ("11", "2") would collide as concatenated strings.
    events = spark.createDataFrame([(1, "1", "12", at(9), 1.0), (1, "11", "2", at(9), 10.0)],
                                   "case bigint, k1 string, k2 string, ts timestamp, x double")
    orders = spark.createDataFrame([("p", 1, "1", "12", at(10)), ("q", 1, "11", "2", at(10))],
                                   "id string, c int, a string, b string, order_ts timestamp")
    out = window_aggregate_as_of(orders, events, keys={"c": "case", "a": "k1", "b": "k2"}, entity_timestamp="order_ts",
                                 event_timestamp="ts", aggregations=[Aggregation("x", "sum", ["1h"])],
                                 hot_key_share=None)
    got = by_id(out)
    assert (got["p"]["x_sum_1h"], got["q"]["x_sum_1h"]) == (1.0, 10.0)


def test_timestamp_ntz_columns(spark: SparkSession) -> None:
    naive = datetime(2024, 3, 10, 1, 30)  # New York's clocks skip 02:00-03:00 that night: no effect on NTZ
    events = spark.createDataFrame([(1, naive + timedelta(hours=h), float(h)) for h in range(4)],
                                   "driver int, ts timestamp_ntz, x double")
    orders = spark.createDataFrame([("t", 1, naive + timedelta(hours=3))], "id string, driver int, order_ts timestamp_ntz")
    row = by_id(aggregate(orders, events, [Aggregation("x", "sum", ["2h"])], hot_key_share=None))["t"]
    assert row["x_sum_2h"] == 1.0 + 2.0


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata"])
def test_tz_aware_pandas_entity_rows_compare_as_instants(spark: SparkSession, zone: str) -> None:
    instants = pd.to_datetime(["2024-03-10 06:59", "2024-03-10 07:00", "2024-03-10 07:05"], utc=True)
    orders_pd = pd.DataFrame({"id": ["a", "b", "c"], "driver": [1, 1, 1], "order_ts": instants.tz_convert(zone)})
    orders = spark.createDataFrame(orders_pd, "id string, driver int, order_ts timestamp")
    events = spark.createDataFrame([(1, datetime(2024, 3, 10, 6, 59, tzinfo=timezone.utc), 1.0),
                                    (1, datetime(2024, 3, 10, 7, 0, tzinfo=timezone.utc), 2.0)],
                                   "driver int, ts timestamp, x double")
    got = by_id(aggregate(orders, events, [Aggregation("x", "sum", ["5m"])], hot_key_share=None))
    assert (got["a"]["x_sum_5m"], got["b"]["x_sum_5m"], got["c"]["x_sum_5m"]) == (None, 1.0, 2.0)


def test_late_events_count_by_event_time_unless_as_known(spark: SparkSession) -> None:
    events = spark.createDataFrame(
        [(1, at(8), at(8), 1.0), (1, at(9, 30), at(12), 10.0)],  # the second event is written at 12:00
        "driver int, ts timestamp, created timestamp, x double")
    orders = spark.createDataFrame([("t10", 1, at(10)), ("t13", 1, at(13))], "id string, driver int, order_ts timestamp")
    aggs = [Aggregation("x", "sum", ["1h", "4h"]), Aggregation("x", "last", ["lifetime"])]
    by_event_time = by_id(aggregate(orders, events, aggs, hot_key_share=None))
    assert by_event_time["t10"]["x_sum_1h"] == 10.0 and by_event_time["t10"]["x_last_lifetime"] == 10.0
    known = by_id(aggregate(orders, events, aggs, hot_key_share=None, created_timestamp="created",
                            as_known_at_query_time=True))
    assert known["t10"]["x_sum_1h"] is None and known["t10"]["x_sum_4h"] == 1.0
    assert known["t10"]["x_last_lifetime"] == 1.0
    assert known["t13"]["x_sum_4h"] == 10.0 and known["t13"]["x_last_lifetime"] == 10.0  # known by 13:00


def test_no_entity_rows(spark: SparkSession, trips: DataFrame) -> None:
    orders = spark.createDataFrame([], "id string, driver int, order_ts timestamp")
    out = aggregate(orders, trips, [Aggregation("fare", "sum", ["1h"])])
    assert out.columns == ["id", "driver", "order_ts", "fare_sum_1h"] and out.count() == 0
