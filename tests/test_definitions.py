from __future__ import annotations

from datetime import timedelta

import pytest
from pyspark.sql import types as T

from featurespark.definitions import (
    DeltaSource,
    Entity,
    FeatureView,
    Field,
    ManagedSource,
    ParquetSource,
    QuerySource,
    Source,
    TableSource,
)
from featurespark.definitions.types import from_spark_type, is_safe_cast, to_spark_type
from featurespark.errors import DefinitionError

driver = Entity("driver", join_keys={"driver_id": "int64"})
customer = Entity("customer", join_keys=[Field("customer_id", "string")])


def view(**overrides: object) -> FeatureView:
    args: dict = dict(name="stats", entities=[driver], schema=[Field("rate", "float64")], ttl=timedelta(hours=1))
    args.update(overrides)
    return FeatureView(**args)


def test_type_system_round_trip() -> None:
    for name in ["int32", "int64", "float32", "float64", "string", "bool", "timestamp", "bytes",
                 "array<int64>", "array<string>"]:
        assert from_spark_type(to_spark_type(name)) == name
    assert to_spark_type("array<float32>") == T.ArrayType(T.FloatType(), True)
    assert from_spark_type(T.ShortType()) == "int32"
    assert from_spark_type(T.DecimalType(10, 2)) is None
    assert Field("x", " Array<Int64> ").dtype == "array<int64>"


def test_safe_casts() -> None:
    assert is_safe_cast("int32", "int64")
    assert is_safe_cast("float32", "float64")
    assert is_safe_cast("array<int32>", "array<int64>")
    assert not is_safe_cast("int64", "int32")
    assert not is_safe_cast("float64", "int64")
    assert not is_safe_cast("string", "array<string>")


def test_unknown_type_lists_the_valid_ones() -> None:
    with pytest.raises(DefinitionError, match=r"Field 'x': unknown type 'decimal'. Use one of: int32, int64"):
        Field("x", "decimal")
    with pytest.raises(DefinitionError, match="unknown type 'array<array<int64>>'"):
        Field("x", "array<array<int64>>")


def test_bad_names() -> None:
    with pytest.raises(DefinitionError, match="Field: invalid name '1x'"):
        Field("1x", "int64")
    with pytest.raises(DefinitionError, match="reserves for 'view__feature'"):
        Field("a__b", "int64")


def test_entity_validation() -> None:
    assert Entity("pair", join_keys={"a": "int64", "b": "string"}).join_key_names == ["a", "b"]
    with pytest.raises(DefinitionError, match="Entity 'e': needs at least one join key"):
        Entity("e", join_keys={})
    with pytest.raises(DefinitionError, match="join key 'k' has type float64, which cannot be matched"):
        Entity("e", join_keys={"k": "float64"})
    with pytest.raises(DefinitionError, match="join key 'k' is listed twice"):
        Entity("e", join_keys=[Field("k", "int64"), Field("k", "int64")])


def test_entity_round_trip() -> None:
    assert Entity.from_dict(customer.to_dict()) == customer


def test_feature_view_properties_and_round_trip() -> None:
    v = view(entities=[driver, customer], join_key_map={"driver_id": "pickup_driver"},
             source=DeltaSource(path="/d", created_timestamp_field="created"))
    assert v.join_keys == ["driver_id", "customer_id"]
    assert v.entity_columns == {"driver_id": "pickup_driver", "customer_id": "customer_id"}
    assert v.timestamp_field == "event_timestamp" and v.created_timestamp_field == "created"
    assert FeatureView.from_dict(v.to_dict(), {"driver": driver, "customer": customer}) == v
    assert view(ttl=None).to_dict()["ttl_seconds"] is None


def test_negative_ttl() -> None:
    with pytest.raises(DefinitionError, match=r"FeatureView 'stats': ttl is negative \(-1 day, 23:00:00\)"):
        view(ttl=timedelta(hours=-1))
    with pytest.raises(DefinitionError, match="ttl must be a datetime.timedelta or None"):
        view(ttl=3600)


def test_column_roles_must_not_clash() -> None:
    with pytest.raises(DefinitionError, match="column 'driver_id' is used both as join key and as feature"):
        view(schema=[Field("driver_id", "int64")])
    with pytest.raises(DefinitionError, match="column 'event_timestamp' is used both as feature and as timestamp"):
        view(schema=[Field("event_timestamp", "timestamp")])


def test_view_needs_entities_schema_and_source() -> None:
    with pytest.raises(DefinitionError, match="entities must be a non-empty list of Entity objects"):
        view(entities=[])
    with pytest.raises(DefinitionError, match="schema must be a non-empty list of Field objects"):
        view(schema=[])
    with pytest.raises(DefinitionError, match="source must be a ManagedSource, DeltaSource"):
        view(source="s3://x")
    with pytest.raises(DefinitionError, match=r"join_key_map names \['rider'\]"):
        view(join_key_map={"rider": "x"})


def test_sources() -> None:
    for src in [ManagedSource(), DeltaSource(path="/p"), ParquetSource(path="/p"), TableSource(table="db.t"),
                QuerySource(query="SELECT 1")]:
        assert Source.from_dict(src.to_dict()) == src
    with pytest.raises(DefinitionError, match="DeltaSource.path must be a non-empty string"):
        DeltaSource(path="")
    with pytest.raises(DefinitionError, match="created_timestamp_field and timestamp_field are both 'ts'"):
        TableSource(table="t", timestamp_field="ts", created_timestamp_field="ts")
    with pytest.raises(DefinitionError, match="Unknown source kind 'kafka'"):
        Source.from_dict({"kind": "kafka"})


def test_online_views_need_string_or_integer_keys() -> None:
    flag = Entity("flag", join_keys={"is_test": "bool"})
    with pytest.raises(DefinitionError, match="online views need string or integer join keys, but 'is_test' is bool"):
        view(entities=[flag])
    assert view(entities=[flag], online=False).join_keys == ["is_test"]


def test_sources_take_keyword_arguments_only() -> None:
    # dataclass(kw_only=True) needs Python 3.10; EMR 7.x runs 3.9, so the sources enforce it themselves.
    with pytest.raises(DefinitionError, match=r"DeltaSource takes keyword arguments only"):
        DeltaSource("s3://bucket/table")  # type: ignore[misc]
    assert DeltaSource(path="/p").timestamp_field == "event_timestamp"


def test_online_views_refuse_feature_names_the_item_layout_reserves() -> None:
    from featurespark.online.items import CREATED_TS_ATTRIBUTE, EVENT_TS_ATTRIBUTE, EXPIRE_AT_ATTRIBUTE, PK_ATTRIBUTE

    driver = Entity("driver", join_keys={"driver_id": "int64"})
    with pytest.raises(DefinitionError, match=r"FeatureView 'v': feature\(s\) 'event_ts', 'pk' use names the online "
                                              r"item layout reserves for itself \(created_ts, event_ts, expire_at, pk\)"):
        FeatureView(name="v", entities=[driver], schema=[Field("pk", "string"), Field("event_ts", "int64")])
    # Offline-only views may use them; the layout's own attribute names are exactly the reserved ones.
    FeatureView(name="v", entities=[driver], schema=[Field("pk", "string")], online=False)
    assert {PK_ATTRIBUTE, EVENT_TS_ATTRIBUTE, CREATED_TS_ATTRIBUTE, EXPIRE_AT_ATTRIBUTE} == {
        "pk", "event_ts", "created_ts", "expire_at"}
