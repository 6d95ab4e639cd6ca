from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from helpers import both_offline_formats, make_config, use_offline_catalog
from pyspark.sql import SparkSession

from featurespark import FeatureStore, load_repo
from featurespark.definitions import DeltaSource, Entity, FeatureView, Field, ParquetSource, QuerySource
from featurespark.errors import ConfigError, DefinitionError, NotRegisteredError, SourceSchemaError
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
    assert sum(c.op == "create" for c in first.changes) == 8  # 2 entities, 5 feature views, 1 aggregation view
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
    with pytest.raises(DefinitionError, match="defines no Entity, FeatureView or AggregationView in 1 file"):
        load_repo(tmp_path)
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(DefinitionError, match=r"broken.py: failed to load definitions: RuntimeError: boom"):
        load_repo(tmp_path)


# --- managed views evolve; deleted views keep or drop their data (issue #18) ---------------------------
def _managed(features: list[Field], name: str = "evolving") -> FeatureView:
    return FeatureView(name=name, entities=[driver], schema=features, online=False, ttl=timedelta(days=1))


def _store(spark: SparkSession, tmp_path: Path, offline_format: str) -> FeatureStore:
    return FeatureStore(spark, use_offline_catalog(spark, make_config(tmp_path, offline_format=offline_format)))


@both_offline_formats
def test_a_managed_view_gains_and_loses_features_without_losing_rows(spark: SparkSession, tmp_path: Path,
                                                                      offline_format: str) -> None:
    import pandas as pd

    store = _store(spark, tmp_path, offline_format)
    store.apply([driver, _managed([Field("rate", "float64")])])
    store.write_features("evolving", pd.DataFrame({"driver_id": [1], "event_timestamp": pd.to_datetime(["2026-01-01"]),
                                                   "rate": [0.5]}))
    grown = _managed([Field("rate", "float64"), Field("trips", "int64")])
    plan = store.plan([driver, grown])
    assert "add column trips bigint to" in plan.describe() and "(existing rows read null)" in plan.describe()
    store.apply([driver, grown])
    store.write_features("evolving", pd.DataFrame({"driver_id": [2], "event_timestamp": pd.to_datetime(["2026-01-01"]),
                                                   "rate": [0.7], "trips": [3]}), mode="upsert")
    rows = store.read_features("evolving").df.orderBy("driver_id").select("driver_id", "rate", "trips").collect()
    assert [tuple(r) for r in rows] == [(1, 0.5, None), (2, 0.7, 3)]

    shrunk = _managed([Field("trips", "int64")])
    assert "keep column rate of" in store.plan([driver, shrunk]).describe()
    store.apply([driver, shrunk])
    store.write_features("evolving", pd.DataFrame({"driver_id": [3], "event_timestamp": pd.to_datetime(["2026-01-01"]),
                                                   "trips": [9]}))
    orders = pd.DataFrame({"driver_id": [1, 2, 3], "event_timestamp": pd.to_datetime(["2026-01-01 12:00"] * 3)})
    training = store.get_historical_features(orders, ["evolving"]).orderBy("driver_id")
    assert training.columns == ["driver_id", "event_timestamp", "trips"]
    assert [r.trips for r in training.collect()] == [None, 3, 9]
    assert store.read_features("evolving").df.where("driver_id = 1").first().rate == 0.5  # the data stays


def test_apply_registers_a_managed_tables_files_in_a_metastore_that_lacks_them(spark: SparkSession,
                                                                             tmp_path: Path) -> None:
    """A new metastore (a new EMR cluster's) next to existing files: apply registers them again. Apply looks
    the entry up before running Delta's CREATE TABLE, so this is the path that still runs it."""
    import pandas as pd

    from featurespark.offline.tables import drop_table

    store, definitions = _store(spark, tmp_path, "delta"), [driver, _managed([Field("rate", "float64")])]
    store.apply(definitions)
    store.write_features("evolving", pd.DataFrame({"driver_id": [1, 2], "rate": [0.5, 0.7],
                                                   "event_timestamp": pd.to_datetime(["2026-01-01"] * 2)}))
    name = store.describe("evolving")["table"]
    drop_table(spark, name)  # the entry only: the table's files stay
    assert not spark.catalog.tableExists(name)

    assert not store.plan(definitions).has_changes
    store.apply(definitions)
    assert spark.catalog.tableExists(name)
    assert sorted(r.rate for r in spark.table(name).collect()) == [0.5, 0.7]
    assert sorted(r.rate for r in store.read_features("evolving").df.collect()) == [0.5, 0.7]


