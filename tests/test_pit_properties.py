"""Property-based tests: every join algorithm against the brute-force pandas oracle.

Each example builds small frames with explicit schemas, runs the range join, the as-of join and the
hot-key split as-of join over the same inputs, unions the three results (one Spark job) and compares
each with the oracle as a multiset (sorted row lists, duplicates counted).
"""
from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone
from typing import Any, Optional
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from featurespark.pit import _prepare
from featurespark.pit import EntityTimeRange, PitView, point_in_time_join_many
from pit_oracle import OracleView, as_multiset, comparable, oracle_point_in_time, spark_rows

# Three minutes before New York switches to daylight saving time, so local wall clocks jump mid-data
# (and the NTZ wall clocks cross New York's skipped hour, which must not matter).
BASE_UTC = datetime(2024, 3, 10, 6, 57, tzinfo=timezone.utc)
BASE_NTZ = datetime(2024, 3, 10, 1, 57)
ZONES = [timezone.utc, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata"), ZoneInfo("Australia/Lord_Howe")]
# ("1", "12") and ("11", "2") concatenate to the same string; (1, "1", "12") is the hot key.
KEY_PAIRS = [("1", "12"), ("11", "2"), ("1", "2"), ("11", "12"), (None, "12"), ("1", None)]
TTL_MINUTES = [None, 0, 1, 2, 4]
FEATURE_CHOICES = [("f_int", "f_str"), ("f_str", "f_int"), ("f_str",)]
FULL_KEYS = {"case": "case", "ek1": "k1", "ek2": "k2"}
PARTIAL_KEYS = {"case": "case", "ek1": "k1"}
ALGORITHMS = [("range", None), ("asof", None), ("asof", "hot")]

SETTINGS = settings(
    max_examples=min(8, settings.default.max_examples),  # fewer under the "compat" profile (conftest.py)
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)

keys_st = st.one_of(st.just(("1", "12")), st.sampled_from(KEY_PAIRS))  # about half the rows on the hot key


@st.composite
def rows_of(draw: Any, row: Any, max_size: int) -> list[Any]:
    """Mostly several rows (so keys and times collide), sometimes none, with some exact duplicates."""
    if draw(st.integers(0, 9)) == 0:
        return []
    base = draw(st.lists(row, min_size=2, max_size=max_size))
    copies = draw(st.integers(0, min(2, len(base))))
    return base + base[:copies]


entity_rows_st = rows_of(
    st.tuples(
        st.sampled_from([1, 1, 1, 2]),  # the `case` key: a third key column, int here, bigint in features
        keys_st,
        st.integers(0, 6),  # entity minute
        st.sampled_from(range(len(ZONES))),
        st.integers(0, 1),
    ),
    max_size=8,
)
feature_rows_st = rows_of(
    st.tuples(
        st.sampled_from([1, 1, 1, 2]),
        keys_st,
        st.sampled_from([None, *range(0, 7), *range(0, 7)]),  # feature minute; null now and then
        st.sampled_from([None, -1, 0, 0, 1, 2, 3, 3]),  # created = feature minute + this (corrections, late rows)
        st.sampled_from([None, 0, 1, 2]),
        st.sampled_from([None, "a", "b"]),
    ),
    max_size=10,
)
view_st = st.tuples(
    st.sampled_from(TTL_MINUTES),
    st.sampled_from([True, True, False]),  # has a created timestamp
    st.booleans(),  # filter_by_created_timestamp (only with a created timestamp)
    st.sampled_from(range(len(FEATURE_CHOICES))),
    st.booleans(),  # full or partial key set
    feature_rows_st,
)


def _time(minute: Optional[int], ntz: bool, zone: Any = timezone.utc) -> Optional[datetime]:
    if minute is None:
        return None
    if ntz:
        return BASE_NTZ + timedelta(minutes=minute)
    return (BASE_UTC + timedelta(minutes=minute)).astimezone(zone)


def _build(spark: SparkSession, entity_rows: list[Any], views: list[Any], ntz: bool) -> tuple[Any, ...]:
    ts = "timestamp_ntz" if ntz else "timestamp"
    entity = [
        (case, k1, k2, _time(m, ntz, ZONES[z]), payload) for case, (k1, k2), m, z, payload in entity_rows
    ]
    entity_schema = f"case int, ek1 string, ek2 string, ets {ts}, payload int"
    entity_df = spark.createDataFrame(entity, entity_schema)
    entity_pd = pd.DataFrame(entity, columns=["case", "ek1", "ek2", "ets", "payload"], dtype=object)
    feature_schema = f"case bigint, k1 string, k2 string, fts {ts}, cts {ts}, f_int int, f_str string"
    pit_views, oracle_views = [], []
    for i, (ttl_m, created, filtered, choice, full, rows) in enumerate(views):
        feature = [
            (case, k1, k2, _time(m, ntz), _time(None if m is None or d is None else m + d, ntz), fi, fs)
            for case, (k1, k2), m, d, fi, fs in rows
        ]
        ttl = None if ttl_m is None else timedelta(minutes=ttl_m)
        keys = FULL_KEYS if full else PARTIAL_KEYS
        features = FEATURE_CHOICES[choice]
        outputs = [f"v{i}_{f}" for f in features]
        pit_views.append(
            PitView(
                feature_df=spark.createDataFrame(feature, feature_schema),
                keys=keys,
                feature_timestamp="fts",
                created_timestamp="cts" if created else None,
                ttl=ttl,
                features=list(features),
                prefix=f"v{i}_",
                filter_by_created_timestamp=created and filtered,
            )
        )
        oracle_views.append(
            OracleView(
                rows=pd.DataFrame(feature, columns=["case", "k1", "k2", "fts", "cts", "f_int", "f_str"], dtype=object),
                keys=keys,
                feature_timestamp="fts",
                features=features,
                outputs=outputs,
                created_timestamp="cts" if created else None,
                ttl=ttl,
                filter_by_created=created and filtered,
            )
        )
    return entity_df, entity_pd, pit_views, oracle_views


def _check_all_algorithms(
    entity_df: DataFrame,
    entity_pd: pd.DataFrame,
    pit_views: list[PitView],
    oracle_views: list[OracleView],
    hot_buckets: int,
    key_filter: bool,
) -> None:
    # The time range is computed here from the same values (entity_time_range has its own tests),
    # which saves one Spark job per example.
    micros = [
        comparable(t) if t.tzinfo else (t - datetime(1970, 1, 1)) // timedelta(microseconds=1) for t in entity_pd["ets"]
    ]
    time_range = EntityTimeRange(
        min_micros=min(micros, default=None),
        max_micros=max(micros, default=None),
        null_count=0,
        row_count=len(micros),
        ntz=dict(entity_df.dtypes)["ets"] == "timestamp_ntz",
    )
    # Every example entity frame is small and so is every feature frame: half of the examples force the
    # key filter (feature rows of the entity keys only) on, the other half leave it off.
    saved = _prepare.KEY_FILTER_MIN_FEATURE_BYTES
    _prepare.KEY_FILTER_MIN_FEATURE_BYTES = 0 if key_filter else saved
    try:
        results = []
        for name, hot in ALGORITHMS:
            out = point_in_time_join_many(
                entity_df,
                pit_views,
                entity_timestamp="ets",
                algorithm=name,
                hot_key_buckets=hot_buckets if hot else None,
                time_range=time_range,
            )
            results.append(out.withColumn("algo", F.lit(f"{name}-{hot}")))
        columns = [*entity_pd.columns, *[o for v in oracle_views for o in v.outputs]]
        assert results[0].columns == [*columns, "algo"]
        rows = spark_rows(functools.reduce(DataFrame.unionByName, results))
    finally:
        _prepare.KEY_FILTER_MIN_FEATURE_BYTES = saved
    expected = as_multiset(oracle_point_in_time(entity_pd, oracle_views, "ets"), columns)
    for name, hot in ALGORITHMS:
        got = as_multiset([r for r in rows if r["algo"] == f"{name}-{hot}"], columns)
        assert got == expected, f"{name} (hot={hot}) differs from the oracle:\n got      {got}\n expected {expected}"


@SETTINGS
@given(
    entity_rows=entity_rows_st,
    views=st.lists(view_st, min_size=1, max_size=3),
    hot_buckets=st.sampled_from([1, 2, 5]),
    key_filter=st.booleans(),
)
def test_all_algorithms_match_oracle(
    spark: SparkSession, entity_rows: list[Any], views: list[Any], hot_buckets: int, key_filter: bool
) -> None:
    entity_df, entity_pd, pit_views, oracle_views = _build(spark, entity_rows, views, ntz=False)
    _check_all_algorithms(entity_df, entity_pd, pit_views, oracle_views, hot_buckets, key_filter)


@settings(SETTINGS, max_examples=min(6, SETTINGS.max_examples))
@given(entity_rows=entity_rows_st, views=st.lists(view_st, min_size=1, max_size=2), key_filter=st.booleans())
def test_all_algorithms_match_oracle_ntz(spark: SparkSession, entity_rows: list[Any], views: list[Any],
                                         key_filter: bool) -> None:
    entity_df, entity_pd, pit_views, oracle_views = _build(spark, entity_rows, views, ntz=True)
    _check_all_algorithms(entity_df, entity_pd, pit_views, oracle_views, hot_buckets=3, key_filter=key_filter)


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata"])
def test_tz_aware_pandas_entities_compare_as_instants(spark: SparkSession, zone: str) -> None:
    # The same instants written in another zone: 01:59 and 03:00 New York time straddle the DST jump.
    instants = pd.to_datetime(["2024-03-10 06:59", "2024-03-10 07:00", "2024-03-10 07:05"], utc=True)
    entity_pd = pd.DataFrame({"id": [1, 1, 1], "ets": instants.tz_convert(zone)})
    entity_df = spark.createDataFrame(entity_pd, "id int, ets timestamp")
    feature_rows = [
        (1, datetime(2024, 3, 10, 6, 59, tzinfo=timezone.utc), 10),
        (1, datetime(2024, 3, 10, 7, 0, tzinfo=timezone.utc), 20),
    ]
    feature_df = spark.createDataFrame(feature_rows, "id int, fts timestamp, v int")
    view = OracleView(
        rows=pd.DataFrame(feature_rows, columns=["id", "fts", "v"], dtype=object),
        keys={"id": "id"},
        feature_timestamp="fts",
        features=["v"],
        outputs=["v"],
        ttl=timedelta(minutes=4),
    )
    expected = oracle_point_in_time(entity_pd, [view], "ets")
    assert [r["v"] for r in expected] == [10, 20, None]  # the oracle itself compares instants
    for algorithm in ("range", "asof"):
        out = point_in_time_join_many(
            entity_df,
            [PitView(feature_df, keys=["id"], feature_timestamp="fts", ttl=timedelta(minutes=4))],
            entity_timestamp="ets",
            algorithm=algorithm,
        )
        assert as_multiset(spark_rows(out), ["id", "ets", "v"]) == as_multiset(expected, ["id", "ets", "v"])
