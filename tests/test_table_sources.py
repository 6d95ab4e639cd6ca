"""Iceberg and Hudi tables as feature sources: same training sets as Delta, versions in the manifest,
pinned rebuilds by time travel, pruning pushed into the scan, and clear errors.

Real tables written by Spark in temporary folders. Hudi publishes no Spark 4.0 bundle, so its cases run
in the Spark 3.5 compatibility environment (bootstrap/run-compat-tests.sh) and are skipped here otherwise.
"""
from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import pytest
from chispa import assert_df_equality
from helpers import make_config
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from test_jobs import load_job
from test_training_set import write_config

from featurespark import FeatureStore
from featurespark.definitions import DeltaSource, Entity, FeatureView, Field, HudiSource, IcebergSource, Source
from featurespark.errors import DefinitionError, SourceNotFoundError, SourceSchemaError, TimeTravelError
from featurespark.offline.formats import ICEBERG_CATALOG, current_version, read_hudi, read_iceberg
from featurespark.offline.sources import check_source_schema, read_source

UTC = timezone.utc
T0 = datetime(2026, 1, 1, tzinfo=UTC)
driver = Entity("driver", join_keys={"driver_id": "int64"})
SCHEMA = "rid string, driver_id long, event_timestamp timestamp, conv_rate double"
_ids = itertools.count()


