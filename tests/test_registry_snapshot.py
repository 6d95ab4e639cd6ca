"""The registry snapshot: written after every commit, read without Spark, never trusted when stale."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from typing import Callable

import pytest
from helpers import both_offline_formats, make_config, use_offline_catalog
from pyspark.sql import SparkSession

from featurespark.definitions import Entity, FeatureView, Field
from featurespark.errors import RegistryError
from featurespark.registry import Registry, load_snapshot
from featurespark.registry.snapshot import SNAPSHOT_FILE, commit_file

driver = Entity("driver", join_keys={"driver_id": "int64"})


def view(name: str = "stats", dtype: str = "float64") -> FeatureView:
    return FeatureView(name=name, entities=[driver], schema=[Field("rate", dtype)], ttl=timedelta(days=1))


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "_registry")


@pytest.fixture
def new_registry(spark: SparkSession, tmp_path: Path, offline_format: str) -> Callable[[], Registry]:
    """A factory of Registry objects over one registry table of the test's offline format."""
    offline = use_offline_catalog(spark, make_config(tmp_path, offline_format=offline_format)).offline_store
    return lambda: Registry(spark, offline.registry_path, table_format=offline.format,
                            table_name=offline.registry_table)


@both_offline_formats
def test_every_commit_leaves_a_current_snapshot_that_loads_without_spark(
    spark: SparkSession, new_registry: Callable[[], Registry], offline_format: str
) -> None:
    registry = new_registry()
    path = registry.path
    registry.apply([driver, view()])
    registry.set_materialization_state("stats", {"watermark": "2026-01-02T00:00:00+00:00"})
    registry.apply([driver, view(dtype="float32"), view("other")])

    state = load_snapshot(path, table_format=offline_format)
    assert state.views == {"stats": view(dtype="float32"), "other": view("other")}
    assert state.entities == {"driver": driver}
    assert state.materialization == {"stats": {"watermark": "2026-01-02T00:00:00+00:00"}}
    assert state.versions[("feature_view", "stats")] == 2
    # The snapshot is the fold of the whole log.
    full = new_registry().refresh_snapshot()
    assert (full.views, full.versions, full.materialization, full.log_version) == (
        state.views, state.versions, state.materialization, state.log_version)


def test_state_reads_the_log_only_when_the_snapshot_is_missing_or_stale(
    spark: SparkSession, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    Registry(spark, path).apply([driver, view()])
    reads: list[object] = []
    original = Registry._read_log

    def counting(self: Registry, version: object) -> object:
        reads.append(version)
        return original(self, version)

    monkeypatch.setattr(Registry, "_read_log", counting)
    fresh = Registry(spark, path)
    for _ in range(3):
        assert sorted(fresh.state().views) == ["stats"]
    assert reads == []  # served from the snapshot, then from the cache

    Path(path, SNAPSHOT_FILE).unlink()
    assert sorted(Registry(spark, path).state().views) == ["stats"]
    assert len(reads) == 1  # rebuilt from the log ...
    assert Path(path, SNAPSHOT_FILE).exists()  # ... and written again


@both_offline_formats
def test_a_commit_without_snapshot_is_detected_and_repaired(
    spark: SparkSession, new_registry: Callable[[], Registry], offline_format: str
) -> None:
    registry = new_registry()
    path = registry.path
    registry.apply([driver, view()])
    before = Path(path, SNAPSHOT_FILE).read_text()
    registry.apply([driver, view(), view("other")])
    # Simulate a writer that crashed between its commit and the snapshot: put the old snapshot back.
    Path(path, SNAPSHOT_FILE).write_text(before)

    with pytest.raises(RegistryError, match="reflects log version .* but the registry has newer commits"):
        load_snapshot(path, table_format=offline_format)
    assert sorted(load_snapshot(path, allow_stale=True).views) == ["stats"]
    assert sorted(new_registry().state().views) == ["other", "stats"]  # Spark readers repair it
    assert sorted(load_snapshot(path, table_format=offline_format).views) == ["other", "stats"]


def test_a_newer_snapshot_is_never_overwritten_by_an_older_state(spark: SparkSession, path: str) -> None:
    first, second = Registry(spark, path), Registry(spark, path)
    first.apply([driver, view()])
    second.apply([driver, view(), view("other")])
    newest = json.loads(Path(path, SNAPSHOT_FILE).read_text())["log_version"]
    first._write_snapshot(first._cached)  # type: ignore[arg-type] - a late writer with its older state
    assert json.loads(Path(path, SNAPSHOT_FILE).read_text())["log_version"] == newest
    assert Path(commit_file(path, newest)).exists()


def test_missing_and_foreign_snapshots_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=r"No registry snapshot at .*Run `featurespark apply`"):
        load_snapshot(str(tmp_path / "nothing"))
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / SNAPSHOT_FILE).write_text('{"format": 99, "records": []}')
    with pytest.raises(RegistryError, match="has format 99; this featurespark reads format 1"):
        load_snapshot(str(tmp_path / "r"))
    (tmp_path / "r" / SNAPSHOT_FILE).write_text("{not json")
    with pytest.raises(RegistryError, match="is not a valid registry snapshot"):
        load_snapshot(str(tmp_path / "r"))
