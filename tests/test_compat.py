"""featurespark._compat and the jars check of featurespark.session, on whichever Spark runs the suite
(4.x in the main run, 3.5 in the compatibility run: bootstrap/run-compat-tests.sh)."""
from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyspark
import pytest
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from featurespark._compat import PYSPARK_VERSION, dataframe_from_pandas, execute_merge, internal_plan
from featurespark.definitions import Entity, FeatureView, Field
from featurespark.errors import ConfigError
from featurespark.session import DEFAULT_JARS_DIR, MAIN_JARS_DIR, SPARK35_JARS_DIR, default_jars_dir, local_jars

ARROW = "spark.sql.execution.arrow.pyspark.enabled"


def test_pyspark_version_is_parsed() -> None:
    assert ".".join(map(str, PYSPARK_VERSION)) == ".".join(pyspark.__version__.split(".")[:2])


@pytest.mark.parametrize("arrow", ["true", "false"])
def test_dataframe_from_pandas_keeps_types_whatever_the_arrow_setting(spark: SparkSession, arrow: str) -> None:
    pdf = pd.DataFrame({
        "id": pd.array([1, None], dtype="Int64"),
        "x": [1.5, float("nan")],
        "s": ["a", None],
        "ts": pd.to_datetime(["2024-01-01 10:00", None]).tz_localize("UTC"),
    })
    before = pdf.copy()
    previous = spark.conf.get(ARROW)
    spark.conf.set(ARROW, arrow)
    try:
        df = dataframe_from_pandas(spark, pdf)
        rows = df.collect()
    finally:
        spark.conf.set(ARROW, previous)
    assert [(f.name, f.dataType) for f in df.schema.fields] == [
        ("id", T.LongType()), ("x", T.DoubleType()), ("s", T.StringType()), ("ts", T.TimestampType())
    ]
    assert [tuple(r) for r in rows] == [(1, 1.5, "a", datetime(2024, 1, 1, 10, 0)), (None, None, None, None)]
    pd.testing.assert_frame_equal(pdf, before)  # the input is not modified


def _table(spark: SparkSession, path: Path) -> DeltaTable:
    schema = T.StructType([T.StructField("k", T.LongType()), T.StructField("v", T.StringType())])
    spark.createDataFrame([(1, "a"), (2, "b")], schema).write.format("delta").save(str(path))
    return DeltaTable.forPath(spark, str(path))


def _upsert(table: DeltaTable, source: DataFrame) -> dict[str, int] | None:
    return execute_merge(
        table,
        table.alias("t")
        .merge(source.alias("s"), F.col("t.k") == F.col("s.k"))
        .whenMatchedUpdate(condition=~F.col("t.v").eqNullSafe(F.col("s.v")), set={"v": F.col("s.v")})
        .whenNotMatchedInsertAll(),
    )


def test_execute_merge_returns_its_counts(spark: SparkSession, workdir: Path) -> None:
    table = _table(spark, workdir / "t")
    source = spark.createDataFrame([(1, "a"), (2, "changed"), (3, "new"), (4, "new")], "k bigint, v string")
    assert _upsert(table, source) == {
        "num_affected_rows": 3, "num_updated_rows": 1, "num_deleted_rows": 0, "num_inserted_rows": 2
    }
    assert sorted(tuple(r) for r in table.toDF().collect()) == [(1, "a"), (2, "changed"), (3, "new"), (4, "new")]


def test_execute_merge_that_changes_nothing_counts_zero(spark: SparkSession, workdir: Path) -> None:
    table = _table(spark, workdir / "t")
    source = spark.createDataFrame([(1, "a")], "k bigint, v string")
    assert _upsert(table, source) == {
        "num_affected_rows": 0, "num_updated_rows": 0, "num_deleted_rows": 0, "num_inserted_rows": 0
    }


