"""Aggregation views in training sets: mixed with feature views in get_historical_features (checked against
the aggregation and point-in-time oracles), pruning, as_known_at_query_time, manifest and pinned rebuild."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional, Sequence

import pandas as pd
import pytest
from agg_oracle import OracleAgg, assert_same_rows, oracle_window_aggregates
from chispa import assert_df_equality
from helpers import make_config
from pit_oracle import OracleView, oracle_point_in_time, spark_rows
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from test_jobs import load_job
from test_training_set import write_config

from featurespark import FeatureStore
from featurespark.aggregations import Aggregation
from featurespark.definitions import AggregationView, DeltaSource, Entity, FeatureView, Field, ManagedSource
from featurespark.errors import InvalidArgumentError

UTC = timezone.utc
T0 = datetime(2026, 1, 10, 12, tzinfo=UTC)
driver = Entity("driver", join_keys={"driver_id": "int64"})


def m(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


EVENT_SCHEMA = "driver_id long, event_ts timestamp, created timestamp, fare double, rating int"
EVENTS = [
    (1, m(-2 * 24 * 60), m(-2 * 24 * 60), 50.0, 5),  # only in lifetime windows
    (1, m(-24 * 60), m(-24 * 60), 7.0, 3),           # exactly at t - 1d for rows at T0: in
    (1, m(-60), m(-60), 10.0, 4),                    # exactly at t - 1h for rows at T0: in
    (1, m(-30), m(-30), None, 2),                    # null fare: ignored by the fare aggregates
    (1, m(-20), m(120), 30.0, 1),                    # late: written two hours after it happened
    (1, m(-10), m(-10), 20.0, 5),
    (1, m(0), m(0), 40.0, 2),                        # exactly at T0: out for rows at T0
    (1, m(60), m(60), 99.0, 1),                      # exactly at the row at T0 + 1h: out
    (2, m(-180), m(-180), 5.0, 4),
    (2, m(-5), m(-5), 6.0, None),
    (None, m(-5), m(-5), 1000.0, 5),                 # null key: in no window
]
ENTITY_SCHEMA = "order_id long, driver_id long, event_timestamp timestamp"
ORDERS = [(1, 1, m(0)), (1, 1, m(0)), (2, 1, m(60)), (3, 2, m(0)), (4, 3, m(0)), (5, None, m(30)), (6, 1, m(150))]
STATS_SCHEMA = "driver_id long, event_timestamp timestamp, created timestamp, conv_rate double"
STATS = [(1, m(-60), m(-60), 0.1), (1, m(30), m(30), 0.2), (2, m(-180), m(-180), 0.9)]

AGGREGATIONS = [
    Aggregation("fare", "sum", windows=["1h", "1d"]),
    Aggregation("fare", "count", windows=["lifetime"]),
    Aggregation("fare", "max", windows=["2h"]),
    Aggregation("rating", "last_k", windows=["1d"], k=2),
    Aggregation("rating", "mean", windows=["1d"]),
]
ORACLE = {
    "fare_sum_1h": ("fare", "sum", timedelta(hours=1), None),
    "fare_sum_1d": ("fare", "sum", timedelta(days=1), None),
    "fare_count_lifetime": ("fare", "count", None, None),
    "fare_max_2h": ("fare", "max", timedelta(hours=2), None),
    "rating_last_k_1d": ("rating", "last_k", timedelta(days=1), 2),
    "rating_mean_1d": ("rating", "mean", timedelta(days=1), None),
}


def trip_aggs(path: Path) -> AggregationView:
    return AggregationView(
        name="driver_trip_aggs", entities=[driver],
        source=DeltaSource(path=str(path), timestamp_field="event_ts", created_timestamp_field="created"),
        event_schema=[Field("fare", "float64"), Field("rating", "int32")], aggregations=AGGREGATIONS,
    )


def make_store(spark: SparkSession, folder: Path) -> FeatureStore:
    """The trip events as a Delta table in ``folder/trips``, and a store with driver_stats written."""
    spark.createDataFrame(EVENTS, EVENT_SCHEMA).write.format("delta").save(str(folder / "trips"))
    s = FeatureStore(spark, make_config(folder))
    stats = FeatureView(name="driver_stats", entities=[driver], schema=[Field("conv_rate", "float64")],
                        source=ManagedSource(created_timestamp_field="created"), ttl=timedelta(hours=2), online=False)
    s.apply([driver, stats, trip_aggs(folder / "trips")])
    s.write_features("driver_stats", spark.createDataFrame(STATS, STATS_SCHEMA))
    return s


def trips(store: FeatureStore) -> Path:
    """The store's trip events table (make_config puts the offline root in the same folder)."""
    return Path(store.config.offline_store.root).parent / "trips"


@pytest.fixture(scope="module")
def store(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> FeatureStore:
    """One store for the tests that leave its data alone (building one is a Delta write, an apply and a
    feature write, about as long as such a test); a test that changes the data makes its own."""
    return make_store(spark, tmp_path_factory.mktemp("training_aggregations"))


def frame(rows: Sequence[tuple[Any, ...]], schema: str) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=[c.split()[0] for c in schema.split(", ")], dtype=object)