def h(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def has_jar(spark: SparkSession, prefix: str) -> bool:
    return any(Path(j).name.startswith(prefix) for j in spark.conf.get("spark.jars", "").split(","))


class Table:
    """One feature table in a format, written and appended to through Spark."""

    def __init__(self, spark: SparkSession, fmt: str, tmp_path: Path) -> None:
        self.spark, self.fmt = spark, fmt
        n = next(_ids)
        if fmt == "iceberg":
            self.name = f"{ICEBERG_CATALOG}.fs_src_{n}.stats"
            spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {ICEBERG_CATALOG}.fs_src_{n}")
            self.source: Source = IcebergSource(table=self.name)
        else:
            self.path = str(tmp_path / f"hudi_{n}")
            self.source = HudiSource(path=self.path)
        self.created = False

    def write(self, df: DataFrame) -> None:
        if self.fmt == "iceberg":
            if self.created:
                df.writeTo(self.name).append()
            else:
                days = getattr(F, "partitioning", F).days  # pyspark 4 moved it; 3.5 has only F.days
                df.writeTo(self.name).using("iceberg").partitionedBy(days("event_timestamp")).create()
        else:
            df.write.format("hudi").options(**{
                "hoodie.table.name": f"stats_{Path(self.path).name}", "hoodie.datasource.write.recordkey.field": "rid",
                "hoodie.datasource.write.precombine.field": "event_timestamp",
                "hoodie.datasource.write.partitionpath.field": "", "hoodie.datasource.write.operation": "upsert",
            }).mode("append" if self.created else "overwrite").save(self.path)
        self.created = True


@pytest.fixture(params=["iceberg", "hudi"])
def table_factory(request: pytest.FixtureRequest, spark: SparkSession, tmp_path: Path) -> Callable[[], Table]:
    fmt = request.param
    if fmt == "iceberg" and not has_jar(spark, "iceberg-spark-runtime-"):
        pytest.fail("The Iceberg runtime jar is not on the session: run bash bootstrap/setup-local.sh")
    if fmt == "hudi" and not has_jar(spark, "hudi-spark"):
        pytest.skip("Apache Hudi publishes no Spark 4.0 bundle; Hudi runs in the Spark 3.5 compatibility "
                    "environment (bootstrap/run-compat-tests.sh)")
    return lambda: Table(spark, fmt, tmp_path)


def rows(spark: SparkSession, data: list[tuple[Any, ...]]) -> DataFrame:
    return spark.createDataFrame(data, SCHEMA)


FIRST = [("a", 1, h(0), 0.1), ("b", 1, h(1), 0.2), ("c", 2, h(0), 0.9), ("d", 2, h(-72), 0.5)]


def views(table: Table, delta_path: str) -> list[object]:
    common: dict[str, Any] = dict(entities=[driver], schema=[Field("conv_rate", "float64")], ttl=timedelta(hours=2))
    return [driver, FeatureView(name="in_format", source=table.source, **common),
            FeatureView(name="in_delta", source=DeltaSource(path=delta_path), **common)]


def entities(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame([(1, h(0.5)), (1, h(1)), (2, h(1.5)), (2, h(3)), (3, h(1))],
                                 "driver_id long, event_timestamp timestamp")


def test_same_training_set_as_delta(spark: SparkSession, tmp_path: Path, table_factory: Callable[[], Table]) -> None:
    table = table_factory()
    table.write(rows(spark, FIRST))
    rows(spark, FIRST).write.format("delta").save(str(tmp_path / "delta"))
    store = FeatureStore(spark, make_config(tmp_path))
    store.apply(views(table, str(tmp_path / "delta")))
    got = store.get_historical_features(entities(spark), ["in_format:conv_rate"])
    want = store.get_historical_features(entities(spark), ["in_delta:conv_rate"])
    assert_df_equality(got, want, ignore_row_order=True, ignore_nullable=True)
    assert sorted(((r[0], r[2]) for r in got.collect()), key=str) == [(1, 0.1), (1, 0.2), (2, 0.9), (2, None), (3, None)]


def test_manifest_records_the_version_and_pinned_rebuild_time_travels(
        spark: SparkSession, tmp_path: Path, table_factory: Callable[[], Table],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SparkSession, "stop", lambda self: None)  # keep the shared test session alive
    table = table_factory()
    table.write(rows(spark, FIRST))
    rows(spark, FIRST).write.format("delta").save(str(tmp_path / "delta"))
    store = FeatureStore(spark, make_config(tmp_path))
    store.apply(views(table, str(tmp_path / "delta")))
    entities(spark).write.parquet(str(tmp_path / "entities"))
    job = load_job("build_training_set")
    base = ["--config", str(write_config(store.config, tmp_path)), "--entities", str(tmp_path / "entities"),
            "--features", "in_format:conv_rate", "--format", "delta"]
    assert job.main(base + ["--output", str(tmp_path / "v1")]) == 0
    manifest = json.loads((tmp_path / "v1" / "_featurespark_manifest.json").read_text())
    (source,) = manifest["sources"]
    first_version = current_version(spark, table.source)  # type: ignore[arg-type]
    assert (source["kind"], source["version"]) == (table.fmt, first_version)
    v1 = spark.read.format("delta").load(str(tmp_path / "v1"))

    table.write(rows(spark, [("e", 1, h(0.25), 0.99)]))  # a later write
    assert current_version(spark, table.source) != first_version  # type: ignore[arg-type]
    assert job.main(base + ["--output", str(tmp_path / "v2"), "--pin-versions", str(tmp_path / "v1")]) == 0
    assert_df_equality(spark.read.format("delta").load(str(tmp_path / "v2")), v1, ignore_row_order=True)
    assert job.main(base + ["--output", str(tmp_path / "v3")]) == 0
    v3 = spark.read.format("delta").load(str(tmp_path / "v3"))
    assert v3.where(F.col("event_timestamp") == F.lit(h(0.5))).first()["conv_rate"] == 0.99


def test_the_time_window_is_pushed_into_the_scan(spark: SparkSession, table_factory: Callable[[], Table]) -> None:
    table = table_factory()
    table.write(rows(spark, FIRST))
    view = FeatureView(name="v", entities=[driver], schema=[Field("conv_rate", "float64")], source=table.source)
    df = read_source(spark, view).where(F.col("event_timestamp") >= F.lit(h(0)))
    plan = df._jdf.queryExecution().executedPlan().toString()
    # Iceberg prunes with the filters of its BatchScan, Hudi (a file index) with Parquet's pushed filters.
    pushed = "filters=" if table.fmt == "iceberg" else "PushedFilters: [IsNotNull(event_timestamp), GreaterThanOrEqual"
    assert pushed in plan and "event_timestamp" in plan.split(pushed, 1)[1][:200], plan
    assert sorted(r["rid"] for r in df.collect()) == ["a", "b", "c"]


def test_missing_timestamp_column_names_it(spark: SparkSession, table_factory: Callable[[], Table]) -> None:
    table = table_factory()
    table.write(rows(spark, FIRST))
    src = IcebergSource(table=table.source.table, timestamp_field="ts") if table.fmt == "iceberg" \
        else HudiSource(path=table.source.path, timestamp_field="ts")  # type: ignore[attr-defined]
    view = FeatureView(name="v", entities=[driver], schema=[Field("conv_rate", "float64")], source=src)
    with pytest.raises(SourceSchemaError, match="timestamp column 'ts' is missing"):
        check_source_schema(view, read_source(spark, view))


def test_a_missing_version_is_a_time_travel_error(spark: SparkSession, table_factory: Callable[[], Table]) -> None:
    table = table_factory()
    table.write(rows(spark, FIRST))
    if table.fmt == "iceberg":
        with pytest.raises(TimeTravelError, match=r"has no snapshot 12345 .*Rebuild without --pin-versions"):
            read_iceberg(spark, table.source, snapshot_id=12345)  # type: ignore[arg-type]
    else:
        with pytest.raises(TimeTravelError, match=r"has no completed commit at instant 20000101000000000 "
                                                  r"\(its commits: \d{17}\)"):
            read_hudi(spark, table.source, instant="20000101000000000")  # type: ignore[arg-type]


def test_missing_tables_are_clear_errors(spark: SparkSession, tmp_path: Path) -> None:
    if has_jar(spark, "iceberg-spark-runtime-"):
        with pytest.raises(SourceNotFoundError, match=r"Iceberg table iceberg.nodb.nothing cannot be read: .*"
                                                      r"Check the name \(catalog.database.table"):
            read_iceberg(spark, IcebergSource(table="iceberg.nodb.nothing"))
        with pytest.raises(SourceNotFoundError, match="Check the path: it must be the folder holding the table's"):
            current_version(spark, IcebergSource(path=str(tmp_path / "nothing")))
    with pytest.raises(SourceNotFoundError, match=r"holds no Hudi table \(no .hoodie folder\)"):
        current_version(spark, HudiSource(path=str(tmp_path / "nothing")))
    with pytest.raises(SourceNotFoundError, match="Hudi table nodb.nothing cannot be read: .*give the table's base path"):
        current_version(spark, HudiSource(table="nodb.nothing"))


@pytest.mark.parametrize(("make", "error"), [
    (lambda: IcebergSource(table="iceberg.db.t", path="/x"),
     "IcebergSource needs exactly one of table or path, e.g. IcebergSource(table='iceberg.db.trips', "
     "timestamp_field='event_timestamp'); found table, path."),
    (lambda: HudiSource(), "HudiSource needs exactly one of table or path"),
    (lambda: IcebergSource(table="iceberg.db.t", options={"snapshot-id": "1"}),
     "IcebergSource.options has unknown option(s) 'snapshot-id'; allowed: split-size, lookback, file-open-cost, "
     "vectorization-enabled, batch-size. Training sets pin the snapshot themselves (--pin-versions)."),
    (lambda: HudiSource(path="/x", options={"as.of.instant": "1"}), "HudiSource.options has unknown option(s) "
     "'as.of.instant'"),
    (lambda: IcebergSource(table=""), "IcebergSource.table must be a non-empty string"),
])
def test_definition_errors(make: Callable[[], object], error: str) -> None:
    with pytest.raises(DefinitionError) as info:
        make()
    assert error in str(info.value)


@pytest.mark.parametrize("source", [
    IcebergSource(table="iceberg.db.t", created_timestamp_field="created", options={"split-size": "1024"}),
    IcebergSource(path="s3://b/iceberg/t"),
    HudiSource(table="db.t", timestamp_field="ts"),
    HudiSource(path="/data/hudi/t", options={"hoodie.metadata.enable": "true"}),
])
def test_registry_form_round_trips(source: Source) -> None:
    assert Source.from_dict(json.loads(json.dumps(source.to_dict()))) == source