def test_default_jars_dir_follows_pyspark_unless_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FEATURESPARK_JARS_DIR", raising=False)
    assert DEFAULT_JARS_DIR == (MAIN_JARS_DIR if PYSPARK_VERSION >= (4, 0) else SPARK35_JARS_DIR)
    assert default_jars_dir() == DEFAULT_JARS_DIR
    monkeypatch.setenv("FEATURESPARK_JARS_DIR", str(tmp_path))
    assert default_jars_dir() == tmp_path.resolve()


def test_local_jars_accepts_the_jars_the_suite_runs_with() -> None:
    jars = local_jars(default_jars_dir())
    assert any(Path(j).name.startswith("delta-spark_") for j in jars)


@pytest.mark.parametrize("jar", ["delta-spark_2.12-3.3.2.jar", "delta-spark_2.13-4.0.1.jar", "delta-spark_2.13-3.3.2.jar"])
def test_local_jars_refuses_a_delta_built_for_another_spark(tmp_path: Path, jar: str) -> None:
    (tmp_path / jar).write_bytes(b"")  # only the name is read before the session starts
    fits = "delta-spark_2.13-4.0.1.jar" if PYSPARK_VERSION >= (4, 0) else "delta-spark_2.12-3.3.2.jar"
    if jar == fits:
        assert local_jars(tmp_path) == [str((tmp_path / jar).resolve())]
        return
    with pytest.raises(ConfigError, match=rf"{jar} is Delta Lake .* but this Python runs pyspark "
                                          rf"{pyspark.__version__}.*bootstrap/setup-"):
        local_jars(tmp_path)


def test_local_jars_without_delta_says_how_to_set_up(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"No Delta Lake jar in .*setup-local.sh.*setup-compat.sh` for Spark 3.5"):
        local_jars(tmp_path)


def test_timestamps_round_trip_as_instants(spark: SparkSession) -> None:
    pdf = pd.DataFrame({"ts": [pd.Timestamp("2024-03-10 07:30", tz="America/New_York")]})
    got = dataframe_from_pandas(spark, pdf).select(F.unix_timestamp("ts").alias("s")).first()
    assert got is not None
    assert got["s"] == int(datetime(2024, 3, 10, 11, 30, tzinfo=timezone.utc).timestamp())


def test_an_iceberg_offline_store_needs_the_iceberg_jar_and_gets_its_catalog(tmp_path: Path) -> None:
    from pyspark.sql import SparkSession

    from featurespark.config import parse_config
    from featurespark.session import configure_spark

    delta = "delta-spark_2.13-4.0.1.jar" if PYSPARK_VERSION >= (4, 0) else "delta-spark_2.12-3.3.2.jar"
    (tmp_path / delta).write_bytes(b"")  # only the names are read before the session starts
    config = parse_config({"project": {"name": "p"}, "offline_store": {"root": "/lake", "format": "iceberg"}})
    with pytest.raises(ConfigError, match=r"offline_store.format is iceberg, but .* has no iceberg-spark-runtime-\* "
                                          r"jar. Run `bash bootstrap/setup-local.sh`"):
        configure_spark(SparkSession.Builder(), config, jars_dir=str(tmp_path))
    (tmp_path / "iceberg-spark-runtime-4.0_2.13-1.10.0.jar").write_bytes(b"")
    builder = configure_spark(SparkSession.Builder(), config, jars_dir=str(tmp_path))
    options = builder._options  # the builder's settings, read without starting a JVM
    assert options["spark.sql.catalog.featurespark"] == "org.apache.iceberg.spark.SparkCatalog"
    assert (options["spark.sql.catalog.featurespark.type"], options["spark.sql.catalog.featurespark.warehouse"]) == (
        "hadoop", "/lake")
    assert options["spark.sql.extensions"].endswith("IcebergSparkSessionExtensions")


