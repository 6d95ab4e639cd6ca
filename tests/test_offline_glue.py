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
from featurespark._files import DirectFiles
from featurespark.config import Config
from featurespark.definitions import Entity, FeatureView, Field, ManagedSource
from featurespark.errors import ConfigError, RegistryError
from featurespark.offline.glue_pointer import GlueTable, glue_log_version, log_version_of, metadata_location
from featurespark.offline.iceberg import IcebergFormat, iceberg_catalog_conf
from featurespark.registry import Registry
from featurespark.registry.snapshot import is_current, load_snapshot, snapshot_path
from featurespark.retry import RetryPolicy
from featurespark.services.locations import registry_glue_table
from featurespark.services.registry_migration import migrate_registry

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


@pytest.fixture
def python_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's dummy credentials in this process's default chain (the registry's Spark-free Glue check, boto3)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DUMMY_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DUMMY_KEY)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_GLUE"):
        monkeypatch.delenv(name, raising=False)


def _glue(s3: S3Endpoint) -> Any:
    return boto3.client("glue", endpoint_url=s3.url, region_name=REGION, aws_access_key_id=DUMMY_KEY,
                        aws_secret_access_key=DUMMY_KEY)


def _s3_files(s3: S3Endpoint) -> DirectFiles:
    return DirectFiles(boto3.client("s3", endpoint_url=s3.url, region_name=REGION, aws_access_key_id=DUMMY_KEY,
                                    aws_secret_access_key=DUMMY_KEY))


def _glue_config(spark: SparkSession, s3: S3Endpoint, folder: str) -> Config:
    endpoints = {"glue.endpoint": s3.url, "s3.endpoint": s3.url, "s3.path-style-access": "true",
                 "client.region": REGION}
    return use_offline_catalog(spark, make_config(s3.uri(folder), offline_format="iceberg", offline_extra={
        "iceberg_catalog_type": "glue", "iceberg_catalog_options": endpoints, "log_store": {"enabled": False}}))


@pytest.mark.main_run_only(reason="about a minute of Iceberg commits through moto's Glue; passes on Spark 3.5 with "
                                   ".jars-spark35's iceberg-aws-bundle too, but the compatibility run has no time left")
def test_a_glue_catalog_store_applies_writes_upserts_time_travels_and_trains(
        spark: SparkSession, s3: S3Endpoint, jvm_aws_credentials: None, python_aws_credentials: None) -> None:
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
    # The registry is an Iceberg table of the same Glue catalog, at <root>/<database>/_registry, committed twice
    # (created, then the apply's MERGE): its log version is the number of the metadata file Glue points at.
    registry = glue.get_table(DatabaseName=database, Name="_registry")["Table"]
    assert registry["Parameters"]["table_type"] == "ICEBERG"
    assert registry["StorageDescriptor"]["Location"] == s3.uri("glue", "offline", database, "_registry")
    assert log_version_of(registry["Parameters"]["metadata_location"]) == 1
    assert FeatureStore(spark, config).get_feature_view("glue_stats") == view

    entities = spark.createDataFrame([(1, T0 + timedelta(hours=1)), (3, T0 + timedelta(hours=1)),
                                      (4, T0 + timedelta(hours=1))], "driver_id long, event_timestamp timestamp")
    training = store.get_historical_features(entities, ["glue_stats:conv_rate"])
    assert_df_equality(training.select("driver_id", "event_timestamp", "conv_rate"), spark.createDataFrame(
        [(1, T0 + timedelta(hours=1), 0.75), (3, T0 + timedelta(hours=1), 0.1), (4, T0 + timedelta(hours=1), None)],
        SCHEMA), ignore_row_order=True)


@pytest.mark.main_run_only(reason="Iceberg commits through moto's Glue; see the first test")
def test_the_registry_log_lives_in_glue_and_its_spark_free_check_follows_glue(
        spark: SparkSession, s3: S3Endpoint, jvm_aws_credentials: None, python_aws_credentials: None) -> None:
    config = _glue_config(spark, s3, "glue_registry")
    store = FeatureStore(spark, config)
    glue_table = registry_glue_table(config)
    assert glue_table is not None and glue_log_version(glue_table) is None  # nothing in Glue before the first apply
    store.apply([driver])  # the registry may be the first table of its Glue database: it creates the database
    store.apply([driver, view])
    assert store.plan([driver, view]).has_changes is False
    assert [(r.kind, r.name, r.version, r.op) for r in store.registry.history()] == [
        ("entity", "driver", 1, "create"), ("feature_view", "glue_stats", 1, "create")]
    watermark = {"watermark": "2026-01-02T00:00:00+00:00"}
    assert store.registry.set_materialization_state("glue_stats", watermark) == 1
    # Created (0), three MERGEs: Glue points at metadata file 3, and the snapshot says so.
    path = config.offline_store.registry_path
    files = _s3_files(s3)
    state = load_snapshot(path, files=files, table_format="iceberg", glue=glue_table)
    assert (glue_log_version(glue_table), state.log_version) == (3, 3)
    assert (sorted(state.views), state.materialization["glue_stats"]) == (["glue_stats"], watermark)

    # A writer that committed and stopped before rewriting the snapshot: the Spark-free check sees Glue move on.
    before = files.read_text(snapshot_path(path))
    assert before is not None
    later = {"watermark": "2026-01-03T00:00:00+00:00"}
    assert store.registry.set_materialization_state("glue_stats", later, expected_version=1) == 2
    assert is_current(files, path, load_snapshot(path, files=files, table_format="iceberg", glue=glue_table),
                      "iceberg", glue=glue_table)
    files.write_text(snapshot_path(path), before)
    stale = load_snapshot(path, files=files, allow_stale=True, table_format="iceberg", glue=glue_table)
    assert stale.log_version == 3 and not is_current(files, path, stale, "iceberg", glue=glue_table)
    with pytest.raises(RegistryError, match=r"reflects log version 3, but the registry has newer commits"):
        load_snapshot(path, files=files, table_format="iceberg", glue=glue_table)
    # Any registry read through Spark rewrites it from the log in Glue (the snapshot of metadata file 4).
    assert FeatureStore(spark, config).registry.materialization_state("glue_stats") == later
    repaired = load_snapshot(path, files=files, table_format="iceberg", glue=glue_table)
    assert (repaired.log_version, repaired.materialization["glue_stats"]) == (4, later)


@pytest.mark.main_run_only(reason="Iceberg commits through moto's Glue; see the first test")
def test_a_registry_left_in_the_hadoop_catalog_is_refused_then_moved_into_glue(
        spark: SparkSession, s3: S3Endpoint, jvm_aws_credentials: None, python_aws_credentials: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    config = _glue_config(spark, s3, "glue_migrate")
    offline = config.offline_store
    path = offline.registry_path
    # The registry as earlier featurespark releases kept it: a Hadoop catalog '<iceberg_catalog>_registry' whose
    # warehouse is the offline root, so the table is at the same <root>/<database>/_registry.
    hadoop_catalog = f"{offline.iceberg_catalog}_registry"
    for key, value in iceberg_catalog_conf(hadoop_catalog, offline.root).items():
        spark.conf.set(key, value)
    legacy = Registry(spark, path, table_format="iceberg", table_name=f"{hadoop_catalog}.{offline.database}._registry")
    legacy.apply([driver])
    legacy.apply([driver, view])
    watermark = {"watermark": "2026-01-02T00:00:00+00:00"}
    legacy.set_materialization_state("glue_stats", watermark)
    history = legacy.history()
    files = _s3_files(s3)
    snapshot_before = files.read_text(snapshot_path(path))
    assert snapshot_before is not None and '"log_version": 3' in snapshot_before  # v1 .. v4.metadata.json

    store = FeatureStore(spark, config)
    glue_table = registry_glue_table(config)
    assert glue_table is not None
    refusal = (r"The registry at .*/_registry is still in the Hadoop catalog .* featurespark will not start an empty "
               r"registry beside it: move it into Glue with `featurespark migrate-registry --config <your "
               r"featurespark.yaml>` \(or FeatureStore.migrate_registry\(\)\)")
    with pytest.raises(RegistryError, match=refusal):
        store.plan([driver, view])
    with pytest.raises(RegistryError, match=refusal):
        store.apply([driver, view])
    with pytest.raises(RegistryError, match=refusal):
        store.registry.history()
    # The refusals left everything as it was: no Glue table, the same snapshot.
    assert glue_log_version(glue_table) is None
    assert files.read_text(snapshot_path(path)) == snapshot_before

    # A commit of an old job landing after the migration chose its metadata file (simulated: the Hadoop log version
    # is read one short, so v3 is registered while v4 exists): the Glue entry is removed again, nothing else moves.
    hadoop_log_version = IcebergFormat.log_version
    with monkeypatch.context() as patch:
        patch.setattr(IcebergFormat, "log_version", lambda self, spark, ref: hadoop_log_version(self, spark, ref) - 1)
        with pytest.raises(RegistryError, match=r"The registry at .*/_registry moved on in its Hadoop catalog while it "
                                                r"was being registered in Glue; the Glue entry was removed again"):
            store.migrate_registry()
    assert glue_log_version(glue_table) is None
    assert files.read_text(snapshot_path(path)) == snapshot_before
    assert files.exists(f"{path}/metadata/v3.metadata.json") and files.exists(f"{path}/metadata/v4.metadata.json")

    registered = store.migrate_registry()
    assert registered is not None and registered.endswith("/_registry/metadata/v4.metadata.json")
    location = metadata_location(glue_table)
    assert location is not None and location.endswith("/_registry/metadata/v4.metadata.json")
    # Iceberg numbers a registered Hadoop metadata file -1; the snapshot was rewritten in Glue's numbering.
    state = load_snapshot(path, files=files, table_format="iceberg", glue=glue_table)
    assert state.log_version == -1
    assert (sorted(state.views), sorted(state.entities), state.materialization) == (
        ["glue_stats"], ["driver"], {"glue_stats": watermark})
    assert store.registry.history() == history  # every version, nothing copied or lost
    assert store.plan([driver, view]).has_changes is False
    assert store.migrate_registry() is None  # already in Glue: nothing to do

    # The next commit is Glue's metadata file 00000-<uuid>: log version 0, and the snapshot follows it.
    later = {"watermark": "2026-01-03T00:00:00+00:00"}
    assert store.registry.set_materialization_state("glue_stats", later, expected_version=1) == 2
    location = metadata_location(glue_table)
    assert location is not None and location.rsplit("/", 1)[-1].startswith("00000-")
    after = load_snapshot(path, files=files, table_format="iceberg", glue=glue_table)
    assert (after.log_version, after.materialization["glue_stats"]) == (0, later)
    assert [r.version for r in store.registry.history("glue_stats", kind="materialization")] == [1, 2]


@pytest.mark.main_run_only(reason="needs the session's moto endpoint; about a second")
def test_migrating_needs_a_glue_store_and_a_registry_to_move(
        spark: SparkSession, s3: S3Endpoint, jvm_aws_credentials: None, python_aws_credentials: None) -> None:
    config = _glue_config(spark, s3, "glue_nothing")
    with pytest.raises(RegistryError, match=r"There is no registry at .*/glue_nothing/offline/.*/_registry to "
                                            r"migrate .* Run `featurespark apply` to create the registry in Glue"):
        FeatureStore(spark, config).migrate_registry()
    assert glue_log_version(registry_glue_table(config)) is None  # type: ignore[arg-type]
    delta = make_config(s3.uri("glue_delta"))
    with pytest.raises(ConfigError, match=r"test-config: migrate-registry moves an Iceberg registry into the Glue "
                                          r"catalog, so it needs offline_store.format: iceberg and "
                                          r"iceberg_catalog_type: glue"):
        migrate_registry(spark, delta)


def test_the_spark_free_glue_check_reads_the_pointer_and_says_what_went_wrong(
        s3: S3Endpoint, python_aws_credentials: None) -> None:
    glue = _glue(s3)
    glue.create_database(DatabaseInput={"Name": "pointer_db"})
    missing = GlueTable("pointer_db", "nothing_here", endpoint=s3.url, region=REGION)
    assert metadata_location(missing) is None and glue_log_version(missing) is None
    assert metadata_location(GlueTable("no_such_db", "t", endpoint=s3.url, region=REGION)) is None
    glue.create_table(DatabaseName="pointer_db", TableInput={
        "Name": "iceberg_t", "Parameters": {"table_type": "ICEBERG", "metadata_location":
                                            "s3://b/o/pointer_db/iceberg_t/metadata/00007-0f1e.metadata.json"}})
    assert glue_log_version(GlueTable("pointer_db", "iceberg_t", endpoint=s3.url, region=REGION)) == 7
    glue.create_table(DatabaseName="pointer_db", TableInput={"Name": "hive_t", "Parameters": {"format": "parquet"}})
    with pytest.raises(RegistryError, match=r"Glue table pointer_db.hive_t \(endpoint http://127.0.0.1:\d+, region "
                                            r"us-east-1\) is not an Iceberg table"):
        metadata_location(GlueTable("pointer_db", "hive_t", endpoint=s3.url, region=REGION))
    # Nothing listens on the endpoint: the one retry policy gives up with a message that names it, and no secret.
    from s3_endpoint import free_port

    closed = GlueTable("pointer_db", "iceberg_t", endpoint=f"http://127.0.0.1:{free_port()}", region=REGION)
    with pytest.raises(RegistryError, match=r"Cannot read Glue table pointer_db.iceberg_t \(endpoint "
                                            r"http://127.0.0.1:\d+, region us-east-1\): Glue kept failing "
                                            r"\(EndpointConnectionError\) for 2 attempts") as failed:
        metadata_location(closed, retry=RetryPolicy(max_attempts=2, base_delay_s=0.0, max_delay_s=0.0))
    assert DUMMY_KEY not in str(failed.value)
