"""Fixtures of the test suite: local servers (S3 endpoint, a DynamoDB endpoint (moto), Kafka) and folders.

The session-scoped ``spark`` fixture and the hypothesis profiles are in the repository's root
``conftest.py``, shared with the doctests of ``featurespark/``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from pyspark.sql import SparkSession


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A fresh folder for one test's tables and files."""
    return tmp_path


@pytest.fixture
def offline_format(request: pytest.FixtureRequest) -> str:
    """``offline_store.format`` of the test's store: "delta", or each format for tests marked
    ``@both_offline_formats`` (``helpers.py``)."""
    return str(getattr(request, "param", "delta"))


@pytest.fixture(scope="session")
def s3(spark: SparkSession) -> Iterator["S3Endpoint"]:
    """moto's S3 server on a free 127.0.0.1 port with one bucket, reachable through s3a://."""
    from s3_endpoint import S3Endpoint, start_s3  # noqa: F401 - tests/ is on sys.path

    endpoint = start_s3(spark)
    yield endpoint
    endpoint.server.stop()


# --- DynamoDB endpoint (online store tests) -----------------------------------------------------
# tests/ is on sys.path (rootdir-based "prepend" import mode), so the helper module imports by name.
from dynamodb_local import DynamoDBLocal, start_dynamodb_local, stop_dynamodb_local  # noqa: E402


@pytest.fixture(scope="session")
def dynamodb_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DynamoDBLocal]:
    """One in-memory DynamoDB endpoint (moto's server) on a free 127.0.0.1 port for the session (fails, never skips)."""
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


# --- PostgreSQL (JdbcSource tests) ---------------------------------------------------------------
from postgres_local import PostgresServer, start_postgres, stop_postgres  # noqa: E402


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server on a free 127.0.0.1 port for the session (fails, never skips)."""
    try:
        server = start_postgres()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    stop_postgres(server)