@both_offline_formats
def test_a_managed_feature_cannot_change_type_in_place(spark: SparkSession, tmp_path: Path,
                                                       offline_format: str) -> None:
    store = _store(spark, tmp_path, offline_format)
    store.apply([driver, _managed([Field("rate", "float32")])])
    title = {"delta": "Delta", "iceberg": "Iceberg"}[offline_format]
    with pytest.raises(SourceSchemaError, match=rf"(?s)Managed view 'evolving' no longer fits its {title} table .*"
                                                r"'rate' is stored as float but the view now declares double.*"
                                                r"add a new feature with the new type"):
        store.apply([driver, _managed([Field("rate", "float64")])])
    assert store.get_feature_view("evolving").feature("rate").dtype == "float32"  # nothing was applied


@both_offline_formats
def test_deleted_views_keep_their_tables_and_watermark_until_asked(spark: SparkSession, tmp_path: Path,
                                                                   offline_format: str) -> None:
    import pandas as pd

    from featurespark.offline.table_format import table_format
    from featurespark.services.locations import managed_table_of

    store = _store(spark, tmp_path, offline_format)
    fmt = table_format(store.config.offline_store.format)
    old, other = _managed([Field("rate", "float64")], "old"), _managed([Field("rate", "float64")], "other")
    store.apply([driver, old, other])
    store.write_features("old", pd.DataFrame({"driver_id": [1], "event_timestamp": pd.to_datetime(["2026-01-01"]),
                                              "rate": [0.5]}))
    store.registry.set_materialization_state("old", {"watermark": "2026-01-02T00:00:00+00:00"})
    old_table = store.describe("old")["location"]
    old_ref = managed_table_of(store.config, old).ref

    plan = store.apply([driver, other], delete=True)
    text = plan.describe()
    assert "- feature_view old (delete)" in text and "- materialization old (delete)" in text
    assert f"keep {fmt.title} table {store.describe('other')['table'].rsplit('.', 1)[0]}.old at {old_table}" in text
    assert fmt.exists(spark, old_ref)  # kept
    assert store.registry.materialization_state("old") is None  # a reused name starts afresh

    # A new view reuses the name and the kept table, whose columns fit it.
    store.apply([driver, other, _managed([Field("rate", "float64")], "old")])
    assert store.read_features("old").df.count() == 1

    store.apply([driver, other], delete=True, drop_data=True)
    assert not fmt.exists(spark, old_ref) and not Path(old_table).exists()
    with pytest.raises(NotRegisteredError):
        store.get_feature_view("old")


def test_an_iceberg_store_needs_its_catalog_on_the_session(spark: SparkSession, tmp_path: Path) -> None:
    config = make_config(tmp_path, offline_format="iceberg")  # its catalog is not registered on the session
    with pytest.raises(ConfigError, match=r"offline_store.format is iceberg in test-config, but the session has no "
                                          r"Spark catalog 'fs_iceberg_\d+' .*configure_spark\(builder, config\)"):
        FeatureStore(spark, config)


def test_a_glue_iceberg_store_keeps_its_registry_in_its_one_catalog(spark: SparkSession, tmp_path: Path) -> None:
    config = make_config(tmp_path, offline_format="iceberg", offline_extra={"iceberg_catalog_type": "glue"})
    catalog = config.offline_store.iceberg_catalog
    spark.conf.set(f"spark.sql.catalog.{catalog}", "org.apache.iceberg.spark.SparkCatalog")  # set, never used here
    try:
        # No '<catalog>_registry' catalog is needed any more (it used to be a Hadoop catalog for the registry).
        store = FeatureStore(spark, config)
    finally:
        spark.conf.unset(f"spark.sql.catalog.{catalog}")
    assert store.registry._table.name == f"{catalog}.{config.offline_store.database}._registry"
    assert store.registry._table.create_at_path and store.registry._table.glue is not None
