"""Item layout: encoding and decoding of keys, values and items, in memory and through a local DynamoDB endpoint."""
from __future__ import annotations

import math
import struct
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest
from dynamodb_local import DynamoDBLocal, unique_table
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import types as T

from featurespark.errors import ItemEncodingError, ItemTooLargeError
from featurespark.online.feature_types import feature_type_of, parse_feature_type
from featurespark.online.items import (
    MAX_ITEM_BYTES,
    ItemLayout,
    decode_item,
    decode_partition_key,
    decode_value,
    encode_item,
    encode_partition_key,
    encode_value,
    item_size,
)
from featurespark.online.tables import create_table

UTC = timezone.utc
F32 = st.floats(width=32)
SCALARS: dict[str, st.SearchStrategy[Any]] = {
    "int32": st.integers(-(2**31), 2**31 - 1),
    "int64": st.integers(-(2**63), 2**63 - 1),
    "float32": F32,
    "float64": st.floats(),
    "string": st.text(max_size=20),
    "bool": st.booleans(),
    "timestamp": st.datetimes(timezones=st.just(UTC)),
    "bytes": st.binary(max_size=20),
}


def _values(type_name: str) -> st.SearchStrategy[Any]:
    if type_name.startswith("array<"):
        return st.lists(st.none() | _values(type_name[len("array<") : -1]), max_size=4)
    return SCALARS[type_name]


TYPE_NAMES = [*SCALARS, *(f"array<{t}>" for t in SCALARS), "array<array<float64>>", "array<array<string>>"]
typed_values = st.sampled_from(TYPE_NAMES).flatmap(lambda t: st.tuples(st.just(t), st.none() | _values(t)))


def assert_same(actual: Any, expected: Any) -> None:
    """Equality that also holds for NaN and tells -0.0 from 0.0 (bit-exact for floats)."""
    if isinstance(expected, float):
        assert isinstance(actual, float), (actual, expected)
        if math.isnan(expected):
            assert math.isnan(actual)
        else:
            assert struct.pack("<d", actual) == struct.pack("<d", expected), (actual, expected)
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), (actual, expected)
        for a, e in zip(actual, expected):
            assert_same(a, e)
    else:
        assert type(actual) is type(expected) and actual == expected, (actual, expected)


# ------------------------------------------------------------------------------- property tests


@given(typed_values)
def test_value_round_trip_every_type(case: tuple[str, Any]) -> None:
    type_name, value = case
    assert_same(decode_value(encode_value(value, type_name), type_name), value)


@given(st.floats())
def test_float64_encoding_is_exact_and_valid_for_dynamodb(value: float) -> None:
    encoded = encode_value(value, "float64")
    if "N" in encoded:  # only finite, non-negative-zero values inside DynamoDB's number range
        assert math.isfinite(value) and float(encoded["N"]) == value
        assert value == 0.0 or 1e-130 <= abs(value) < 1e126
    else:
        assert list(encoded) == ["S"]
    assert_same(decode_value(encoded, "float64"), value)


@given(st.lists(st.one_of(st.text(max_size=6), st.integers(-(2**63), 2**63 - 1)), min_size=1, max_size=4))
def test_partition_key_is_injective(values: list[Any]) -> None:
    types = ["string" if isinstance(v, str) else "int64" for v in values]
    pk = encode_partition_key(values, types)
    # decode is a function of pk, so decode(encode(v)) == v for all v means encode never collides.
    assert decode_partition_key(pk) == tuple(values)


@given(st.lists(st.text(alphabet="12:si", max_size=4), min_size=2, max_size=3),
       st.lists(st.text(alphabet="12:si", max_size=4), min_size=2, max_size=3))
def test_partition_keys_differ_when_values_differ(a: list[str], b: list[str]) -> None:
    pk_a = encode_partition_key(a, ["string"] * len(a))
    pk_b = encode_partition_key(b, ["string"] * len(b))
    assert (pk_a == pk_b) == (a == b)


ALL_TYPES = {f"f_{i}": t for i, t in enumerate(TYPE_NAMES)}


@given(st.fixed_dictionaries({name: st.none() | _values(t) for name, t in ALL_TYPES.items()}),
       st.integers(0, 2**50), st.none() | st.integers(0, 2**50))
