"""Shared test fixtures: one session-scoped Spark session with Delta and an embedded Hive metastore."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import HealthCheck, settings
from pyspark.sql import SparkSession

from featurespark.session import configure_spark, default_jars_dir, use_this_python_for_workers

os.environ.setdefault("TZ", "UTC")

# Timings on shared 2-core machines are noisy: property tests check results, never speed, so
# hypothesis' per-example deadline (200 ms) would only turn load into flaky failures.
settings.register_profile("featurespark", deadline=None, suppress_health_check=[HealthCheck.too_slow])
# The compatibility run (bootstrap/run-compat-tests.sh, Spark 3.5) checks that the library works there, while
# the main run searches the join logic with the full example counts: property tests use at most 10 examples.
settings.register_profile("compat", parent=settings.get_profile("featurespark"), max_examples=10)
settings.load_profile(os.environ.get("FEATURESPARK_HYPOTHESIS_PROFILE", "featurespark"))


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    """local[2] Spark with Delta + Hive (Derby in a temp folder), UTC, few partitions, UI off."""
    use_this_python_for_workers()
    metastore = tmp_path_factory.mktemp("metastore")
    builder = SparkSession.builder.master("local[2]").appName("featurespark-tests")
    session = configure_spark(
        builder,
        # $FEATURESPARK_JARS_DIR, else .jars (Spark 4) or .jars-spark35 (the Spark 3.5 compatibility run).
        jars_dir=str(default_jars_dir()),
        metastore_dir=str(metastore),
        extra_conf={
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.shuffle.partitions": "4",
            "spark.default.parallelism": "2",
            "spark.databricks.delta.snapshotPartitions": "2",
            "spark.sql.adaptive.coalescePartitions.initialPartitionNum": "4",
        },
    ).getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A fresh folder for one test's tables and files."""
    return tmp_path


@pytest.fixture(scope="session")
def s3(spark: SparkSession) -> Iterator["S3Endpoint"]:
    """moto's S3 server on a free 127.0.0.1 port with one bucket, reachable through s3a://."""
    from s3_endpoint import S3Endpoint, start_s3  # noqa: F401 - tests/ is on sys.path

    endpoint = start_s3(spark)
    yield endpoint
    endpoint.server.stop()


# --- DynamoDB Local (online store tests) -------------------------------------------------------
# tests/ is on sys.path (rootdir-based "prepend" import mode), so the helper module imports by name.
from dynamodb_local import DynamoDBLocal, start_dynamodb_local, stop_dynamodb_local  # noqa: E402


@pytest.fixture(scope="session")
def dynamodb_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DynamoDBLocal]:
    """One in-memory DynamoDB Local on a free 127.0.0.1 port for the session (fails, never skips)."""
    try:
        instance = start_dynamodb_local(tmp_path_factory.mktemp("dynamodb-local"))
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield instance
    stop_dynamodb_local(instance)


# --- Kafka (streaming job tests) ---------------------------------------------------------------
from kafka_local import KafkaBroker, start_kafka, stop_kafka  # noqa: E402


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """One single-node Kafka broker on free 127.0.0.1 ports for the session (fails, never skips)."""
    try:
        broker = start_kafka(tmp_path_factory.mktemp("kafka"))
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield broker
    stop_kafka(broker)
