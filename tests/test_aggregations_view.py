"""AggregationView: validation on construction, typed features, registry form."""
from __future__ import annotations

import json
import re
from typing import Any

import pytest

from featurespark.aggregations import Aggregation
from featurespark.definitions import (
    AggregationView,
    DeltaSource,
    Entity,
    Field,
    ManagedSource,
    ParquetSource,
    Source,
)
from featurespark.errors import DefinitionError

driver = Entity("driver", join_keys={"driver_id": "int64"})
city = Entity("city", join_keys={"city_id": "string"})
SOURCE = ParquetSource(path="s3://bucket/trips/", timestamp_field="event_ts", created_timestamp_field="ingested_at")
SCHEMA = [Field("fare", "float64"), Field("rating", "int32"), Field("merchant_id", "int64"), Field("note", "string")]
AGGREGATIONS = [
    Aggregation("fare", "sum", windows=["1h", "7d"]),
    Aggregation("fare", "mean", windows=["lifetime"]),
    Aggregation("rating", "count", windows=["30d"]),
    Aggregation("rating", "sum", windows=["30d"]),
    Aggregation("rating", "last_k", windows=["30d"], k=5),
    Aggregation("merchant_id", "approx_count_distinct", windows=["7d"], name="merchants_7d"),
    Aggregation("note", "last", windows=["1d"]),
    Aggregation("note", "max", windows=["1d"]),
]


def view(**overrides: Any) -> AggregationView:
    args: dict[str, Any] = dict(name="driver_trip_aggs", entities=[driver], source=SOURCE, event_schema=SCHEMA,
                                aggregations=AGGREGATIONS)
    args.update(overrides)
    return AggregationView(**args)


def test_features_and_their_types() -> None:
    v = view()
    assert [(f.name, f.dtype) for f in v.features] == [
        ("fare_sum_1h", "float64"), ("fare_sum_7d", "float64"), ("fare_mean_lifetime", "float64"),
        ("rating_count_30d", "int64"), ("rating_sum_30d", "int64"), ("rating_last_k_30d", "array<int32>"),
        ("merchants_7d", "int64"), ("note_last_1d", "string"), ("note_max_1d", "string"),
    ]
    assert v.feature_names == [f.name for f in v.features]
    assert v.feature("merchants_7d") == Field("merchants_7d", "int64")
    assert (v.timestamp_field, v.created_timestamp_field) == ("event_ts", "ingested_at")
    assert v.join_keys == ["driver_id"] and v.entity_columns == {"driver_id": "driver_id"}
    assert v.source_columns == ["driver_id", "event_ts", "ingested_at", "fare", "rating", "merchant_id", "note"]
    assert v.kind == "aggregation_view"


def test_aggregations_for_a_subset_of_features_keep_the_names() -> None:
    picked = view().aggregations_for(["merchants_7d", "fare_sum_7d", "rating_last_k_30d"])
    assert picked == [
        Aggregation("merchant_id", "approx_count_distinct", ["7d"], name="merchants_7d"),
        Aggregation("fare", "sum", ["7d"], name="fare_sum_7d"),
        Aggregation("rating", "last_k", ["30d"], k=5, name="rating_last_k_30d"),
    ]
    with pytest.raises(DefinitionError, match=re.escape(
        "AggregationView 'driver_trip_aggs' has no feature 'fare_sum_2h'. Its features are: fare_sum_1h, fare_sum_7d"
    )):
        view().aggregations_for(["fare_sum_2h"])


def test_registry_form_round_trips() -> None:
    v = view(join_key_map={"driver_id": "pickup_driver"}, tags={"team": "pricing"}, owner="ml", description="trips")
    data = json.loads(json.dumps(v.to_dict()))  # the registry stores JSON
    assert data["aggregations"][5] == {"column": "merchant_id", "function": "approx_count_distinct",
                                       "windows": ["7d"], "k": None, "name": "merchants_7d"}
    assert AggregationView.from_dict(data, {"driver": driver}) == v
    with pytest.raises(DefinitionError, match=re.escape(
        "AggregationView 'driver_trip_aggs' refers to unknown entities ['driver']."
    )):
        AggregationView.from_dict(data, {"city": city})


