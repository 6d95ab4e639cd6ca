"""Fixtures of the test suite: local servers (S3 endpoint, a DynamoDB endpoint (moto), Kafka) and folders.

The session-scoped ``spark`` fixture and the hypothesis profiles are in the repository's root
``conftest.py``, shared with the doctests of ``featurespark/``.
"""
from __future__ import annotations

import zlib
from pathlib import Path
from typing import Iterator

import pytest
from pyspark.sql import SparkSession

from featurespark._compat import PYSPARK_VERSION


# --- Which run runs what, and in which order ---------------------------------------------------
# CI runs the suite twice: the main run (Spark 4, bootstrap/run-tests.sh) and the compatibility run
# (Python 3.9 + Spark 3.5, what EMR ships; bootstrap/run-compat-tests.sh). A few end-to-end tests start
# their own Spark drivers and take minutes; each runs in the run whose users it stands for, so that
# both runs fit their time budget, and the other run reports it as skipped with the reason:
#   @pytest.mark.main_run_only    the local user's experience (a new repo, the quickstart notebook);
#   @pytest.mark.compat_run_only  what runs on EMR (the streaming job killed mid-batch, the EMR notebook).
# The Iceberg case of a test that runs once per offline format (@both_offline_formats, tests/helpers.py) runs in
# one of the two runs, the same one every time (chosen by the test's name), and its Delta case in both: each
# run then exercises Iceberg managed stores, together they run every Iceberg case, and neither pays for all.
# @pytest.mark.iceberg_in_both_runs keeps both runs on a test whose Iceberg path differs between Spark versions
# in ways the others do not cover (S3A's).
# The benchmarks' own tests are main-run only too: the benchmarks run in a Spark 4 environment of their own.
MAIN_RUN = PYSPARK_VERSION >= (4, 0)

# pytest-xdist (--dist loadfile --no-loadscope-reorder, bootstrap/lib/pytest-args.sh) hands test files to
# workers in collection order: the files that take longest go first, so that no worker starts one of them
# while the other is finishing. From --durations=0 of a whole run; the rest keep their order.
SLOWEST_FILES = (
    "test_stream_job.py",
    "test_emr_rehearsal.py",
    "test_streaming.py",
    "test_offline_writer.py",
    "test_init_scaffold.py",
    "test_online_aggregation_streaming.py",
    "test_pit_join.py",
    "test_training_aggregations.py",
    "test_online_aggregation_views.py",
    "test_online_store.py",
    "test_pit_properties.py",
    "test_store_apply.py",
    "test_table_sources.py",
    "test_notebooks.py",
    "test_offline_s3.py",
    "test_offline_glue.py",
    "test_training_set.py",
    "test_emr_notebook.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the other run's end-to-end tests and Iceberg cases (with the reason), and put the slowest files first."""
    for item in items:
        if _iceberg_case_elsewhere(item):
            item.add_marker(pytest.mark.skip(
                reason=f"this Iceberg case runs in the {'compatibility' if MAIN_RUN else 'main'} run only "
                       "(tests/conftest.py splits the Iceberg cases of @both_offline_formats tests between the two "
                       "runs; the Delta case runs in both); CI runs both runs"))
        main_only, compat_only = item.get_closest_marker("main_run_only"), item.get_closest_marker("compat_run_only")
        if main_only is not None and not MAIN_RUN:
            why = main_only.kwargs.get("reason", "a local user's end-to-end path")
            item.add_marker(pytest.mark.skip(
                reason=f"runs in the main run only (bash bootstrap/run-tests.sh, Spark 4): {why}; CI runs both runs"))
        if compat_only is not None and MAIN_RUN:
            why = compat_only.kwargs.get("reason", "an EMR end-to-end path")
            item.add_marker(pytest.mark.skip(
                reason=f"runs in the compatibility run only (bash bootstrap/run-compat-tests.sh, Python 3.9 + Spark "
                       f"3.5, as on EMR): {why}; CI runs both runs"))
    rank = {name: i for i, name in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: files stay whole and in order


def _iceberg_case_elsewhere(item: pytest.Item) -> bool:
    """Whether ``item`` is the Iceberg case of a @both_offline_formats test that the other run runs."""
    callspec = getattr(item, "callspec", None)
    if callspec is None or callspec.params.get("offline_format") != "iceberg":
        return False
    if item.get_closest_marker("iceberg_in_both_runs") is not None:
        return False
    test = f"{item.path.name}::{getattr(item, 'originalname', item.name)}"
    in_main_run = zlib.crc32(test.encode()) % 2 == 0  # stable across runs, machines and Python versions
    return in_main_run != MAIN_RUN


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