def test_a_glue_iceberg_offline_store_gets_one_glue_catalog_for_its_tables_and_its_registry() -> None:
    from pyspark.sql import SparkSession

    from featurespark.config import parse_config
    from featurespark.services.locations import managed_table_of
    from featurespark.session import configure_spark

    config = parse_config({"project": {"name": "p"}, "offline_store": {
        "root": "s3://bucket/offline", "database": "feats", "format": "iceberg", "iceberg_catalog_type": "glue",
        "log_store": {"enabled": False}}})
    # On EMR: no jars folder (the cluster's Iceberg runtime), no local metastore.
    options = configure_spark(SparkSession.Builder(), config)._options  # read without starting a JVM
    glue = {k: v for k, v in options.items() if k.startswith("spark.sql.catalog.featurespark.")}
    assert glue == {"spark.sql.catalog.featurespark.catalog-impl": "org.apache.iceberg.aws.glue.GlueCatalog",
                    "spark.sql.catalog.featurespark.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
                    "spark.sql.catalog.featurespark.warehouse": "s3://bucket/offline",
                    "spark.sql.catalog.featurespark.cache-enabled": "false"}
    assert options["spark.sql.catalog.featurespark"] == "org.apache.iceberg.spark.SparkCatalog"
    # The registry is a table of the same Glue catalog: no second (Hadoop) catalog any more.
    assert sorted({k.split(".")[3] for k in options if k.startswith("spark.sql.catalog.")}) == [
        "featurespark", "spark_catalog"]  # Delta's session catalog, and no 'featurespark_registry'
    assert config.offline_store.registry_table == "featurespark.feats._registry"
    assert options["spark.sql.extensions"].endswith("IcebergSparkSessionExtensions")
    # Glue would place tables at <warehouse>/feats.db/<table>: featurespark creates them at its own paths.
    table = managed_table_of(config, _view("stats"))
    assert (table.name, table.ref.path, table.ref.create_at_path, table.quarantine_ref.create_at_path) == (
        "featurespark.feats.stats", "s3://bucket/offline/feats/stats", True, True)
    hadoop = parse_config({"project": {"name": "p"}, "offline_store": {"root": "/lake", "format": "iceberg"}})
    assert managed_table_of(hadoop, _view("stats")).ref.create_at_path is False


def _view(name: str) -> FeatureView:
    return FeatureView(name=name, entities=[Entity("d", join_keys={"d_id": "int64"})], schema=[Field("x", "float64")])


def test_internal_plan_skips_call_site_capture_and_restores_it(spark: SparkSession,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from pyspark.errors import utils as error_utils

    client = spark.sparkContext._gateway._gateway_client  # type: ignore[union-attr]
    original, calls, me = client.send_command, [], threading.get_ident()

    def counted(*args: Any, **kwargs: Any) -> Any:
        # Only this thread's round trips. py4j's finalizer thread shares the client: it sends the deletes of
        # Java references Python freed, whenever they were freed. Counting every thread once gave CI 964 calls
        # for the first plan against 728 for the same plan after. With 3000 references freed just before a plan,
        # an all-thread count read 1184 and this thread's 728 (this thread's is 728-734 either way).
        if threading.get_ident() == me:
            calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(client, "send_command", counted)

    def py4j_calls_to_plan() -> int:
        calls.clear()
        spark.range(1).select(*[(F.col("id") + i).alias(f"c{i}") for i in range(20)])
        return len(calls)

    outside = py4j_calls_to_plan()
    before = getattr(error_utils, "_enable_debugging_cache", None)  # read (and cached) by the first call
    with internal_plan():
        inside = py4j_calls_to_plan()
    after = py4j_calls_to_plan()
    if PYSPARK_VERSION >= (4, 0):  # each F.col / + / alias records its call site: several round trips each
        assert inside < 0.6 * outside, (inside, outside)
        assert after > 0.8 * outside, (after, outside)  # the capture is back after the block
    else:  # Spark 3.5 records no call sites: nothing changes
        assert abs(inside - outside) <= 2
    with pytest.raises(RuntimeError), internal_plan():
        raise RuntimeError("the setting comes back after an error too")
    assert getattr(error_utils, "_enable_debugging_cache", None) == before