def test_item_round_trip(values: dict[str, Any], event_us: int, created_us: int | None) -> None:
    layout = ItemLayout.build({"user": "string", "shop": "int64"}, ALL_TYPES, ttl=timedelta(hours=1))
    item = layout.encode(["u:1", -7], [values[n] for n in ALL_TYPES], event_us, created_us)
    decoded = layout.decode(item)
    assert decoded.key == ("u:1", -7)
    assert decoded.event_ts == event_us and decoded.created_ts == (created_us or 0)
    assert decoded.expire_at == math.ceil((event_us + 3_600_000_000) / 1e6)
    for name in ALL_TYPES:
        assert_same(decoded.values[name], values[name])


# ----------------------------------------------------------------------------- fixed encodings


def test_partition_key_composite_keys_do_not_collide() -> None:
    assert encode_partition_key(["1", "12"], ["string", "string"]) == "s1:1s2:12"
    assert encode_partition_key(["11", "2"], ["string", "string"]) == "s2:11s1:2"
    assert encode_partition_key(["1"], ["string"]) != encode_partition_key([1], ["int64"])
    assert encode_partition_key(["é", 42], ["string", "int32"]) == "s2:éi2:42"  # UTF-8 byte length


@pytest.mark.parametrize(
    ("value", "type_name", "expected"),
    [
        (0.1, "float64", {"N": "0.1"}),
        (1e300, "float64", {"S": "1e+300"}),
        (5e-324, "float64", {"S": "5e-324"}),
        (-0.0, "float64", {"S": "-0.0"}),
        (0.0, "float64", {"N": "0.0"}),
        (float("inf"), "float64", {"S": "Infinity"}),
        (float("-inf"), "float32", {"S": "-Infinity"}),
        (float("nan"), "float64", {"S": "NaN"}),
        (struct.unpack("<f", struct.pack("<f", 0.1))[0], "float32", {"N": "0.1"}),
        (3, "float64", {"N": "3.0"}),
        (2**63 - 1, "int64", {"N": "9223372036854775807"}),
        (datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), "timestamp", {"N": "1704164645678901"}),
        (None, "array<int32>", {"NULL": True}),
        ([1, None], "array<int32>", {"L": [{"N": "1"}, {"NULL": True}]}),
        (b"\x00\xff", "bytes", {"B": b"\x00\xff"}),
        (True, "bool", {"BOOL": True}),
    ],
)
def test_documented_encodings(value: Any, type_name: str, expected: dict[str, Any]) -> None:
    assert encode_value(value, type_name) == expected


def test_naive_datetime_is_taken_as_utc() -> None:
    assert encode_value(datetime(1970, 1, 1, 0, 0, 1), "timestamp") == {"N": "1000000"}


def test_feature_type_of_spark_types() -> None:
    assert feature_type_of(T.IntegerType()) == "int32"
    assert feature_type_of(T.ShortType()) == "int32"
    assert feature_type_of(T.LongType()) == "int64"
    assert feature_type_of(T.FloatType()) == "float32"
    assert feature_type_of(T.TimestampType()) == "timestamp"
    assert feature_type_of(T.ArrayType(T.ArrayType(T.BinaryType()))) == "array<array<bytes>>"
    with pytest.raises(ItemEncodingError, match=r"Column 'm' has Spark type map<string,int>, which the online"):
        feature_type_of(T.MapType(T.StringType(), T.IntegerType()), column="m")
    with pytest.raises(ItemEncodingError, match=r"Column 'd' has Spark type timestamp_ntz"):
        feature_type_of(T.TimestampNTZType(), column="d")


def test_item_size_counts_names_and_values() -> None:
    item = {"pk": {"S": "s1:a"}, "x": {"N": "12345"}, "l": {"L": [{"BOOL": True}, {"NULL": True}]}}
    # pk: 2 + 4; x: 1 + (5 digits -> 3 + 1); l: 1 + 3 + (1 + 1) * 2
    assert item_size(item) == 6 + 5 + 8


# ------------------------------------------------------------------------------------- errors


def test_mistyped_value_names_feature_and_type() -> None:
    with pytest.raises(ItemEncodingError, match=r"Feature 'clicks' has type int64, but got str '12'"):
        encode_value("12", "int64", name="clicks")
    with pytest.raises(ItemEncodingError, match=r"Feature 'flag' has type bool, but got int 1"):
        encode_value(1, "bool", name="flag")
    with pytest.raises(ItemEncodingError, match=r"Feature 'v' has type array<float64>, but got str 'abc'"):
        encode_value("abc", "array<float64>", name="v")


