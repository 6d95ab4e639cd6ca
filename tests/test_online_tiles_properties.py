"""Property-based proof of the online aggregation items against the brute-force oracle (tests/agg_oracle.py).

Each example draws events (times in whole seconds, so lookups fall exactly on events and on ``t - w``;
ties at one instant, exact duplicates, null values, NaN, infinities and -0.0; a key without events),
builds the items with Spark as of a drawn ``end``, writes them to the local DynamoDB endpoint, reads them back with
``BatchGetItem`` and evaluates every output at lookup times from ``end`` to ``end + horizon`` (every
whole second, half seconds, and random microseconds). The oracle sees the events before ``end``: what
the item covers (an online value at ``t > end`` misses the events of ``[end, t)`` until the next
materialization; at ``t == end`` the two are the same values). Every function is checked over two
tiled windows and lifetime; the windows empty out as ``t`` moves on. Past the horizon, lookups must
either agree with the oracle or raise :class:`StaleItemError`.
"""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, Optional

import pandas as pd
import pytest
from dynamodb_local import DynamoDBLocal, aws_env, spark_aws_env, unique_table  # noqa: F401 - fixtures
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import SparkSession

from agg_oracle import OracleAgg, assert_same_rows, oracle_window_aggregates
from featurespark.aggregations import Aggregation
from featurespark.online.reader import OnlineReader
from featurespark.online.tables import create_table, delete_table
from featurespark.errors import StaleItemError
from featurespark.online.tiles import TiledLayout, evaluate, get_aggregates, tile_rows, write_tiles

BASE = datetime(2026, 3, 1, tzinfo=timezone.utc)
SECOND = timedelta(seconds=1)
WINDOWS = ["10s", "25s", "lifetime"]
HORIZON = timedelta(seconds=7)
TILES = {"10s": timedelta(seconds=3), "25s": timedelta(seconds=4)}
#: (column, function, k): every function, on ints, floats and strings.
CATALOGUE: list[tuple[str, str, Optional[int]]] = [
    ("i_val", "count", None), ("i_val", "sum", None), ("i_val", "mean", None), ("i_val", "variance", None),
    ("i_val", "min", None), ("i_val", "first", None), ("i_val", "last_k", 3),
    ("i_val", "approx_count_distinct", None),
    ("f_val", "sum", None), ("f_val", "mean", None), ("f_val", "stddev", None), ("f_val", "max", None),
    ("f_val", "last", None), ("f_val", "approx_count_distinct", None),
    ("s_val", "count", None), ("s_val", "max", None), ("s_val", "first", None), ("s_val", "last", None),
    ("s_val", "last_k", 2), ("s_val", "approx_count_distinct", None),
]
AGGREGATIONS = [Aggregation(c, f, WINDOWS, k=k) for c, f, k in CATALOGUE]
ORACLE_AGGS = [
    OracleAgg(name, agg.column, agg.function,
              None if window.micros is None else timedelta(microseconds=window.micros), agg.k)
    for agg in AGGREGATIONS for name, window in agg.outputs()
]
OUTPUTS = [a.name for a in ORACLE_AGGS]
LAYOUT = TiledLayout.build({"k": "string"}, {"i_val": "int64", "f_val": "float64", "s_val": "string"},
                           AGGREGATIONS, horizon=HORIZON, tile_sizes=TILES)
SCHEMA = "k string, ts timestamp, i_val bigint, f_val double, s_val string"
FLOATS = [-2.5, 0.1, 1.0, 3.25, 100.0, -0.0, 0.0, float("nan"), float("inf"), float("-inf")]

