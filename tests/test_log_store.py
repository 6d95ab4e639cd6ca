"""Delta's DynamoDB-backed S3 log store: the settings configure_spark adds for S3 roots, and its DynamoDB table
created against a local DynamoDB endpoint."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dynamodb_local import DynamoDBLocal, aws_env, unique_table  # noqa: F401 - fixture
from pyspark.sql import SparkSession

from featurespark.config import Config, parse_config
from featurespark.errors import ConfigError
from featurespark.log_store import KEY_SCHEMA, LOG_STORE_CLASS, ensure_log_store_table, log_store_conf
from featurespark.session import configure_spark


def s3_config(**log_store: Any) -> Config:
    return parse_config({"project": {"name": "p"},
                         "offline_store": {"root": "s3://my-bucket/fs/offline", "log_store": log_store},
                         "online_store": {"region": "eu-west-1"}}, source="emr.yaml")


def builder_conf(config: Config, **kwargs: Any) -> dict[str, str]:
    builder = configure_spark(SparkSession.builder, config, **kwargs)
    return dict(builder._options)  # the settings a session would start with


def test_s3_roots_get_the_log_store_and_local_roots_do_not() -> None:
    conf = builder_conf(s3_config(table_name="fs_log"))
    assert {k: conf[k] for k in log_store_conf(s3_config(table_name="fs_log"))} == {
        "spark.delta.logStore.s3.impl": LOG_STORE_CLASS,
        "spark.delta.logStore.s3a.impl": LOG_STORE_CLASS,
        "spark.io.delta.storage.S3DynamoDBLogStore.ddb.tableName": "fs_log",
        "spark.io.delta.storage.S3DynamoDBLogStore.ddb.region": "eu-west-1",
    }
    local = parse_config({"project": {"name": "p"}, "offline_store": {"root": "/tmp/fs"}})
    assert not any("logStore" in k for k in builder_conf(local))
    assert log_store_conf(s3_config(enabled=False)) == {}
    assert s3_config(region="eu-central-1").offline_store.log_store.region == "eu-central-1"
    assert log_store_conf(s3_config(region="eu-central-1"))[
        "spark.io.delta.storage.S3DynamoDBLogStore.ddb.region"] == "eu-central-1"


def test_a_cluster_session_keeps_the_clusters_jvm_options() -> None:
    conf = builder_conf(s3_config())
    assert not [k for k in conf if "JavaOptions" in k]
    assert conf["spark.executorEnv.TZ"] == "UTC" and conf["spark.sql.session.timeZone"] == "UTC"


def test_local_jars_without_the_log_store_jar_are_refused_for_an_s3_root(tmp_path: Path) -> None:
    from featurespark.session import default_jars_dir

    with pytest.raises(ConfigError) as info:
        builder_conf(s3_config(), jars_dir=str(default_jars_dir()))
    assert "offline_store.root is on S3, so Delta commits go through the DynamoDB log store" in str(info.value)
    assert "or set offline_store.log_store.enabled: false" in str(info.value)
    assert "spark.jars" in builder_conf(s3_config(enabled=False), jars_dir=str(default_jars_dir()))


def test_the_table_is_created_once_with_the_key_schema_and_ttl(dynamodb_local: DynamoDBLocal,
                                                               aws_env: dict[str, str]) -> None:
    name = unique_table("delta_log")
    config = parse_config({"project": {"name": "p"},
                           "offline_store": {"root": "s3://b/fs", "log_store": {"table_name": name}},
                           "online_store": {"endpoint_url": dynamodb_local.endpoint_url}})
    client = dynamodb_local.client()
    assert ensure_log_store_table(config) == name
    table = client.describe_table(TableName=name)["Table"]
    assert tuple((k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]) == KEY_SCHEMA
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expireTime" and ttl["TimeToLiveStatus"] in ("ENABLED", "ENABLING")
    assert ensure_log_store_table(config) == name  # a second apply finds it


def test_a_table_with_other_keys_is_refused(dynamodb_local: DynamoDBLocal, aws_env: dict[str, str]) -> None:
    name = unique_table("not_a_log")
    dynamodb_local.client().create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    config = parse_config({"project": {"name": "p"},
                           "offline_store": {"root": "s3://b/fs", "log_store": {"table_name": name}},
                           "online_store": {"endpoint_url": dynamodb_local.endpoint_url}})
    with pytest.raises(ConfigError, match=rf"DynamoDB table {name} \(offline_store.log_store.table_name\) exists "
                                          r"with key schema \(\('pk', 'HASH'\),\), but Delta's log store needs"):
        ensure_log_store_table(config)


def test_nothing_to_create_for_a_local_root() -> None:
    assert ensure_log_store_table(parse_config({"project": {"name": "p"}, "offline_store": {"root": "/tmp/x"}}),
                                  client=object()) is None
