"""Aggregation items online: layout validation, codec, lookup edges and errors, idempotent writes.

The agreement with the offline semantics over random data is in tests/test_online_tiles_properties.py.
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest
from dynamodb_local import DynamoDBLocal, aws_env, spark_aws_env, unique_table  # noqa: F401 - fixtures
from pyspark.sql import SparkSession

from featurespark.aggregations import Aggregation
from featurespark.errors import (
    DefinitionError,
    InvalidArgumentError,
    ItemEncodingError,
    ItemTooLargeError,
    SchemaMismatchError,
    StaleItemError,
)
from featurespark.online.items import item_size
from featurespark.online.reader import OnlineReader
from featurespark.online.tables import create_table, delete_table
from featurespark.online.tiles import (
    DecodedTiles,
    TiledLayout,
    evaluate,
    get_aggregates,
    materialize_tiles,
    tile_rows,
)

US = 1
HOUR = timedelta(hours=1)


def small_layout(*aggs: Aggregation, horizon_us: int = 2, tile_us: int = 4) -> TiledLayout:
    aggs = aggs or (Aggregation("x", "sum", ["10us"]),)
    return TiledLayout.build({"k": "int64"}, {"x": "int64", "f": "float64", "s": "string"}, list(aggs),
                             horizon=timedelta(microseconds=horizon_us),
                             tile_sizes={"10us": timedelta(microseconds=tile_us)})


# ------------------------------------------------------------------------------------- layout


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda: TiledLayout.build({}, {"x": "int64"}, [Aggregation("x", "sum", ["1h"])], horizon=HOUR),
     InvalidArgumentError, "at least one join key"),
    (lambda: TiledLayout.build({"k": "float64"}, {"x": "int64"}, [Aggregation("x", "sum", ["1h"])], horizon=HOUR),
     DefinitionError, "online join keys must be one of"),
    (lambda: TiledLayout.build({"k": "int64"}, {"x": "int64"}, [], horizon=HOUR),
     InvalidArgumentError, "No aggregation given"),
    (lambda: TiledLayout.build({"k": "int64"}, {"x": "int64"}, [Aggregation("x", "sum", ["1h"])],
                               horizon=timedelta(0)),
     InvalidArgumentError, "horizon must be a positive timedelta"),
    (lambda: TiledLayout.build({"k": "int64"}, {"x": "int64"}, [Aggregation("x", "sum", ["1h"])], horizon=HOUR,
                               tile_sizes={"2h": HOUR}),
     InvalidArgumentError, "tile_sizes names window '2h', which no aggregation has"),
    (lambda: TiledLayout.build({"k": "int64"}, {"x": "int64"}, [Aggregation("x", "sum", ["1h"])], horizon=HOUR,
                               tile_sizes={"1h": timedelta(0)}),
     InvalidArgumentError, "Tile size of window '1h' must be a positive timedelta"),
    (lambda: TiledLayout.build({"k": "int64"}, {"y": "int64"}, [Aggregation("x", "sum", ["1h"])], horizon=HOUR),
     DefinitionError, "reads column 'x', which has no type in column_types"),
    (lambda: TiledLayout.build({"k": "int64"}, {"x": "array<int64>"}, [Aggregation("x", "count", ["1h"])],
                               horizon=HOUR),
     DefinitionError, "Column 'x' has type array<int64>"),
    (lambda: TiledLayout.build({"k": "int64"}, {"x": "string"}, [Aggregation("x", "sum", ["1h"])], horizon=HOUR),
     DefinitionError, "sum"),
    (lambda: TiledLayout.build({"k": "int64"}, {"x": "int64"}, [Aggregation("x", "sum", ["1h"], name="a"),
                                                                 Aggregation("x", "max", ["1h"], name="a")],
                               horizon=HOUR),
     InvalidArgumentError, "Output names ['a'] appear more than once"),
])
def test_layout_errors_say_what_and_how_to_fix(call: Any, error: type, message: str) -> None:
    with pytest.raises(error) as info:
        call()
    assert message in str(info.value)


def test_raw_edge_bound_covers_every_lookup_until_the_horizon() -> None:
    layout = small_layout(horizon_us=3)
    # end 100, window 10, horizon 3, tiles of 4: lookups 100..103 have edges 90..93; B = ceil(93 / 4) * 4 = 96.
    assert layout.raw_until(10, 100) == 96
    assert layout.lookback(100) == 90
    short = small_layout(horizon_us=30)
    assert short.raw_until(10, 100) == 100  # the horizon is longer than the window: every event stays raw


# -------------------------------------------------------------------------------------- codec


def test_encode_then_decode_round_trips_every_partial_kind() -> None:
    aggs = [Aggregation("x", f, ["10us", "lifetime"], k=2 if f == "last_k" else None)
            for f in ("count", "sum", "mean", "variance", "min", "first", "last_k", "approx_count_distinct")]
    aggs.append(Aggregation("f", "stddev", ["10us"]))
    aggs.append(Aggregation("s", "last", ["10us"]))
    layout = small_layout(*aggs)
    partials = [3, 7, (3, 7), (3, 2.5, float("nan")), -1, (91, 4), [(99, 5), (98, -1)], [11, -3], (2, 1e300, 0.0),
                (97, "é")]
    lifetime = [0, None, None, None, None, None, None, []]
    item = layout.encode([7], 100, [(95, 1, -12, None, "a")], [[(96, *partials)]], lifetime)  # x, hash(x), f, s
    assert item["pk"] == {"S": "i1:7"} and item["event_ts"] == {"N": "100"}
    decoded = layout.decode(item)
    assert decoded.key == (7,) and decoded.end == 100 and decoded.raw == [(95, 1, -12, None, "a")]
    bound, tiles = decoded.tile_sets[0]
    assert bound == 92  # ceil((100 - 10 + 2) / 4) * 4
    start, *got = tiles[0]
    assert start == 96
    assert got[:3] == partials[:3] and got[3][:2] == (3, 2.5) and math.isnan(got[3][2])
    assert got[4:6] == partials[4:6] and got[6] == [(99, 5), (98, -1)] and got[7] == [-3, 11]
    assert got[8:] == partials[8:]
    assert decoded.lifetime == (None, None, None, None, None, None, None, None)  # empty partials are NULL


def test_decode_refuses_another_version_or_tiling() -> None:
    layout = small_layout()
    item = layout.encode([1], 100, [], [[]], None)
    with pytest.raises(ItemEncodingError, match="layout version 9; this featurespark reads version 1"):
        layout.decode({**item, "agg_version": {"N": "9"}})
    with pytest.raises(ItemEncodingError, match="Materialize the view again with the current definition"):
        small_layout(tile_us=5).decode(item)
    with pytest.raises(ItemEncodingError, match="not an aggregation item"):
        layout.decode({"pk": {"S": "i1:1"}, "event_ts": {"N": "1"}, "agg_version": {"N": "1"}})


def test_an_item_over_400_kb_is_refused_with_the_key_and_the_fixes() -> None:
    layout = small_layout(Aggregation("s", "count", ["10us"]))
    raw = [(95, "v" * 1000) for _ in range(420)]
    with pytest.raises(ItemTooLargeError) as info:
        layout.encode([5], 100, raw, [[]], None)
    message = str(info.value)
    assert "key (k=5)" in message and "420 raw edge events" in message and "Shorten the horizon" in message
    assert item_size(layout.encode([5], 100, raw[:300], [[]], None)) < 400 * 1024


# ------------------------------------------------------------------------------------- lookup


def test_lookup_edges_boundaries_and_emptying_windows() -> None:
    layout = small_layout(Aggregation("x", "sum", ["10us"]), Aggregation("x", "count", ["10us"]))
    # Events before end=20: raw 10 -> 1, 11 -> 2; tiles [12, 16) -> 4 and [16, 20) -> 8 (one event each).
    item = DecodedTiles((1,), 20, [(10, 1), (11, 2)], ((12, [(12, 4, 1), (16, 8, 1)]),), ())
    assert evaluate(layout, item, 20) == {"x_sum_10us": 15, "x_count_10us": 4}  # the event at t - w = 10 counts
    assert evaluate(layout, item, 21)["x_sum_10us"] == 14
    assert evaluate(layout, item, 22)["x_sum_10us"] == 12
    with pytest.raises(StaleItemError, match="the window's edge falls in a tile"):
        evaluate(layout, item, 23)  # edge 13 cuts the tile [12, 16)
    assert evaluate(layout, item, 26)["x_sum_10us"] == 8  # edge 16 is a tile boundary: exact again
    assert evaluate(layout, item, 30) == {"x_sum_10us": None, "x_count_10us": 0}  # the window emptied out
    with pytest.raises(StaleItemError, match="before the end of the events the item of key"):
        evaluate(layout, item, 19)
    assert evaluate(layout, None, 5) == {"x_sum_10us": None, "x_count_10us": 0}


def test_variance_partials_merge_stably_far_from_zero() -> None:
    layout = small_layout(Aggregation("f", "variance", ["10us"]))
    values = [1e9 + 0.1, 1e9 + 0.2, 1e9 + 0.4]
    item = DecodedTiles((1,), 20, [(11, values[0])], ((12, [(12, (2, 1e9 + 0.3, 0.02))]),), ())
    got = evaluate(layout, item, 20)["f_variance_10us"]
    mean = sum(values) / 3
    assert math.isclose(got, sum((v - mean) ** 2 for v in values) / 2, rel_tol=1e-6)


# ------------------------------------------------------------------------- Spark and the local DynamoDB endpoint

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


@pytest.fixture
def table(dynamodb_local: DynamoDBLocal) -> Iterator[str]:
    client = dynamodb_local.client()
    name = unique_table("fs_tiles")
    create_table(client, name)
    yield name
    delete_table(client, name)


def test_tile_rows_schema_errors(spark: SparkSession) -> None:
    layout = TiledLayout.build({"k": "int64"}, {"x": "int64"}, [Aggregation("x", "sum", ["1h"])], horizon=HOUR)
    missing = spark.createDataFrame([(1, T0)], "k bigint, ts timestamp")
    with pytest.raises(SchemaMismatchError, match=r"lacks column\(s\) \['x'\]"):
        tile_rows(missing, layout=layout, event_timestamp="ts", end=T0)
    ntz = spark.createDataFrame([(1, T0.replace(tzinfo=None), 1)], "k bigint, ts timestamp_ntz, x bigint")
    with pytest.raises(SchemaMismatchError, match="need a TIMESTAMP"):
        tile_rows(ntz, layout=layout, event_timestamp="ts", end=T0)
    with pytest.raises(InvalidArgumentError, match="end must be a datetime"):
        tile_rows(missing.selectExpr("*", "1L as x"), layout=layout, event_timestamp="ts", end="2026")  # type: ignore


def test_rerun_is_idempotent_and_an_older_end_never_replaces_a_newer_item(
    spark: SparkSession, spark_aws_env: None, dynamodb_local: DynamoDBLocal, table: str,  # noqa: F811
) -> None:
    layout = TiledLayout.build({"k": "string"}, {"x": "int64"},
                               [Aggregation("x", "sum", ["1h"]), Aggregation("x", "count", ["lifetime"])],
                               horizon=timedelta(minutes=10))
    rows = [("a", T0 + timedelta(minutes=m), m) for m in (1, 20, 50, 70, 95)] + [("b", T0, None)]
    events = spark.createDataFrame(rows, "k string, ts timestamp, x bigint")
    client = dynamodb_local.client()
    where = {"table_name": table, "region": dynamodb_local.region, "endpoint_url": dynamodb_local.endpoint_url}

    def item() -> Any:
        return client.get_item(TableName=table, Key={"pk": {"S": "s1:a"}})["Item"]

    end = T0 + timedelta(minutes=90)
    first = materialize_tiles(events, layout=layout, event_timestamp="ts", end=end, threads=1, **where)
    before = item()
    second = materialize_tiles(events, layout=layout, event_timestamp="ts", end=end, threads=1, **where)
    assert (first.items, second.items) == (1, 1)  # "b" has only a null value: no item
    assert item() == before  # the same range twice: the same item, nothing added twice
    with OnlineReader(region=dynamodb_local.region, endpoint_url=dynamodb_local.endpoint_url) as reader:
        values = get_aggregates(reader, table, layout, [{"k": "a"}, {"k": "b"}], at=end + timedelta(minutes=5))
    assert values == [{"x_sum_1h": 50 + 70, "x_count_lifetime": 4}, {"x_sum_1h": None, "x_count_lifetime": 0}]

    older = materialize_tiles(events, layout=layout, event_timestamp="ts", end=end - HOUR, threads=1, **where)
    assert (older.items, older.skipped_older) == (0, 1)
    assert item() == before


def test_the_documented_example_is_what_the_codec_writes_and_the_lookup_reads() -> None:
    import json
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "online_item_layout.md").read_text(encoding="utf-8")
    section = doc.split("## Aggregation items", 1)[1].split("### Example", 1)[1]
    documented = json.loads(re.search(r"```json\n(.*?)```", section, re.S).group(1))  # type: ignore[union-attr]
    layout = TiledLayout.build({"driver": "int64"}, {"fare": "int64"}, [Aggregation("fare", "sum", ["10us"])],
                               horizon=timedelta(microseconds=2), tile_sizes={"10us": timedelta(microseconds=4)})
    item = layout.encode([7], 20, [(10, 1), (11, 2)], [[(12, 4), (16, 8)]], None)
    assert item == documented
    got = {t: evaluate(layout, layout.decode(item), t)["fare_sum_10us"] for t in (20, 21, 22, 26, 30)}
    assert got == {20: 15, 21: 14, 22: 12, 26: 8, 30: None}
    with pytest.raises(StaleItemError):
        evaluate(layout, layout.decode(item), 23)


def test_a_key_with_too_much_data_fails_the_write_with_its_key_never_truncated(
    spark: SparkSession, spark_aws_env: None, dynamodb_local: DynamoDBLocal, table: str,  # noqa: F811
) -> None:
    layout = TiledLayout.build({"k": "string"}, {"s": "string"}, [Aggregation("s", "last_k", ["1h"], k=1000)],
                               horizon=HOUR)  # the horizon covers the whole window: every event stays raw
    rows = [("big", T0 + timedelta(seconds=i), f"{i:04d}" + "v" * 1000) for i in range(450)]
    rows.append(("small", T0, "x"))
    events = spark.createDataFrame(rows, "k string, ts timestamp, s string")
    where = {"table_name": table, "region": dynamodb_local.region, "endpoint_url": dynamodb_local.endpoint_url}
    with pytest.raises(ItemTooLargeError) as info:
        materialize_tiles(events, layout=layout, event_timestamp="ts", end=T0 + HOUR, threads=1, **where)
    assert "key (k='big')" in str(info.value) and "450 raw edge events" in str(info.value)


def test_tile_rows_is_two_shuffles_and_no_python(spark: SparkSession) -> None:
    layout = TiledLayout.build({"k": "string"}, {"x": "int64", "s": "string"},
                               [Aggregation("x", f, ["1h", "1d", "lifetime"], k=3 if f == "last_k" else None)
                                for f in ("sum", "variance", "last", "last_k")]
                               + [Aggregation("s", "approx_count_distinct", ["1d"])], horizon=HOUR)
    events = spark.createDataFrame([("a", T0, 1, "u")], "k string, ts timestamp, x bigint, s string")
    rows = tile_rows(events, layout=layout, event_timestamp="ts", end=T0 + HOUR)
    plan = str(rows._jdf.queryExecution().executedPlan().toString())
    assert "EvalPython" not in plan and "PythonUDF" not in plan, plan
    assert plan.count("Exchange hashpartitioning") == 2, plan  # by (key, tile set, tile), then by key


def test_tile_items_go_through_the_writer_retries_on_throttling_and_unprocessed_items() -> None:
    from test_online_writer import FAST, StubClient  # tests/ is on sys.path; the writer's fault stub

    from featurespark.online.items import ItemLayout
    from featurespark.online.tiles.build import _TileEncoder
    from featurespark.online.writer import WriterConfig, write_partition

    layout = small_layout()
    rows = [(k, [(91, k)], None, [(96, k)]) for k in range(30)]  # as tile_rows: key, raw (B = 92), lifetime, set 0
    for mode, plan in (("last_writer_wins", ["throttle", 5]), ("monotonic", ["throttle", "ok", "throttle"])):
        client = StubClient(list(plan))
        config = WriterConfig(table_name="t", region="us-east-1", layout=ItemLayout.build({"k": "int64"}, {}),
                              write_mode=mode, threads=1, retry=FAST)  # type: ignore[arg-type]
        counts = write_partition(iter(rows), config, client=client, encode=_TileEncoder(layout, 100))
        assert (counts.items, counts.retries) == (30, 2), mode
        assert evaluate(layout, layout.decode(client.stored["i2:17"]), 100) == {"x_sum_10us": 17 + 17}