SETTINGS = settings(
    max_examples=min(8, settings.default.max_examples),  # fewer under the "compat" profile (conftest.py)
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
_EXAMPLE = itertools.count()

event_st = st.tuples(
    st.sampled_from(["a", "a", "b", "c"]),  # "d" never has events
    st.integers(0, 40),
    st.one_of(st.none(), st.integers(-5, 9)),
    st.one_of(st.none(), st.sampled_from(FLOATS[:7]), st.sampled_from(FLOATS)),
    st.one_of(st.none(), st.sampled_from(["x", "y", "yy", "z"])),
)


@st.composite
def events_st(draw: Any) -> list[tuple[Any, ...]]:
    base = draw(st.lists(event_st, max_size=30))
    copies = draw(st.integers(0, min(3, len(base))))
    return base + base[:copies]  # exact duplicates


@pytest.fixture(scope="module")
def table(dynamodb_local: DynamoDBLocal) -> Iterator[str]:
    client = dynamodb_local.client()
    name = unique_table("fs_tiles")
    create_table(client, name)
    yield name
    delete_table(client, name)


@pytest.fixture
def reader(dynamodb_local: DynamoDBLocal, aws_env: dict[str, str]) -> Iterator[OnlineReader]:  # noqa: F811
    with OnlineReader(region=dynamodb_local.region, endpoint_url=dynamodb_local.endpoint_url) as online:
        yield online


@SETTINGS
@given(events=events_st(), end_s=st.integers(15, 36), offsets=st.lists(st.integers(0, 7_000_000), max_size=4))
def test_online_lookups_equal_the_oracle(
    spark: SparkSession, spark_aws_env: None, dynamodb_local: DynamoDBLocal,  # noqa: F811
    table: str, reader: OnlineReader, events: list[tuple[Any, ...]], end_s: int, offsets: list[int],
) -> None:
    prefix = f"e{next(_EXAMPLE)}_"  # keys of one example, in the module's table
    rows = [(prefix + k, BASE + s * SECOND, i, f, sv) for k, s, i, f, sv in events]
    end = BASE + end_s * SECOND
    df = spark.createDataFrame(rows, SCHEMA)
    write_tiles(tile_rows(df, layout=LAYOUT, event_timestamp="ts", end=end), layout=LAYOUT, end=end,
                table_name=table, region=dynamodb_local.region, endpoint_url=dynamodb_local.endpoint_url, threads=2)

    times = [end + timedelta(milliseconds=500 * n) for n in range(15)] + [end + timedelta(microseconds=o)
                                                                         for o in offsets]
    entity = [(n, prefix + k, t) for n, (k, t) in enumerate(itertools.product("abcd", times))]
    got_values = get_aggregates(reader, table, LAYOUT, [{"k": k} for _, k, _ in entity], at=[t for _, _, t in entity])
    got = [{"rid": rid, **values} for (rid, _, _), values in zip(entity, got_values)]

    known = [r for r in rows if r[1] < end]
    events_pd = pd.DataFrame(known, columns=["k", "ts", "i_val", "f_val", "s_val"], dtype=object)
    entity_pd = pd.DataFrame(entity, columns=["rid", "k", "t"], dtype=object)
    expected = oracle_window_aggregates(entity_pd, events_pd, keys={"k": "k"}, entity_timestamp="t",
                                        event_timestamp="ts", aggregations=ORACLE_AGGS)
    assert_same_rows(got, expected, ["rid"], OUTPUTS, label="online")

    # Past the horizon an item answers exactly or refuses (StaleItemError); it is never silently wrong.
    late_times = [end + HORIZON + timedelta(seconds=n) for n in (1, 2, 5, 9, 13, 26)]
    late = [(n, prefix + k, t) for n, (k, t) in enumerate(itertools.product("abc", late_times))]
    items = reader.get_items(table, {"k": "string"}, [{"k": k} for _, k, _ in late])
    answered = []
    for (rid, _, t), item in zip(late, items):
        try:
            answered.append({"rid": rid, **evaluate(LAYOUT, LAYOUT.decode(item) if item else None, t)})
        except StaleItemError:
            continue
    late_pd = pd.DataFrame([row for row in late if row[0] in {a["rid"] for a in answered}],
                           columns=["rid", "k", "t"], dtype=object)
    expected_late = oracle_window_aggregates(late_pd, events_pd, keys={"k": "k"}, entity_timestamp="t",
                                             event_timestamp="ts", aggregations=ORACLE_AGGS)
    assert_same_rows(answered, expected_late, ["rid"], OUTPUTS, label="online past the horizon")
