"""Aggregation views in the registry: plan/apply/history, the snapshot, deletes, name clashes, source checks,
and the `list` / `describe` commands."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from helpers import make_config
from pyspark.sql import SparkSession

from featurespark import FeatureStore
from featurespark.aggregations import Aggregation
from featurespark.cli import EXIT_OK, main
from featurespark.definitions import AggregationView, DeltaSource, Entity, FeatureView, Field, ManagedSource
from featurespark.errors import DefinitionError, SourceSchemaError
from featurespark.registry import Registry, load_snapshot
from featurespark.registry.references import resolve_references

driver = Entity("driver", join_keys={"driver_id": "int64"})


def trip_aggs(path: str, windows: tuple[str, ...] = ("1h", "7d"), name: str = "driver_trip_aggs") -> AggregationView:
    return AggregationView(
        name=name,
        entities=[driver],
        source=DeltaSource(path=path, timestamp_field="event_ts"),
        event_schema=[Field("fare", "float64"), Field("rating", "int32")],
        aggregations=[Aggregation("fare", "sum", windows=list(windows)),
                      Aggregation("rating", "last_k", windows=["30d"], k=3)],
        description="Trips of a driver.",
    )


@pytest.fixture
def registry(spark: SparkSession, tmp_path: Path) -> Registry:
    return Registry(spark, str(tmp_path / "_registry"))


def test_plan_apply_history_snapshot_and_delete(registry: Registry, tmp_path: Path) -> None:
    aggs = trip_aggs(str(tmp_path / "trips"))
    plan = registry.plan([driver, aggs])
    assert plan.describe().splitlines()[:2] == ["+ entity driver (create)",
                                                "+ aggregation_view driver_trip_aggs (create)"]
    registry.apply([driver, aggs])
    assert registry.state().aggregation_views == {"driver_trip_aggs": aggs}
    assert registry.state().views == {}
    assert registry.list_aggregation_views() == [aggs]
    # The snapshot holds the view, read without Spark.
    assert load_snapshot(registry.path).aggregation_views == {"driver_trip_aggs": aggs}
    assert not registry.plan([driver, aggs]).has_changes

    # A changed window of the first aggregation shows in the plan (aggregations have no names to match by).
    changed = trip_aggs(str(tmp_path / "trips"), windows=("2h", "7d"))
    text = registry.plan([driver, changed]).describe()
    assert "~ aggregation_view driver_trip_aggs (update)" in text
    assert '"windows": ["1h", "7d"]' in text and '"windows": ["2h", "7d"]' in text
    registry.apply([driver, changed])
    assert load_snapshot(registry.path).aggregation_views["driver_trip_aggs"].feature_names == [
        "fare_sum_2h", "fare_sum_7d", "rating_last_k_30d"]

    # Without delete=True a view missing from the definitions is kept; with it, deleted.
    assert not registry.plan([driver]).has_changes
    deleted = registry.apply([driver], delete=True)
    assert [(c.kind, c.name, c.op) for c in deleted.changes if c.op != "unchanged"] == [
        ("aggregation_view", "driver_trip_aggs", "delete")]
    assert registry.state().aggregation_views == {}
    assert load_snapshot(registry.path).aggregation_views == {}
    assert [(r.kind, r.version, r.op) for r in registry.history("driver_trip_aggs")] == [
        ("aggregation_view", 1, "create"), ("aggregation_view", 2, "update"), ("aggregation_view", 3, "delete")]


def test_a_feature_view_and_an_aggregation_view_cannot_share_a_name(registry: Registry, tmp_path: Path) -> None:
    stats = FeatureView(name="driver_trip_aggs", entities=[driver], schema=[Field("x", "float64")])
    aggs = trip_aggs(str(tmp_path / "trips"))
    with pytest.raises(DefinitionError, match=r"^'driver_trip_aggs' names both a feature view \(applied\) and an "
                                              r"aggregation view \(applied\)\."):
        registry.plan([driver, stats, aggs])
    registry.apply([driver, stats])
    with pytest.raises(DefinitionError, match=r"names both a feature view \(registered\) and an aggregation view "
                                              r"\(applied\)\. .* delete the registered one"):
        registry.apply([driver, aggs])
    # Replacing the feature view by the aggregation view in one delete=True apply is fine.
    registry.apply([driver, aggs], delete=True)
    assert sorted(registry.state().all_views) == ["driver_trip_aggs"]
    assert isinstance(registry.state().all_views["driver_trip_aggs"], AggregationView)


def test_an_aggregation_view_needs_its_entities(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="AggregationView 'driver_trip_aggs' uses entity 'driver', which is "
                                              "neither in the applied definitions nor registered"):
        registry.plan([trip_aggs(str(tmp_path / "trips"))])


def test_references_name_aggregation_and_feature_views(tmp_path: Path) -> None:
    aggs = trip_aggs(str(tmp_path / "trips"))
    stats = FeatureView(name="stats", entities=[driver], schema=[Field("conv_rate", "float64")])
    selections = resolve_references(["driver_trip_aggs:fare_sum_7d", "stats:conv_rate", "driver_trip_aggs"],
                                    {"stats": stats, "driver_trip_aggs": aggs}, full_feature_names=True)
    assert [(s.view.name, s.features, s.output_names) for s in selections] == [
        ("driver_trip_aggs", ("fare_sum_7d", "fare_sum_1h", "rating_last_k_30d"),
         ("driver_trip_aggs__fare_sum_7d", "driver_trip_aggs__fare_sum_1h", "driver_trip_aggs__rating_last_k_30d")),
        ("stats", ("conv_rate",), ("stats__conv_rate",)),
    ]


def _write_trips(spark: SparkSession, path: Path, fare_type: str = "double") -> None:
    spark.createDataFrame([(1, datetime(2026, 1, 1, tzinfo=timezone.utc), "12.5", 4)],
                          "driver_id long, event_ts timestamp, fare string, rating int") \
        .selectExpr("driver_id", "event_ts", f"CAST(fare AS {fare_type}) AS fare", "rating") \
        .write.format("delta").save(str(path))


def test_store_apply_checks_the_event_source(spark: SparkSession, tmp_path: Path) -> None:
    store = FeatureStore(spark, make_config(tmp_path))
    _write_trips(spark, tmp_path / "bad_trips", fare_type="string")
    bad = trip_aggs(str(tmp_path / "bad_trips"))
    with pytest.raises(SourceSchemaError, match=r"AggregationView 'driver_trip_aggs' does not match its source "
                                                r"\(delta at .*bad_trips\):\n  - event column 'fare' has type string "
                                                r"but float64 is declared"):
        store.plan([driver, bad])
    missing = trip_aggs(str(tmp_path / "no_such_table"))
    with pytest.raises(SourceSchemaError, match="AggregationView 'driver_trip_aggs': cannot read its source"):
        store.apply([driver, missing])
    managed = AggregationView("managed_aggs", [driver], ManagedSource(), [Field("fare", "float64")],
                              [Aggregation("fare", "sum", windows=["1d"])])
    with pytest.raises(DefinitionError, match=r"AggregationView 'managed_aggs' has a ManagedSource, but an "
                                              r"aggregation view owns no table"):
        store.plan([driver, managed])
    assert store.registry.records() == []

    _write_trips(spark, tmp_path / "trips")
    good = trip_aggs(str(tmp_path / "trips"))
    assert store.apply([driver, good]).has_changes
    assert store.list_aggregation_views() == [good]
    description = store.describe("driver_trip_aggs")
    assert description["kind"] == "aggregation_view" and description["version"] == 1
    assert description["features"][0] == {"name": "fare_sum_1h", "dtype": "float64", "description": ""}


def test_cli_list_and_describe_show_aggregation_views(spark: SparkSession, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    config = make_config(tmp_path)
    _write_trips(spark, tmp_path / "trips")
    FeatureStore(spark, config).apply([driver, trip_aggs(str(tmp_path / "trips"))])
    config_file = tmp_path / "featurespark.yaml"
    config_file.write_text(json.dumps({"project": {"name": config.project.name},
                                       "offline_store": {"root": config.offline_store.root,
                                                         "database": config.offline_store.database}}))
    capsys.readouterr()
    assert main(["list", "--config", str(config_file)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "AGGREGATION VIEWS" in out
    line = next(x for x in out.splitlines() if "driver_trip_aggs" in x)
    assert "features: 3" in line and "windows: 1h, 7d, 30d" in line and "source: delta at" in line
    assert main(["list", "--json", "--config", str(config_file)]) == EXIT_OK
    assert [v["name"] for v in json.loads(capsys.readouterr().out)["aggregation_views"]] == ["driver_trip_aggs"]
    assert main(["describe", "driver_trip_aggs", "--config", str(config_file)]) == EXIT_OK
    described = json.loads(capsys.readouterr().out)
    assert described["kind"] == "aggregation_view"
    assert [f["name"] for f in described["features"]] == ["fare_sum_1h", "fare_sum_7d", "rating_last_k_30d"]


def test_online_fields_show_in_the_plan_and_survive_the_snapshot(registry: Registry, tmp_path: Path) -> None:
    from dataclasses import replace

    aggs = trip_aggs(str(tmp_path / "trips"))
    registry.apply([driver, aggs])
    online = replace(aggs, online=True, horizon="1h", tile_sizes={"7d": "2h"})
    text = registry.plan([driver, online]).describe()
    assert "~ aggregation_view driver_trip_aggs (update)" in text
    assert text.splitlines()[1:4] == ["    online: null -> true", '    horizon: null -> "1h"',
                                      '    tile_sizes: null -> {"7d": "2h"}']
    registry.apply([driver, online])
    assert load_snapshot(registry.path).aggregation_views["driver_trip_aggs"] == online
    assert not registry.plan([driver, online]).has_changes
    longer = replace(online, horizon="2h")
    assert '    horizon: "1h" -> "2h"' in registry.plan([driver, longer]).describe().splitlines()