@pytest.mark.parametrize("overrides, message", [
    ({"name": "bad name"}, "AggregationView: invalid name 'bad name'. Use letters, digits and '_'"),
    ({"entities": []}, "AggregationView 'driver_trip_aggs': entities must be a non-empty list of Entity objects."),
    ({"source": Source()}, "AggregationView 'driver_trip_aggs': source must be a ManagedSource, DeltaSource, "
                           "ParquetSource, TableSource or QuerySource, found Source("),
    ({"event_schema": []}, "AggregationView 'driver_trip_aggs': event_schema must be a non-empty list of Field objects "
                           "(the event columns the aggregations read, with their types)."),
    ({"aggregations": []}, "AggregationView 'driver_trip_aggs': aggregations must be a non-empty list of Aggregation "
                           "objects, e.g. [Aggregation('fare', 'sum', windows=['1h', '7d'])]."),
    ({"event_schema": [*SCHEMA, Field("fare", "float32")]},
     "AggregationView 'driver_trip_aggs': event_schema lists column 'fare' more than once."),
    ({"event_schema": SCHEMA[1:]}, "AggregationView 'driver_trip_aggs': Aggregation(column='fare', function='sum', "
                                   "windows=('1h', '7d'), k=None, name=None) reads column 'fare', which event_schema "
                                   "does not list; add Field('fare', '<type>') to event_schema."),
    ({"event_schema": [*SCHEMA, Field("tip", "float64")]},
     "AggregationView 'driver_trip_aggs': event_schema lists ['tip'], which no aggregation reads; remove them."),
    ({"join_key_map": {"rider_id": "r"}}, "AggregationView 'driver_trip_aggs': join_key_map names ['rider_id'], which "
                                          "are not join keys of its entities (['driver_id'])."),
    ({"aggregations": [Aggregation("note", "mean", ["1d"])]},
     "AggregationView 'driver_trip_aggs': Aggregation(column='note', function='mean', windows=('1d',), k=None, "
     "name=None): mean needs a numeric column (int32, int64, float32, float64), but it is string."),
    ({"aggregations": [Aggregation("fare", "sum", ["1d"], name="trip fare")]},
     "AggregationView 'driver_trip_aggs': feature: invalid name 'trip fare'."),
    ({"aggregations": [Aggregation("fare", "sum", ["1d"], name="fare__1d")]}, "contains '__', which featurespark "
                                                                              "reserves for 'view__feature' output names"),
    ({"aggregations": [Aggregation("fare", "sum", ["1d"], name="driver_id")]},
     "AggregationView 'driver_trip_aggs': feature 'driver_id' has the name of a join key. Name the feature with "
     "Aggregation(..., name=...) (one window per Aggregation)."),
    ({"aggregations": [Aggregation("fare", "sum", ["1d"], name="event_ts")]}, "feature 'event_ts' has the name of a "
                                                                             "timestamp column."),
    ({"aggregations": [Aggregation("fare", "sum", ["1d"]), Aggregation("fare", "sum", ["24h"], name="fare_sum_1d")]},
     "feature 'fare_sum_1d' has the name of another feature."),
])
def test_invalid_views(overrides: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {}
    if "aggregations" in overrides and overrides["aggregations"]:
        args["event_schema"] = [f for f in SCHEMA if f.name in {a.column for a in overrides["aggregations"]}]
    args.update(overrides)
    with pytest.raises(DefinitionError, match=re.escape(message)):
        view(**args)


def test_sources_of_every_kind_and_composite_keys() -> None:
    v = view(entities=[driver, city], source=DeltaSource(path="s3://b/t", timestamp_field="ts"),
             event_schema=[Field("fare", "float64")], aggregations=[Aggregation("fare", "sum", ["1d"])])
    assert v.join_keys == ["driver_id", "city_id"] and v.created_timestamp_field is None
    managed = view(source=ManagedSource(timestamp_field="event_ts"), event_schema=[Field("fare", "float64")],
                   aggregations=[Aggregation("fare", "count", ["1d"])])
    assert managed.source_columns == ["driver_id", "event_ts", "fare"]


def test_online_fields_normalise_and_round_trip_through_the_registry_form() -> None:
    from datetime import timedelta

    v = view(online=True, horizon="60m", tile_sizes={"7d": timedelta(hours=2)})
    assert v.horizon == timedelta(hours=1) and v.tile_sizes == {"7d": timedelta(hours=2)}
    data = json.loads(json.dumps(v.to_dict()))
    assert (data["online"], data["horizon"], data["tile_sizes"]) == (True, "1h", {"7d": "2h"})
    assert AggregationView.from_dict(data, {"driver": driver}) == v
    assert dict(v.online_layout().tile_sizes)[7 * 86_400_000_000] == 2 * 3_600_000_000
    # Offline views write no online keys, so entries written before they existed load and compare unchanged.
    offline = view()
    assert offline.online is False and offline.horizon is None and offline.tile_sizes == {}
    assert {"online", "horizon", "tile_sizes"}.isdisjoint(offline.to_dict())
    assert AggregationView.from_dict(offline.to_dict(), {"driver": driver}) == offline


@pytest.mark.parametrize("overrides, message", [
    ({"horizon": "1h"}, "horizon and tile_sizes describe the online items; they need online=True"),
    ({"tile_sizes": {"7d": "1h"}}, "horizon and tile_sizes describe the online items; they need online=True"),
    ({"online": True}, "online=True needs horizon=, the longest time between two materializations"),
    ({"online": "yes", "horizon": "1h"}, "online must be True or False, found 'yes'."),
    ({"online": True, "horizon": "lifetime"}, "horizon: 'lifetime' is not a duration"),
    ({"online": True, "horizon": "soon"}, "horizon: invalid window 'soon'."),
    ({"online": True, "horizon": "1h", "tile_sizes": {"2d": "1h"}},
     "its online items cannot be laid out: tile_sizes names window '2d', which no aggregation has"),
    ({"online": True, "horizon": "1h", "tile_sizes": {"7d": "0s"}}, "tile_sizes['7d']: invalid window '0s'."),
    ({"online": True, "horizon": "1h", "tile_sizes": ["7d"]}, "tile_sizes must be a mapping of window label to size"),
])
def test_invalid_online_fields(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(DefinitionError, match=re.escape(f"AggregationView 'driver_trip_aggs': {message}")):
        view(**overrides)
