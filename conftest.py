"""Fixtures shared by the test suite (``tests/``) and the doctests of ``featurespark/``.

One session-scoped Spark session (local[2], Delta, an embedded Hive metastore, UTC, few shuffle
partitions, UI off) and the hypothesis profiles. Doctests see ``spark`` and a fresh ``tmp_path`` in
their namespace, so the examples in the docstrings run as written.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest
from _pytest.doctest import DoctestItem
from hypothesis import HealthCheck, settings
from pyspark.sql import SparkSession

from featurespark.session import configure_spark, default_jars_dir, use_this_python_for_workers

os.environ.setdefault("TZ", "UTC")

# The suite's Spark driver JVMs use the throughput collector instead of G1, whose concurrent threads compete
# with the suite's thousands of small jobs for the machine's two cores. Whole main run (-n 2, one 2-core
# machine, one after the other): 1617 s -> 1453 s, the tests' summed time 3179 s -> 2861 s; between two runs
# of one commit this machine has varied by about 10%, so the gain is about that size, not more.
#
# They also raise the JIT's compile thresholds fourfold (-XX:CompileThresholdScaling=4). The suite runs
# thousands of small queries, each through code paths of Spark, Delta and Hive that run a few hundred times
# and never again, plus classes that Spark's code generation makes per query: counted per thread
# (/proc/<pid>/task), the optimizing compiler's thread (C2) used 42% of a test JVM's CPU and the first tier
# (C1) 9%, against 9% for Spark's tasks (tests/test_store_apply.py + test_offline_writer.py in one process,
# 330 s of JVM CPU). With the thresholds scaled by 4, the same files took 261 s of CPU (C2 71 s) and 213 s
# instead of 226 s of wall time; by 10, 256 s of CPU but 232 s of wall time (more time interpreted); by 25,
# 267 s of wall time. With two workers, as CI runs them (CPU of the whole machine, from /proc/stat):
# test_store_apply + test_offline_writer + test_online_aggregation_views + test_training_set took 726 s of CPU
# and 377 s of wall time instead of 876 s and 448 s; the compute-heavy test_training_aggregations +
# test_pit_properties + test_aggregations_properties 565 s and 300 s instead of 700 s and 362 s. Hot loops
# still reach C2 soon (their counters pass four times the threshold almost at once); the first tier alone
# (-XX:TieredStopAtLevel=1, which tests/helpers.py's quick_start_jvm gives short-lived JVMs) made the whole
# run 5% slower, because compute-heavy tests took up to twice as long without the optimizing compiler.
SUITE_JVM_OPTIONS = "-XX:+UseParallelGC -XX:CompileThresholdScaling=4"

# Timings on shared 2-core machines are noisy: property tests check results, never speed, so
# hypothesis' per-example deadline (200 ms) would only turn load into flaky failures.
settings.register_profile("featurespark", deadline=None, suppress_health_check=[HealthCheck.too_slow])
# The compatibility run (bootstrap/run-compat-tests.sh, Spark 3.5) checks that the library works there, while
# the main run searches the join logic with the full example counts: property tests use at most 6 examples.
settings.register_profile("compat", parent=settings.get_profile("featurespark"), max_examples=6)
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
            # Prepended to configure_spark's spark.driver.extraJavaOptions, which it leaves as they are.
            "spark.driver.defaultJavaOptions": SUITE_JVM_OPTIONS,
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


@pytest.fixture(autouse=True)
def _doctest_globals(request: pytest.FixtureRequest, doctest_namespace: dict[str, object]) -> None:
    """``spark`` and a fresh ``tmp_path`` for every doctest (nothing for ordinary tests)."""
    if isinstance(request.node, DoctestItem):
        doctest_namespace["spark"] = request.getfixturevalue("spark")
        doctest_namespace["tmp_path"] = request.getfixturevalue("tmp_path")
