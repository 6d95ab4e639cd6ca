"""Property-based tests: the windowed aggregation engine against the brute-force oracle (tests/agg_oracle.py).

Each example builds small frames with explicit schemas: entity rows (with a row id, so rows can be
matched; exact duplicates included), events on a composite key whose parts would collide if
concatenated, one key holding about half of the rows, null keys, null values (and NaN, infinities),
duplicate events, several events at one instant, events exactly at ``t`` and at ``t - w`` (times and
windows are whole minutes), windows longer than the data and lifetime windows, a few aggregations
drawn from a catalogue covering every function. The engine runs as is and, in half of the examples
(the split adds several Spark stages; tests/test_aggregations.py runs every function through it), also
with every key forced through the hot-key split (``hot_key_share=0``), both in one Spark job; each
result is compared with the oracle as a multiset.
"""
from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Optional, Sequence
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from agg_oracle import OracleAgg, assert_same_rows, oracle_window_aggregates
from featurespark.aggregations import Aggregation, window_aggregate_as_of
from featurespark.pit import EntityTimeRange
from pit_oracle import comparable, spark_rows

# Three minutes before New York switches to daylight saving time: local wall clocks jump mid-data.
BASE_UTC = datetime(2024, 3, 10, 6, 57, tzinfo=timezone.utc)
BASE_NTZ = datetime(2024, 3, 10, 1, 57)
ZONES = [timezone.utc, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata"), ZoneInfo("Australia/Lord_Howe")]
# ("1", "12") and ("11", "2") concatenate to the same string; ("1", "12") is the hot key.
KEY_PAIRS = [("1", "12"), ("11", "2"), ("1", "2"), (None, "12"), ("1", None)]
FULL_KEYS = {"case": "case", "ek1": "k1", "ek2": "k2"}

WINDOWS = ["1m", "3m", "lifetime", "1d"]  # 1d is longer than the data
FLOATS = [-2.5, 0.1, 1.0, 3.3, 7.25, 100.0, -0.0, 0.0]
SPECIAL_FLOATS = [float("nan"), float("inf"), float("-inf")]
DECIMALS = [Decimal("-1.25"), Decimal("0.10"), Decimal("3.33"), Decimal("999.99")]
STRINGS = ["a", "b", "bb", "c"]
#: (column, function, k) of every aggregation the tests may ask for: every function, on several types.
CATALOGUE: list[tuple[str, str, Optional[int]]] = [
    ("i_val", "count", None), ("i_val", "sum", None), ("i_val", "mean", None), ("i_val", "variance", None),
    ("i_val", "stddev", None), ("i_val", "min", None), ("i_val", "max", None), ("i_val", "first", None),
    ("i_val", "last", None), ("i_val", "last_k", 3), ("i_val", "approx_count_distinct", None),
    ("f_val", "sum", None), ("f_val", "mean", None), ("f_val", "stddev", None), ("f_val", "min", None),
    ("f_val", "max", None), ("f_val", "last_k", 2), ("f_val", "approx_count_distinct", None),
    ("s_val", "count", None), ("s_val", "min", None), ("s_val", "max", None), ("s_val", "first", None),
    ("s_val", "last", None), ("s_val", "last_k", 2), ("s_val", "approx_count_distinct", None),
    ("l_val", "sum", None), ("l_val", "mean", None), ("d_val", "sum", None), ("d_val", "mean", None),
    ("d_val", "max", None),
]
AS_KNOWN_FUNCTIONS = {"count", "sum", "mean", "variance", "stddev", "last"}
AS_KNOWN_LIFETIME = AS_KNOWN_FUNCTIONS | {"min", "max", "first", "approx_count_distinct"}

SETTINGS = settings(
    max_examples=min(10, settings.default.max_examples),  # fewer under the "compat" profile (conftest.py)
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)

keys_st = st.one_of(st.just(("1", "12")), st.sampled_from(KEY_PAIRS))  # about half the rows on the hot key


@st.composite
def rows_of(draw: Any, row: Any, max_size: int, allow_empty: bool = True) -> list[Any]:
    """Mostly several rows (so keys and times collide), sometimes none, with some exact duplicates."""
    if allow_empty and draw(st.integers(0, 12)) == 0:
        return []
    base = draw(st.lists(row, min_size=1, max_size=max_size))
    copies = draw(st.integers(0, min(2, len(base))))
    return base + base[:copies]


entity_rows_st = rows_of(
    st.tuples(st.sampled_from([1, 1, 1, 2]), keys_st, st.integers(0, 8), st.sampled_from(range(len(ZONES)))),
    max_size=8,
)
event_rows_st = rows_of(
    st.tuples(
        st.sampled_from([1, 1, 1, 2]),
        keys_st,
        st.sampled_from([None, *range(-2, 9), *range(0, 9)]),  # event minute; null now and then
        st.sampled_from([None, 0, 0, 0, 1, 2, 4]),  # created = event minute + this (late events)
        st.sampled_from([None, -3, 0, 1, 2, 5, 40]),
        st.one_of(st.sampled_from([None, *FLOATS]), st.sampled_from([None, *FLOATS]), st.sampled_from(SPECIAL_FLOATS)),
        st.sampled_from([None, *STRINGS]),
        st.sampled_from([None, -(2**40), 3, 2**40 + 7]),
        st.sampled_from([None, *DECIMALS]),
    ),
    max_size=14,
    allow_empty=True,
)
aggregations_st = st.lists(
    st.tuples(st.sampled_from(range(len(CATALOGUE))), st.lists(st.sampled_from(WINDOWS), min_size=1, max_size=3,
                                                              unique=True)),
    min_size=1, max_size=3, unique_by=lambda a: a[0],
)


def _time(minute: Optional[int], ntz: bool, zone: Any = timezone.utc) -> Optional[datetime]:
    if minute is None:
        return None
    if ntz:
        return BASE_NTZ + timedelta(minutes=minute)
    return (BASE_UTC + timedelta(minutes=minute)).astimezone(zone)


def _window(label: str) -> Optional[timedelta]:
    return {"1m": timedelta(minutes=1), "3m": timedelta(minutes=3), "1d": timedelta(days=1), "lifetime": None}[label]


def build(spark: SparkSession, entity_rows: list[Any], event_rows: list[Any], ntz: bool) -> tuple[Any, ...]:
    ts = "timestamp_ntz" if ntz else "timestamp"
    entity = [(rid, case, k1, k2, _time(m, ntz, ZONES[z])) for rid, (case, (k1, k2), m, z) in enumerate(entity_rows)]
    entity += entity[: len(entity) // 3]  # duplicate entity rows stay duplicates
    entity_df = spark.createDataFrame(entity, f"rid int, case int, ek1 string, ek2 string, ets {ts}")
    entity_pd = pd.DataFrame(entity, columns=["rid", "case", "ek1", "ek2", "ets"], dtype=object)
    events = [
        (case, k1, k2, _time(m, ntz), _time(None if m is None or d is None else m + d, ntz), i, f, s, big, dec)
        for case, (k1, k2), m, d, i, f, s, big, dec in event_rows
    ]
    events_df = spark.createDataFrame(
        events, f"case bigint, k1 string, k2 string, ts {ts}, cts {ts}, i_val int, f_val double, s_val string, "
        "l_val bigint, d_val decimal(6,2)")
    events_pd = pd.DataFrame(
        events, columns=["case", "k1", "k2", "ts", "cts", "i_val", "f_val", "s_val", "l_val", "d_val"], dtype=object)
    return entity_df, entity_pd, events_df, events_pd


def aggregations_of(choice: list[tuple[int, list[str]]], as_known: bool) -> tuple[list[Aggregation], list[OracleAgg]]:
    aggs, oracle = [], []
    for index, windows in choice:
        column, function, k = CATALOGUE[index]
        if as_known:
            windows = [w for w in windows if function in AS_KNOWN_FUNCTIONS
                       or (w == "lifetime" and function in AS_KNOWN_LIFETIME)]
            if not windows:
                continue
        agg = Aggregation(column, function, windows, k=k)
        aggs.append(agg)
        oracle += [OracleAgg(name, column, function, _window(w), k) for name, w in zip(agg.output_names(), windows)]
    return aggs, oracle


def time_range_of(entity_pd: pd.DataFrame, ntz: bool) -> EntityTimeRange:
    """The entity time range from the same values (entity_time_range has its own tests): saves a job."""
    micros = [comparable(t) if not ntz else (t - datetime(1970, 1, 1)) // timedelta(microseconds=1)
              for t in entity_pd["ets"]]
    return EntityTimeRange(min(micros, default=None), max(micros, default=None), 0, len(micros), ntz)


def check(
    entity_df: DataFrame, entity_pd: pd.DataFrame, events_df: DataFrame, events_pd: pd.DataFrame,
    aggs: list[Aggregation], oracle: list[OracleAgg], *, ntz: bool, buckets: Optional[int], as_known: bool = False,
) -> None:
    """Run the engine (and, unless ``buckets`` is None, the forced hot-key split) and compare with the oracle."""
    if not aggs:
        return
    options: dict[str, Any] = dict(
        keys=FULL_KEYS, entity_timestamp="ets", event_timestamp="ts", aggregations=aggs,
        time_range=time_range_of(entity_pd, ntz),
    )
    if as_known:
        options.update(created_timestamp="cts", as_known_at_query_time=True)
    variants: dict[str, dict[str, Any]] = {"plain": dict(hot_key_share=None)}
    if buckets is not None:
        variants["hot"] = dict(hot_key_share=0.0, hot_key_buckets=buckets)
    outs = [window_aggregate_as_of(entity_df, events_df, **options, **extra).withColumn("variant", F.lit(name))
            for name, extra in variants.items()]
    outputs = [o.name for o in oracle]
    assert outs[0].columns == [*entity_pd.columns, *outputs, "variant"]
    rows = spark_rows(functools.reduce(DataFrame.unionByName, outs))
    expected = oracle_window_aggregates(
        entity_pd, events_pd, keys=FULL_KEYS, entity_timestamp="ets", event_timestamp="ts", aggregations=oracle,
        created_timestamp="cts", as_known=as_known,
    )
    for name in variants:
        got = [r for r in rows if r["variant"] == name]
        assert_same_rows(got, expected, list(entity_pd.columns), outputs, label=name)


buckets_st = st.sampled_from([None, None, None, 1, 2, 4])  # None: no forced hot-key run in this example


@SETTINGS
@given(entity_rows=entity_rows_st, event_rows=event_rows_st, choice=aggregations_st, buckets=buckets_st)
def test_engine_matches_oracle(
    spark: SparkSession, entity_rows: list[Any], event_rows: list[Any], choice: list[Any], buckets: Optional[int]
) -> None:
    entity_df, entity_pd, events_df, events_pd = build(spark, entity_rows, event_rows, ntz=False)
    aggs, oracle = aggregations_of(choice, as_known=False)
    check(entity_df, entity_pd, events_df, events_pd, aggs, oracle, ntz=False, buckets=buckets)


@settings(SETTINGS, max_examples=min(8, SETTINGS.max_examples))
@given(entity_rows=entity_rows_st, event_rows=event_rows_st, choice=aggregations_st, buckets=buckets_st)
def test_engine_matches_oracle_as_known_at_query_time(
    spark: SparkSession, entity_rows: list[Any], event_rows: list[Any], choice: list[Any], buckets: Optional[int]
) -> None:
    """Late events (created after their event time) count only once created; supported functions only."""
    entity_df, entity_pd, events_df, events_pd = build(spark, entity_rows, event_rows, ntz=False)
    aggs, oracle = aggregations_of(choice, as_known=True)
    check(entity_df, entity_pd, events_df, events_pd, aggs, oracle, ntz=False, buckets=buckets, as_known=True)


@settings(SETTINGS, max_examples=min(4, SETTINGS.max_examples))
@given(entity_rows=entity_rows_st, event_rows=event_rows_st, choice=aggregations_st, buckets=buckets_st)
def test_engine_matches_oracle_ntz(
    spark: SparkSession, entity_rows: list[Any], event_rows: list[Any], choice: list[Any], buckets: Optional[int]
) -> None:
    """TIMESTAMP_NTZ wall clocks crossing New York's skipped hour: measured exactly, not via the session zone."""
    entity_df, entity_pd, events_df, events_pd = build(spark, entity_rows, event_rows, ntz=True)
    aggs, oracle = aggregations_of(choice, as_known=False)
    check(entity_df, entity_pd, events_df, events_pd, aggs, oracle, ntz=True, buckets=buckets)