def expected_rows(features: Sequence[str], outputs: Sequence[str], *, stats: bool, as_known: bool = False,
                  events: Sequence[tuple[Any, ...]] = EVENTS) -> list[dict[str, Any]]:
    """The aggregation oracle for the aggregation features, the point-in-time oracle for conv_rate."""
    entity = frame(ORDERS, ENTITY_SCHEMA)
    aggs = [OracleAgg(out, *ORACLE[f][:3], k=ORACLE[f][3]) for f, out in zip(features, outputs) if f in ORACLE]
    rows = oracle_window_aggregates(entity, frame(events, EVENT_SCHEMA), keys={"driver_id": "driver_id"},
                                    entity_timestamp="event_timestamp", event_timestamp="event_ts",
                                    aggregations=aggs, created_timestamp="created", as_known=as_known)
    if stats:
        view = OracleView(rows=frame(STATS, STATS_SCHEMA), keys={"driver_id": "driver_id"},
                          feature_timestamp="event_timestamp", created_timestamp="created", features=["conv_rate"],
                          outputs=[outputs[list(features).index("conv_rate")]], ttl=timedelta(hours=2))
        for row, pit in zip(rows, oracle_point_in_time(entity, [view], "event_timestamp")):
            row.update(pit)
    return rows


ENTITY_COLUMNS = ["order_id", "driver_id", "event_timestamp"]


def test_mixed_views_equal_the_oracles_in_request_order(spark: SparkSession, store: FeatureStore) -> None:
    refs = ["driver_trip_aggs:fare_sum_1h", "driver_stats:conv_rate", "driver_trip_aggs:rating_last_k_1d",
            "driver_trip_aggs:fare_count_lifetime", "driver_trip_aggs:fare_max_2h", "driver_trip_aggs:rating_mean_1d",
            "driver_trip_aggs:fare_sum_1d"]
    out = store.get_historical_features(spark.createDataFrame(ORDERS, ENTITY_SCHEMA), refs)
    features = ["fare_sum_1h", "rating_last_k_1d", "fare_count_lifetime", "fare_max_2h", "rating_mean_1d",
                "fare_sum_1d", "conv_rate"]  # grouped by view, in order of first mention
    assert out.columns == [*ENTITY_COLUMNS, *features]
    expected = expected_rows(features, features, stats=True)
    assert_same_rows(spark_rows(out), expected, ENTITY_COLUMNS, features)
    # The boundary cases the data is built around, so the oracle is not the only judge.
    first = next(r for r in expected if r["order_id"] == 1)
    assert (first["fare_sum_1h"], first["fare_sum_1d"], first["fare_count_lifetime"]) == (60.0, 67.0, 5)
    assert next(r for r in expected if r["order_id"] == 4)["fare_count_lifetime"] == 0


def test_full_feature_names_and_a_bare_view_reference(spark: SparkSession, store: FeatureStore) -> None:
    out = store.get_historical_features(spark.createDataFrame(ORDERS, ENTITY_SCHEMA),
                                        ["driver_stats", "driver_trip_aggs"], full_feature_names=True)
    features = ["conv_rate", *ORACLE]
    outputs = ["driver_stats__conv_rate", *[f"driver_trip_aggs__{f}" for f in ORACLE]]
    assert out.columns == [*ENTITY_COLUMNS, *outputs]
    assert_same_rows(spark_rows(out), expected_rows(features, outputs, stats=True), ENTITY_COLUMNS, outputs)


def test_aggregation_views_alone_and_as_known_at_query_time(spark: SparkSession, store: FeatureStore) -> None:
    orders = spark.createDataFrame(ORDERS, ENTITY_SCHEMA)
    features = ["fare_sum_1h", "fare_count_lifetime", "rating_mean_1d"]
    refs = [f"driver_trip_aggs:{f}" for f in features]
    plain = spark_rows(store.get_historical_features(orders, refs))
    known = spark_rows(store.get_historical_features(orders, refs, as_known_at_query_time=True))
    assert_same_rows(plain, expected_rows(features, features, stats=False), ENTITY_COLUMNS, features)
    assert_same_rows(known, expected_rows(features, features, stats=False, as_known=True), ENTITY_COLUMNS, features)
    # The late event (fare 30 at T0 - 20m, written at T0 + 2h) counts by event time, unless as known.
    assert {r["fare_sum_1h"] for r in plain if r["order_id"] == 1} == {60.0}
    assert {r["fare_sum_1h"] for r in known if r["order_id"] == 1} == {30.0}


