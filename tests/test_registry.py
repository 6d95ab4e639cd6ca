from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from helpers import both_offline_formats, make_config, use_offline_catalog
from pyspark.sql import SparkSession

from featurespark.definitions import Entity, FeatureView, Field
from featurespark.errors import DefinitionError, NotRegisteredError, RegistryError
from featurespark.registry import Registry, spec_diff

driver = Entity("driver", join_keys={"driver_id": "int64"})


def stats(dtype: str = "float64", name: str = "stats") -> FeatureView:
    return FeatureView(name=name, entities=[driver], schema=[Field("rate", dtype), Field("trips", "int64")],
                       ttl=timedelta(days=1))


@pytest.fixture
def registry(spark: SparkSession, tmp_path: Path, offline_format: str) -> Registry:
    if offline_format == "delta":
        return Registry(spark, str(tmp_path / "_registry"))
    offline = use_offline_catalog(spark, make_config(tmp_path, offline_format=offline_format)).offline_store
    return Registry(spark, offline.registry_path, table_format="iceberg", table_name=offline.registry_table)


@both_offline_formats
def test_apply_then_plan_shows_no_changes(registry: Registry) -> None:
    first = registry.apply([driver, stats()])
    assert [(c.kind, c.name, c.op) for c in first.changes] == [
        ("entity", "driver", "create"), ("feature_view", "stats", "create")]
    again = registry.plan([driver, stats()])
    assert not again.has_changes
    assert again.describe() == "No changes. 2 object(s) up to date."
    assert registry.get_feature_view("stats") == stats()
    assert registry.list_entities() == [driver]


@both_offline_formats
def test_type_change_is_a_diff_and_a_new_version(registry: Registry) -> None:
    registry.apply([driver, stats("float32")])
    plan = registry.plan([driver, stats("float64")])
    assert plan.describe().splitlines()[:2] == [
        "~ feature_view stats (update)",
        '    schema.rate.dtype: "float32" -> "float64"',
    ]
    registry.apply([driver, stats("float64")])
    history = registry.history("stats")
    assert [(r.version, r.op) for r in history] == [(1, "create"), (2, "update")]
    assert history[1].diff == [{"path": "schema.rate.dtype", "old": "float32", "new": "float64"}]
    assert registry.get_feature_view("stats").feature("rate").dtype == "float64"


def test_objects_missing_from_apply_are_kept_unless_delete(registry: Registry) -> None:
    registry.apply([driver, stats(), stats(name="other")])
    kept = registry.apply([driver, stats()])
    assert not kept.has_changes
    assert {v.name for v in registry.list_feature_views()} == {"stats", "other"}
    deleted = registry.apply([driver, stats()], delete=True)
    assert [(c.name, c.op) for c in deleted.changes if c.op != "unchanged"] == [("other", "delete")]
    assert [v.name for v in registry.list_feature_views()] == ["stats"]
    assert [r.op for r in registry.history("other")] == ["create", "delete"]


def test_bad_definitions_write_nothing(registry: Registry) -> None:
    other_driver = Entity("driver", join_keys={"driver_id": "string"})
    with pytest.raises(DefinitionError, match="Entity 'driver' is defined twice with different specs"):
        registry.apply([driver, other_driver])
    with pytest.raises(DefinitionError, match="uses entity 'driver', which is neither in the applied definitions "
                                              "nor registered"):
        registry.apply([stats()])
    with pytest.raises(DefinitionError, match="only Entity, FeatureView and AggregationView objects are registered"):
        registry.apply([driver, "not a definition"])
    assert registry.records() == []


def test_view_with_entity_defined_differently(registry: Registry) -> None:
    registry.apply([driver])
    changed = Entity("driver", join_keys={"driver_id": "int64"}, description="changed")
    view = FeatureView(name="v", entities=[changed], schema=[Field("x", "int64")])
    with pytest.raises(DefinitionError, match="uses entity 'driver' with a different definition"):
        registry.apply([driver, view])


def test_lookups_of_unknown_names(registry: Registry) -> None:
    registry.apply([driver, stats()])
    with pytest.raises(NotRegisteredError, match="Feature view 'nope' is not registered .* Registered views: stats"):
        registry.get_feature_view("nope")
    with pytest.raises(NotRegisteredError, match="Entity 'rider' is not registered"):
        registry.get_entity("rider")


@both_offline_formats
def test_materialization_state_versions(registry: Registry) -> None:
    assert registry.materialization_state("stats") is None
    assert registry.set_materialization_state("stats", {"watermark": "2026-01-01T00:00:00+00:00"}) == 1
    assert registry.set_materialization_state("stats", {"watermark": "2026-01-02T00:00:00+00:00"},
                                              expected_version=1) == 2
    assert registry.materialization_state("stats") == {"watermark": "2026-01-02T00:00:00+00:00"}
    with pytest.raises(RegistryError, match="moved from version 1 to 2"):
        registry.set_materialization_state("stats", {"watermark": "x"}, expected_version=1)


@both_offline_formats
def test_concurrent_applies_both_land_without_duplicate_versions(registry: Registry) -> None:
    registry.apply([driver])
    errors: list[BaseException] = []

    def apply(view: FeatureView) -> None:
        try:
            registry.apply([driver, view])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=apply, args=(stats(name=n),)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    records = registry.records()
    assert sorted((r.kind, r.name, r.version) for r in records) == [
        ("entity", "driver", 1), ("feature_view", "a", 1), ("feature_view", "b", 1)]


def test_spec_diff_reports_order_and_nested_changes() -> None:
    old = {"schema": [{"name": "a", "dtype": "int64"}, {"name": "b", "dtype": "int64"}], "tags": {}}
    new = {"schema": [{"name": "b", "dtype": "int64"}, {"name": "a", "dtype": "int64"}], "tags": {"t": "1"}}
    assert spec_diff(old, new) == [
        {"path": "schema (order)", "old": ["a", "b"], "new": ["b", "a"]},
        {"path": "tags.t", "old": None, "new": "1"},
    ]