def test_integer_out_of_range() -> None:
    with pytest.raises(ItemEncodingError, match=r"Feature 'n': 2147483648 is outside the int32 range"):
        encode_value(2**31, "int32", name="n")


def test_unknown_type_name() -> None:
    with pytest.raises(ItemEncodingError, match=r"Unknown feature type 'decimal\(10,2\)'. Use one of int32"):
        parse_feature_type("decimal(10,2)")


def test_reserved_feature_name_and_bad_key_type() -> None:
    with pytest.raises(ItemEncodingError, match=r"Feature name\(s\) \['event_ts'\] clash with attributes"):
        ItemLayout.build({"user": "string"}, {"event_ts": "int64"})
    with pytest.raises(ItemEncodingError, match=r"Join key 'score' has type 'float64'; online join keys must be"):
        ItemLayout.build({"score": "float64"}, {"x": "int64"})


def test_key_value_errors() -> None:
    with pytest.raises(ItemEncodingError, match=r"Join key 1 must be an int64 integer, got str '7'"):
        encode_partition_key(["a", "7"], ["string", "int64"])
    with pytest.raises(ItemEncodingError, match=r"over DynamoDB's 2048-byte limit"):
        encode_partition_key(["x" * 3000], ["string"])


def test_item_over_400_kb_names_key_and_size() -> None:
    layout = ItemLayout.build({"user": "string", "shop": "int32"}, {"blob": "string", "n": "int32"})
    with pytest.raises(ItemTooLargeError) as info:
        layout.encode(["u1", 7], ["x" * MAX_ITEM_BYTES, 1], 0)
    message = str(info.value)
    assert "key (user='u1', shop=7)" in message
    # pk "s2:u1i1:7" 2+9, event_ts 8+1, created_ts 10+1, blob 4+409600, n 1+2
    assert f"is {MAX_ITEM_BYTES + 38} bytes, over DynamoDB's 400 KB item limit (409600 bytes)" in message
    assert f"blob ({MAX_ITEM_BYTES} bytes)" in message


def test_decode_rejects_wrong_attribute_type() -> None:
    with pytest.raises(ItemEncodingError, match=r"Attribute 'x' holds \{'S': 'a'\}, which is not a valid int64"):
        decode_value({"S": "a"}, "int64", name="x")
    with pytest.raises(ItemEncodingError, match=r"Malformed partition key 's5:ab'"):
        decode_partition_key("s5:ab")


# ------------------------------------------------------------------- through a real DynamoDB


@pytest.fixture(scope="module")
def round_trip_table(dynamodb_local: DynamoDBLocal) -> Iterator[tuple[Any, str]]:
    client = dynamodb_local.client()
    name = unique_table("fs_items")
    create_table(client, name)
    yield client, name
    client.delete_table(TableName=name)


REAL_TYPES = {
    "f64": "float64",
    "f32": "float32",
    "i64": "int64",
    "ts": "timestamp",
    "s": "string",
    "b": "bytes",
    "flag": "bool",
    "arr": "array<float64>",
    "nested": "array<array<int32>>",
}
tricky_doubles = st.sampled_from(
    [float("nan"), float("inf"), float("-inf"), -0.0, 0.0, 5e-324, 1e-130, 9.999999999999999e125, 1e126,
     1.7976931348623157e308, 0.1, 1 / 3, 2.0**53 + 1]
) | st.floats()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.fixed_dictionaries({
    "f64": tricky_doubles, "f32": F32, "i64": SCALARS["int64"], "ts": SCALARS["timestamp"],
    "s": st.text(max_size=30), "b": st.binary(max_size=30), "flag": st.none() | st.booleans(),
    "arr": st.lists(st.none() | tricky_doubles, max_size=5),
    "nested": st.lists(st.none() | st.lists(st.none() | SCALARS["int32"], max_size=3), max_size=3),
}))
def test_round_trip_through_dynamodb_local(round_trip_table: tuple[Any, str], values: dict[str, Any]) -> None:
    client, table = round_trip_table
    keys = {"id": "string"}
    item = encode_item(keys=keys, key_values=["k"], feature_types=REAL_TYPES, values=values,
                       event_ts=1, created_ts=2)
    client.put_item(TableName=table, Item=item)
    stored = client.get_item(TableName=table, Key={"pk": item["pk"]}, ConsistentRead=True)["Item"]
    decoded = decode_item(stored, keys=keys, feature_types=REAL_TYPES)
    for name in REAL_TYPES:
        assert_same(decoded.values[name], values[name])
