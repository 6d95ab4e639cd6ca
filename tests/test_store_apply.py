from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from helpers import make_config
from pyspark.sql import SparkSession

from featurespark import FeatureStore, load_repo
from featurespark.definitions import DeltaSource, Entity, FeatureView, Field, ParquetSource, QuerySource
from featurespark.errors import DefinitionError, NotRegisteredError, SourceSchemaError
from featurespark.examples.driver_data import ExampleSize, write_example_data

ROOT = Path(__file__).resolve().parents[1]
driver = Entity("driver", join_keys={"driver_id": "int64"})


@pytest.fixture
def example_repo(spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    data = tmp_path / "example_data"
    monkeypatch.setenv("FEATURESPARK_EXAMPLE_DATA", str(data))
    write_example_data(spark, str(data), ExampleSize(drivers=3, customers=4, days=7, entity_rows=20))
    return load_repo(ROOT / "examples" / "driver_repo")


def test_example_repo_apply_plan_change_history(spark: SparkSession, tmp_path: Path,
                                                example_repo: list[object]) -> None:
    store = FeatureStore(spark, make_config(tmp_path))
    first = store.apply(example_repo)
    assert sum(c.op == "create" for c in first.changes) == 6  # 2 entities, 4 views
    assert not store.plan(example_repo).has_changes

    # Managed views get a Delta table in the metastore, partitioned by the event date.
    desc = store.describe("driver_hourly_stats")
    table = spark.catalog.getTable(desc["table"])
    assert table.tableType == "EXTERNAL" and desc["version"] == 1
    detail = DeltaTable.forName(spark, desc["table"]).detail().first()
    assert detail["partitionColumns"] == ["_event_date"]

    # Changing a feature's type (int32 -> int64 is a safe widening of the Parquet column).
    changed = [
        FeatureView(**{**o.__dict__, "schema": [Field("trips_together", "int64"), Field("avg_rating_given",
                                                                                         "float64")]})
        if isinstance(o, FeatureView) and o.name == "driver_customer_stats" else o
        for o in example_repo
    ]
    plan = store.plan(changed)
    assert "schema.trips_together.dtype: \"int32\" -> \"int64\"" in plan.describe()
    store.apply(changed)
    assert [r.version for r in store.registry.history("driver_customer_stats")] == [1, 2]


def test_missing_join_key_and_timestamp_write_nothing(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "src")
    spark.createDataFrame([(1, 0.5)], "id long, rate double").write.format("delta").save(path)
    view = FeatureView(name="v", entities=[driver], schema=[Field("rate", "float64")],
                       source=DeltaSource(path=path, timestamp_field="ts"))
    store = FeatureStore(spark, make_config(tmp_path))
    with pytest.raises(SourceSchemaError) as err:
        store.apply([driver, view])
    msg = str(err.value)
    assert f"FeatureView 'v' does not match its source (delta at {path})" in msg
    assert "join key 'driver_id' is missing (source columns: id, rate)" in msg
    assert "timestamp column 'ts' is missing" in msg
    assert store.registry.records() == []


def test_incompatible_type(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "src")
    spark.sql("SELECT 1L AS driver_id, current_timestamp() AS event_timestamp, 'high' AS rate") \
        .write.parquet(path)
    view = FeatureView(name="v", entities=[driver], schema=[Field("rate", "float64")],
                       source=ParquetSource(path=path))
    store = FeatureStore(spark, make_config(tmp_path))
    with pytest.raises(SourceSchemaError, match="feature 'rate' has type string but float64 is declared; cast it"):
        store.plan([driver, view])


def test_narrowing_is_refused_and_timestamp_must_be_timestamp(spark: SparkSession, tmp_path: Path) -> None:
    view = FeatureView(
        name="v", entities=[driver], schema=[Field("trips", "int32")],
        source=QuerySource(query="SELECT 1L AS driver_id, 1700000000L AS event_timestamp, 5L AS trips"),
    )
    store = FeatureStore(spark, make_config(tmp_path))
    with pytest.raises(SourceSchemaError) as err:
        store.apply([driver, view])
    assert "feature 'trips' has type bigint but int32 is declared" in str(err.value)
    assert "timestamp column 'event_timestamp' has type bigint but timestamp is declared; convert it" in str(err.value)


def test_unreadable_source(spark: SparkSession, tmp_path: Path) -> None:
    view = FeatureView(name="v", entities=[driver], schema=[Field("rate", "float64")],
                       source=ParquetSource(path=str(tmp_path / "nothing-here")), ttl=timedelta(days=1))
    store = FeatureStore(spark, make_config(tmp_path))
    with pytest.raises(SourceSchemaError, match="FeatureView 'v': cannot read its source .* Check the path"):
        store.apply([driver, view])


def test_describe_unknown(spark: SparkSession, tmp_path: Path) -> None:
    store = FeatureStore(spark, make_config(tmp_path))
    with pytest.raises(NotRegisteredError, match="'nope' is not registered. Registered objects: \\(none\\)"):
        store.describe("nope")


def test_repo_loader_errors(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="is not a folder"):
        load_repo(tmp_path / "missing")
    (tmp_path / "empty.py").write_text("x = 1\n")
    with pytest.raises(DefinitionError, match="defines no Entity or FeatureView in 1 file"):
        load_repo(tmp_path)
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(DefinitionError, match=r"broken.py: failed to load definitions: RuntimeError: boom"):
        load_repo(tmp_path)
