"""An Iceberg offline store in a Glue catalog (``iceberg_catalog_type: glue``), run for real: Iceberg's
``GlueCatalog`` and ``S3FileIO`` talk to moto's server on 127.0.0.1, the one ``s3`` endpoint serving both the
Glue and the S3 API, reached through ``offline_store.iceberg_catalog_options`` as a VPC endpoint would be.

What moto cannot stand for (IAM, Lake Formation, Glue's own optimistic locking under real concurrency) is
listed in docs/offline_store.md.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import boto3
import pytest
from chispa import assert_df_equality
from helpers import append_then_upsert, make_config, use_offline_catalog
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from s3_endpoint import DUMMY_KEY, S3Endpoint

from featurespark import FeatureStore
from featurespark.definitions import Entity, FeatureView, Field, ManagedSource

REGION = "us-east-1"
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
driver = Entity("driver", join_keys={"driver_id": "int64"})
view = FeatureView(name="glue_stats", entities=[driver], schema=[Field("conv_rate", "float64")],
                   source=ManagedSource(), ttl=timedelta(days=1), online=False)
SCHEMA = "driver_id long, event_timestamp timestamp, conv_rate double"
#: Java system properties read first by the AWS SDK v2 default credential chain (Iceberg's Glue and S3
#: clients); the session's JVM is already running, so its environment variables can no longer be set.
_CREDENTIAL_PROPERTIES = ("aws.accessKeyId", "aws.secretAccessKey")


@pytest.fixture
def jvm_aws_credentials(spark: SparkSession) -> Iterator[None]:
    """moto's dummy credentials in the driver JVM's default chain for one test, then the previous values."""
    system = spark.sparkContext._jvm.java.lang.System  # type: ignore[union-attr]
    previous = {name: system.getProperty(name) for name in _CREDENTIAL_PROPERTIES}
    for name in _CREDENTIAL_PROPERTIES:
        system.setProperty(name, DUMMY_KEY)
    yield
    for name, value in previous.items():
        if value is None:
            system.clearProperty(name)
        else:
            system.setProperty(name, value)


def _glue(s3: S3Endpoint) -> Any:
    return boto3.client("glue", endpoint_url=s3.url, region_name=REGION, aws_access_key_id=DUMMY_KEY,
                        aws_secret_access_key=DUMMY_KEY)


@pytest.mark.main_run_only(reason="about a minute of Iceberg commits through moto's Glue; passes on Spark 3.5 with "
                                   ".jars-spark35's iceberg-aws-bundle too, but the compatibility run has no time left")
def test_a_glue_catalog_store_applies_writes_upserts_time_travels_and_trains(
        spark: SparkSession, s3: S3Endpoint, jvm_aws_credentials: None) -> None:
    endpoints = {"glue.endpoint": s3.url, "s3.endpoint": s3.url, "s3.path-style-access": "true",
                 "client.region": REGION}
    # The suite's session has no S3 log store (Delta only anyway): one writer here.
    config = use_offline_catalog(spark, make_config(s3.uri("glue"), offline_format="iceberg", offline_extra={
        "iceberg_catalog_type": "glue", "iceberg_catalog_options": endpoints, "log_store": {"enabled": False}}))
    store = FeatureStore(spark, config)
    store.apply([driver, view])
    database = config.offline_store.database
    name = f"{config.offline_store.iceberg_catalog}.{database}.glue_stats"
    table_path = s3.uri("glue", "offline", database, "glue_stats")
    glue = _glue(s3)
    created = glue.get_table(DatabaseName=database, Name="glue_stats")["Table"]
    assert created["Parameters"]["table_type"] == "ICEBERG"
    assert created["StorageDescriptor"]["Location"] == table_path
    assert store.describe("glue_stats")["location"] == table_path

    first = spark.createDataFrame([(1, T0, 0.5), (2, T0, 0.25)], SCHEMA)
    v1 = append_then_upsert(store, "glue_stats", first, spark.createDataFrame([(1, T0, 0.75), (3, T0, 0.1)], SCHEMA))

    latest = store.read_features("glue_stats").df.drop("_event_date")
    assert_df_equality(latest, spark.createDataFrame([(1, T0, 0.75), (2, T0, 0.25), (3, T0, 0.1)], SCHEMA),
                       ignore_row_order=True)
    assert_df_equality(store.read_features("glue_stats", version=v1).df.drop("_event_date"), first,
                       ignore_row_order=True)

    # Each commit moved Glue's pointer: the table's metadata_location is Iceberg's newest metadata file.
    committed = glue.get_table(DatabaseName=database, Name="glue_stats")["Table"]["Parameters"]
    newest = (spark.read.format("iceberg").load(f"{name}.metadata_log_entries")
              .agg(F.max_by("file", "timestamp")).first())
    assert newest is not None
    assert committed["metadata_location"].replace("s3a://", "s3://") == newest[0].replace("s3a://", "s3://")
    assert committed["metadata_location"] != created["Parameters"]["metadata_location"]
    assert committed["metadata_location"].startswith(f"{table_path}/metadata/")
    # The registry stays in the Hadoop catalog <iceberg_catalog>_registry, on the same S3, not in Glue.
    in_glue = {t["Name"] for t in glue.get_tables(DatabaseName=database)["TableList"]}
    assert "_registry" not in in_glue and "glue_stats" in in_glue
    assert FeatureStore(spark, config).get_feature_view("glue_stats") == view

    entities = spark.createDataFrame([(1, T0 + timedelta(hours=1)), (3, T0 + timedelta(hours=1)),
                                      (4, T0 + timedelta(hours=1))], "driver_id long, event_timestamp timestamp")
    training = store.get_historical_features(entities, ["glue_stats:conv_rate"])
    assert_df_equality(training.select("driver_id", "event_timestamp", "conv_rate"), spark.createDataFrame(
        [(1, T0 + timedelta(hours=1), 0.75), (3, T0 + timedelta(hours=1), 0.1), (4, T0 + timedelta(hours=1), None)],
        SCHEMA), ignore_row_order=True)
