"""The offline store and registry on an S3 API endpoint (moto server on 127.0.0.1) through s3a://, in each
offline format."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from chispa import assert_df_equality
from helpers import append_then_upsert, both_offline_formats, make_config, use_offline_catalog
from pyspark.sql import SparkSession
from s3_endpoint import S3Endpoint

from featurespark import FeatureStore
from featurespark.definitions import Entity, FeatureView, Field, ManagedSource

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
driver = Entity("driver", join_keys={"driver_id": "int64"})
view = FeatureView(name="s3_stats", entities=[driver], schema=[Field("conv_rate", "float64")],
                   source=ManagedSource(), ttl=timedelta(days=1), online=False)
SCHEMA = "driver_id long, event_timestamp timestamp, conv_rate double"


@pytest.mark.iceberg_in_both_runs  # S3A with the Iceberg catalog: a path of its own on each Spark version
@both_offline_formats
def test_apply_write_upsert_time_travel_read_on_s3(spark: SparkSession, s3: S3Endpoint, offline_format: str) -> None:
    # The suite's session has no S3 log store (its jar is not on Maven Central; EMR ships it): one writer here.
    config = use_offline_catalog(spark, make_config(s3.uri(offline_format), offline_format=offline_format,
                                                    offline_extra={"log_store": {"enabled": False}}))
    store = FeatureStore(spark, config)
    store.apply([driver, view])
    database = config.offline_store.database
    table_path = s3.uri(offline_format, "offline", *([database] if offline_format == "iceberg" else []), "s3_stats")
    assert store.describe("s3_stats")["location"] == table_path

    first = spark.createDataFrame([(1, T0, 0.5), (2, T0, 0.25)], SCHEMA)
    update = spark.createDataFrame([(1, T0, 0.75), (3, T0, 0.1)], SCHEMA)
    v1 = append_then_upsert(store, "s3_stats", first, update)
    again = store.write_features("s3_stats", update, mode="upsert")
    assert (again.rows_written, again.rows_updated, again.rows_unchanged) == (0, 0, 2)

    latest = store.read_features("s3_stats").df.drop("_event_date")
    expected = spark.createDataFrame([(1, T0, 0.75), (2, T0, 0.25), (3, T0, 0.1)], SCHEMA)
    assert_df_equality(latest, expected, ignore_row_order=True)
    old = store.read_features("s3_stats", version=v1).df.drop("_event_date")
    assert_df_equality(old, first, ignore_row_order=True)
    # The registry lives on S3 too, and a second store sees it.
    assert FeatureStore(spark, config).get_feature_view("s3_stats") == view

    entities = spark.createDataFrame([(1, T0 + timedelta(hours=1)), (2, T0 + timedelta(hours=1)),
                                      (4, T0 + timedelta(hours=1)), (1, T0 - timedelta(hours=1))],
                                     "driver_id long, event_timestamp timestamp")
    training = store.get_historical_features(entities, ["s3_stats:conv_rate"])
    assert_df_equality(training.select("driver_id", "event_timestamp", "conv_rate"), spark.createDataFrame(
        [(1, T0 + timedelta(hours=1), 0.75), (2, T0 + timedelta(hours=1), 0.25), (4, T0 + timedelta(hours=1), None),
         (1, T0 - timedelta(hours=1), None)], SCHEMA), ignore_row_order=True)