def test_events_are_pruned_to_the_longest_requested_window(spark: SparkSession, store: FeatureStore) -> None:
    orders = spark.createDataFrame(ORDERS, ENTITY_SCHEMA)

    def window(refs: list[str]) -> tuple[Optional[str], Optional[str]]:
        reads = store.retrieve_training_set(orders, refs).sources
        read = next(r for r in reads if r.view == "driver_trip_aggs")
        assert (read.view_kind, read.kind, read.location, read.version) == (
            "aggregation_view", "delta", str(trips(store)), 0)
        return read.window

    latest = m(150).isoformat()
    assert window(["driver_trip_aggs:fare_sum_1h"]) == (m(-60).isoformat(), latest)
    assert window(["driver_trip_aggs:fare_sum_1h", "driver_trip_aggs:fare_max_2h"]) == (m(-120).isoformat(), latest)
    assert window(["driver_trip_aggs:fare_count_lifetime", "driver_stats:conv_rate"]) == (None, latest)


def test_as_known_at_query_time_needs_a_created_timestamp(spark: SparkSession, store: FeatureStore) -> None:
    # The view applied here is one more in the shared registry; no other test lists them all.
    source = DeltaSource(path=str(trips(store)), timestamp_field="event_ts")
    no_created = AggregationView("plain_aggs", [driver], source, [Field("fare", "float64")],
                                 [Aggregation("fare", "sum", windows=["1h"])])
    store.apply([driver, no_created])
    with pytest.raises(InvalidArgumentError, match=r"as_known_at_query_time needs the created time of each event, "
                                                   r"but the source of aggregation view\(s\) plain_aggs has no "
                                                   r"created_timestamp_field"):
        store.get_historical_features(spark.createDataFrame(ORDERS, ENTITY_SCHEMA), ["plain_aggs"],
                                      as_known_at_query_time=True)


def read(spark: SparkSession, path: Path) -> DataFrame:
    return spark.read.format("delta").load(str(path))


def test_build_training_set_manifest_and_pinned_rebuild(spark: SparkSession, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_store(spark, tmp_path)  # its own: a new event is appended to the trip events below
    monkeypatch.setattr(SparkSession, "stop", lambda self: None)  # keep the shared test session alive
    spark.createDataFrame(ORDERS, ENTITY_SCHEMA).write.parquet(str(tmp_path / "orders"))
    job = load_job("build_training_set")
    refs = ["driver_trip_aggs:fare_sum_1h", "driver_stats:conv_rate", "driver_trip_aggs:fare_count_lifetime"]
    base = ["--config", str(write_config(store.config, tmp_path)), "--entities", str(tmp_path / "orders"),
            "--features", *refs, "--format", "delta"]
    assert job.main(base + ["--output", str(tmp_path / "v1")]) == 0
    manifest = json.loads((tmp_path / "v1" / "_featurespark_manifest.json").read_text())
    assert manifest["features"] == [refs[0], refs[2], refs[1]]  # output order: grouped by view
    assert manifest["output"]["columns"] == [*ENTITY_COLUMNS, "fare_sum_1h", "fare_count_lifetime", "conv_rate"]
    sources = {s["view"]: s for s in manifest["sources"]}
    assert sources["driver_trip_aggs"] == {
        "view": "driver_trip_aggs", "view_kind": "aggregation_view", "kind": "delta",
        "location": str(tmp_path / "trips"), "version": 0,
        "feature_window": {"lower": None, "upper": m(150).isoformat()}}  # lifetime: no lower bound
    assert sources["driver_stats"]["view_kind"] == "feature_view" and sources["driver_stats"]["version"] == 1
    expected = expected_rows(["fare_sum_1h", "fare_count_lifetime"], ["fare_sum_1h", "fare_count_lifetime"],
                             stats=False)
    filled = {"fare_sum_1h": sum(r["fare_sum_1h"] is not None for r in expected),
              "fare_count_lifetime": sum(r["fare_count_lifetime"] > 0 for r in expected)}
    assert filled == {"fare_sum_1h": 4, "fare_count_lifetime": 5}
    assert manifest["views"]["driver_trip_aggs"] == {
        "kind": "aggregation_view", "filled_rows": filled,
        "fill_rate": {k: round(v / 7, 6) for k, v in filled.items()}}
    assert manifest["views"]["driver_stats"]["matched_rows"] == 4
    v1 = read(spark, tmp_path / "v1")

    # A new event arrives in the source; the pinned rebuild ignores it, the plain one sees it.
    spark.createDataFrame([(1, m(-15), m(-15), 100.0, 5)], EVENT_SCHEMA).write.format("delta").mode("append") \
        .save(str(tmp_path / "trips"))
    assert job.main(base + ["--output", str(tmp_path / "v2"), "--pin-versions", str(tmp_path / "v1")]) == 0
    assert_df_equality(read(spark, tmp_path / "v2"), v1, ignore_row_order=True)
    assert job.main(base + ["--output", str(tmp_path / "v3")]) == 0
    v3 = read(spark, tmp_path / "v3")
    assert {r["fare_sum_1h"] for r in v3.where(F.col("order_id") == 1).collect()} == {160.0}
    rebuilt = json.loads((tmp_path / "v3" / "_featurespark_manifest.json").read_text())
    assert {s["view"]: s["version"] for s in rebuilt["sources"]}["driver_trip_aggs"] == 1
