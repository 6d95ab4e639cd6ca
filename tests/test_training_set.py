"""get_historical_features over registered views of every source kind, and the training-set job."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
import yaml
from chispa import assert_df_equality
from helpers import both_offline_formats, make_config, use_offline_catalog
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from test_jobs import load_job

from featurespark import FeatureStore
from featurespark.config import Config
from featurespark.definitions import (
    DeltaSource,
    Entity,
    FeatureView,
    Field,
    ManagedSource,
    ParquetSource,
    QuerySource,
)
from featurespark.errors import InvalidArgumentError, NotRegisteredError

UTC = timezone.utc
T0 = datetime(2026, 1, 1, tzinfo=UTC)
driver = Entity("driver", join_keys={"driver_id": "int64"})
customer = Entity("customer", join_keys={"customer_id": "string"})


def h(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def define(tmp_path: Path) -> list[object]:
    stats = FeatureView(name="driver_stats", entities=[driver],
                        schema=[Field("conv_rate", "float64"), Field("trips", "int64")],
                        source=ManagedSource(created_timestamp_field="created"), ttl=timedelta(hours=2))
    profile = FeatureView(name="profile", entities=[customer], schema=[Field("balance", "float64")],
                          source=DeltaSource(path=str(tmp_path / "profile")), ttl=None)
    pair = FeatureView(name="pair", entities=[driver, customer], schema=[Field("trips", "int32")],
                       source=ParquetSource(path=str(tmp_path / "pair")), ttl=timedelta(days=7))
    # The same driver features, matched on the entity column "rider_driver" instead of driver_id.
    by_rider = FeatureView(name="rider_driver_stats", entities=[driver], schema=[Field("conv_rate", "float64")],
                           source=QuerySource(query="SELECT * FROM fs_training_src"),
                           join_key_map={"driver_id": "rider_driver"}, ttl=timedelta(hours=2))
    return [driver, customer, stats, profile, pair, by_rider]


def make_store(spark: SparkSession, tmp_path: Path, offline_format: str) -> FeatureStore:
    """The sources of define() under ``tmp_path``, applied, with a few driver_stats rows written."""
    spark.createDataFrame([("C1", h(-48), 10.0), ("C1", h(1), 11.0), ("C2", h(0), 20.0)],
                          "customer_id string, event_timestamp timestamp, balance double") \
        .write.format("delta").save(str(tmp_path / "profile"))
    spark.createDataFrame([(1, "C1", h(-24), 3), (1, "C2", h(-24 * 8), 9)],
                          "driver_id long, customer_id string, event_timestamp timestamp, trips int") \
        .write.parquet(str(tmp_path / "pair"))
    spark.createDataFrame([(1, h(0), 0.5), (2, h(0), 0.7)], "driver_id long, event_timestamp timestamp, conv_rate double") \
        .createOrReplaceTempView("fs_training_src")
    s = FeatureStore(spark, use_offline_catalog(spark, make_config(tmp_path, offline_format=offline_format)))
    s.apply(define(tmp_path))
    s.write_features("driver_stats", spark.createDataFrame(
        [(1, h(0), h(0), 0.1, 1), (1, h(0), h(1.5), 0.15, 1),  # a late correction of the same event
         (1, h(1), h(1), 0.2, 2), (2, h(0), h(0), 0.9, 9)],
        "driver_id long, event_timestamp timestamp, created timestamp, conv_rate double, trips long"))
    return s


@pytest.fixture(scope="module")
def store(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> FeatureStore:
    """One Delta store for the tests that only read it; a test that writes makes its own."""
    return make_store(spark, tmp_path_factory.mktemp("training_set"), "delta")


ENTITY_SCHEMA = "order_id long, driver_id long, customer_id string, rider_driver long, event_timestamp timestamp"


def orders(spark: SparkSession):  # type: ignore[no-untyped-def]
    return spark.createDataFrame([
        (1, 1, "C1", 2, h(0.5)),   # driver 1 at 00:30: the corrected 00:00 row
        (2, 1, "C1", 2, h(1)),     # exactly at 01:00: that row (inclusive upper bound)
        (3, 1, "C2", 1, h(3)),     # 01:00 row is exactly ttl=2h old: still valid
        (4, 1, "C2", 1, h(3.01)),  # past the ttl: no driver stats
        (5, 9, "C9", 9, h(1)),     # unknown keys everywhere
        (5, 9, "C9", 9, h(1)),     # an exact duplicate stays a duplicate
        (6, None, "C2", None, h(1)),  # null key: nulls for driver-keyed views only
    ], ENTITY_SCHEMA)


def test_all_source_kinds_composite_keys_and_key_map(spark: SparkSession, store: FeatureStore) -> None:
    out = store.get_historical_features(
        orders(spark),
        ["driver_stats", "profile:balance", "pair:trips", "rider_driver_stats:conv_rate"],
        full_feature_names=True,
    )
    expected = spark.createDataFrame([
        (1, 1, "C1", 2, h(0.5), 0.15, 1, 10.0, 3, 0.7),
        (2, 1, "C1", 2, h(1), 0.2, 2, 11.0, 3, 0.7),
        (3, 1, "C2", 1, h(3), 0.2, 2, 20.0, None, None),  # rider_driver 1: its row is 3h old > ttl
        (4, 1, "C2", 1, h(3.01), None, None, 20.0, None, None),
        (5, 9, "C9", 9, h(1), None, None, None, None, None),
        (5, 9, "C9", 9, h(1), None, None, None, None, None),
        (6, None, "C2", None, h(1), None, None, 20.0, None, None),
    ], ENTITY_SCHEMA + ", driver_stats__conv_rate double, driver_stats__trips long, profile__balance double, "
                       "pair__trips int, rider_driver_stats__conv_rate double")
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_entity_rows_as_pandas_query_and_table(spark: SparkSession, store: FeatureStore) -> None:
    pdf = pd.DataFrame({"driver_id": [1], "event_timestamp": [pd.Timestamp("2026-01-01 00:30")]})  # naive = UTC
    small = store.get_historical_features(pdf, ["driver_stats:conv_rate"])
    # a few entity rows are held in the plan (local_copy), so the call's several scans of them are cheap
    assert "LocalTableScan" in small._jdf.queryExecution().executedPlan().toString()
    assert [r["conv_rate"] for r in small.collect()] == [0.15]
    orders(spark).createOrReplaceTempView("fs_orders")
    by_query = store.get_historical_features("SELECT * FROM fs_orders WHERE order_id = 1", ["driver_stats:trips"])
    assert [r["trips"] for r in by_query.collect()] == [1]
    assert store.get_historical_features("fs_orders", ["driver_stats:trips"]).count() == 7


def test_reference_errors(spark: SparkSession, store: FeatureStore) -> None:
    with pytest.raises(InvalidArgumentError, match="Feature 'conv_rate' is requested from both 'driver_stats' and "
                                                   "'rider_driver_stats'. Pass full_feature_names=True"):
        store.get_historical_features(orders(spark), ["driver_stats:conv_rate", "rider_driver_stats"])
    with pytest.raises(NotRegisteredError, match="names view 'nope', which is not registered"):
        store.get_historical_features(orders(spark), ["nope:x"])
    with pytest.raises(InvalidArgumentError, match="view 'profile' has no feature 'age'. Its features are: balance"):
        store.get_historical_features(orders(spark), ["profile:age"])
    with pytest.raises(InvalidArgumentError, match="'a:b:c' is malformed"):
        store.get_historical_features(orders(spark), ["a:b:c"])
    with pytest.raises(Exception, match="Entity rows have no timestamp column 'ts'"):
        store.get_historical_features(orders(spark), ["profile"], entity_timestamp="ts")


def write_config(config: Config, tmp_path: Path) -> Path:
    path = tmp_path / "job.yaml"
    offline = config.offline_store
    path.write_text(yaml.safe_dump({"project": {"name": "t"}, "offline_store": {
        "root": offline.root, "database": offline.database, "format": offline.format,
        "iceberg_catalog": offline.iceberg_catalog},
        "online_store": {"manage_tables": False}}))
    return path


@both_offline_formats
def test_build_training_set_job_manifest_and_exact_rebuild(spark: SparkSession, offline_format: str,
                                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_store(spark, tmp_path, offline_format)  # its own: new driver_stats rows are written below
    monkeypatch.setattr(SparkSession, "stop", lambda self: None)  # keep the shared test session alive
    orders(spark).write.parquet(str(tmp_path / "orders"))
    job = load_job("build_training_set")
    base = ["--config", str(write_config(store.config, tmp_path)), "--entities", str(tmp_path / "orders"),
            "--features", "driver_stats", "profile:balance", "--format", "delta"]
    assert job.main(base + ["--output", str(tmp_path / "v1")]) == 0
    manifest = json.loads((tmp_path / "v1" / "_featurespark_manifest.json").read_text())
    assert manifest["output"]["rows"] == 7
    assert manifest["features"] == ["driver_stats:conv_rate", "driver_stats:trips", "profile:balance"]
    sources = {s["view"]: s for s in manifest["sources"]}
    # The managed table's version read: Delta version 1 (0 is its creation), or the Iceberg snapshot id read.
    assert sources["driver_stats"]["kind"] == "managed"
    assert sources["driver_stats"]["version"] == store.read_features("driver_stats").version
    if store.config.offline_store.format == "delta":
        assert sources["driver_stats"]["version"] == 1
    assert sources["profile"]["version"] == 0
    assert manifest["views"]["driver_stats"]["matched_rows"] == 3
    assert manifest["views"]["driver_stats"]["match_rate"] == pytest.approx(3 / 7, abs=1e-6)
    staleness = manifest["views"]["driver_stats"]["staleness_seconds"]
    assert (staleness["min"], staleness["max"]) == (0.0, 7200.0)
    assert manifest["views"]["profile"]["matched_rows"] == 5
    v1 = spark.read.format("delta").load(str(tmp_path / "v1"))

    # New data arrives; the pinned rebuild ignores it, the plain one sees it.
    store.write_features("driver_stats", spark.createDataFrame(
        [(1, h(0.25), h(0.25), 0.99, 7)],
        "driver_id long, event_timestamp timestamp, created timestamp, conv_rate double, trips long"))
    assert job.main(base + ["--output", str(tmp_path / "v2"), "--pin-versions", str(tmp_path / "v1")]) == 0
    assert_df_equality(spark.read.format("delta").load(str(tmp_path / "v2")), v1, ignore_row_order=True)
    assert job.main(base + ["--output", str(tmp_path / "v3")]) == 0
    v3 = spark.read.format("delta").load(str(tmp_path / "v3"))
    assert v3.where(F.col("order_id") == 1).first()["conv_rate"] == 0.99
    # An existing output is not overwritten without --overwrite.
    assert job.main(base + ["--output", str(tmp_path / "v3")]) == 1
    assert job.main(base + ["--output", str(tmp_path / "v3"), "--overwrite"]) == 0
