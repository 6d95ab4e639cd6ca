"""JdbcSource against a real PostgreSQL on 127.0.0.1, and RedshiftSource's reader configuration.

Nothing here runs Redshift: its cases check the options generated for the Spark Redshift connector and
their wiring from the config (docs/offline_store.md says what was checked only against AWS's docs).
"""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from chispa import assert_df_equality
from helpers import make_config
from postgres_local import USER, PostgresServer
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from featurespark import FeatureStore
from featurespark.config import parse_config
from featurespark.definitions import DeltaSource, Entity, FeatureView, Field, JdbcSource, RedshiftSource, Source
from featurespark.errors import ConfigError, DefinitionError, SourceNotFoundError, SourceSchemaError
from featurespark.offline.jdbc import REDSHIFT_FORMAT, RedshiftConnection, reader_options
from featurespark.offline.sources import read_source
from featurespark.services.locations import redshift_connection

UTC = timezone.utc
T0 = datetime(2026, 1, 1, tzinfo=UTC)
driver = Entity("driver", join_keys={"driver_id": "int64"})
_ids = itertools.count()


def h(n: float) -> datetime:
    return T0 + timedelta(hours=n)


@pytest.fixture
def pg_env(postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> PostgresServer:
    monkeypatch.setenv("FS_TEST_PG_USER", USER)
    monkeypatch.setenv("FS_TEST_PG_PASSWORD", postgres.password)
    return postgres


def feature_rows(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame([(1, h(0), 0.1), (1, h(1), 0.2), (2, h(0), 0.9), (2, h(-72), 0.5)],
                                 "driver_id long, event_timestamp timestamp, conv_rate double")


def pg_table(spark: SparkSession, server: PostgresServer, df: DataFrame) -> str:
    name = f"public.stats_{next(_ids)}"
    df.write.format("jdbc").options(url=server.url, dbtable=name, user=USER, password=server.password,
                           driver="org.postgresql.Driver") \
        .mode("errorifexists").save()
    return name


def jdbc(server: PostgresServer, **kwargs: str) -> JdbcSource:
    return JdbcSource(url=server.url, user_env="FS_TEST_PG_USER", password_env="FS_TEST_PG_PASSWORD", **kwargs)


def test_table_and_query_give_the_same_training_set_as_delta(spark: SparkSession, pg_env: PostgresServer,
                                                              tmp_path: Path) -> None:
    table = pg_table(spark, pg_env, feature_rows(spark))
    feature_rows(spark).write.format("delta").save(str(tmp_path / "delta"))
    common = dict(entities=[driver], schema=[Field("conv_rate", "float64")], ttl=timedelta(hours=2))
    sources: dict[str, Source] = {
        "by_table": jdbc(pg_env, table=table),
        "by_query": jdbc(pg_env, query=f"SELECT driver_id, event_timestamp, conv_rate FROM {table}",
                         options={"fetchsize": "100"}),
        "in_delta": DeltaSource(path=str(tmp_path / "delta")),
    }
    store = FeatureStore(spark, make_config(tmp_path))
    store.apply([driver, *(FeatureView(name=n, source=s, **common) for n, s in sources.items())])  # type: ignore[arg-type]
    entities = spark.createDataFrame([(1, h(0.5)), (1, h(1)), (2, h(1.5)), (2, h(3)), (3, h(1))],
                                     "driver_id long, event_timestamp timestamp")
    want = store.get_historical_features(entities, ["in_delta:conv_rate"])
    for name in ("by_table", "by_query"):
        got = store.get_historical_features(entities, [f"{name}:conv_rate"])
        # JDBC columns carry metadata (scale, ...) that Delta's do not: compare the schemas' types and the rows.
        assert [(f.name, f.dataType) for f in got.schema] == [(f.name, f.dataType) for f in want.schema]
        assert_df_equality(got, want, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True)
    assert sorted(r["conv_rate"] for r in want.collect() if r["conv_rate"] is not None) == [0.1, 0.2, 0.9]


def test_the_time_window_is_sent_to_the_database(spark: SparkSession, pg_env: PostgresServer) -> None:
    table = pg_table(spark, pg_env, feature_rows(spark))
    view = FeatureView(name="v", entities=[driver], schema=[Field("conv_rate", "float64")],
                       source=jdbc(pg_env, table=table))
    df = read_source(spark, view).where(F.col("event_timestamp") >= F.lit(h(0)))
    plan = df._jdf.queryExecution().executedPlan().toString()
    assert "PushedFilters: [*IsNotNull(event_timestamp), *GreaterThanOrEqual(event_timestamp" in plan, plan
    assert df.count() == 3


def test_errors_name_the_source_never_the_password(spark: SparkSession, pg_env: PostgresServer,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    view = FeatureView(name="v", entities=[driver], schema=[Field("conv_rate", "float64")],
                       source=jdbc(pg_env, table="public.nothing_here"))
    with pytest.raises(SourceNotFoundError) as missing:
        read_source(spark, view)
    assert f"JdbcSource table public.nothing_here at {pg_env.url} cannot be read" in str(missing.value)
    assert "nothing_here" in str(missing.value) and pg_env.password not in str(missing.value)

    monkeypatch.setenv("FS_TEST_PG_PASSWORD", "wrong-" + pg_env.password)
    with pytest.raises(SourceNotFoundError) as denied:
        read_source(spark, view)
    assert "password authentication failed" in str(denied.value)
    assert "FS_TEST_PG_PASSWORD" in str(denied.value) and pg_env.password not in str(denied.value)

    monkeypatch.delenv("FS_TEST_PG_PASSWORD")
    with pytest.raises(ConfigError, match="JdbcSource.password_env names the environment variable "
                                          "FS_TEST_PG_PASSWORD, which is not set"):
        read_source(spark, view)


@pytest.mark.parametrize(("make", "error"), [
    (lambda: JdbcSource(url="jdbc:postgresql://db/f", table="t", query="select 1"),
     "JdbcSource needs exactly one of table or query"),
    (lambda: JdbcSource(url="postgresql://db/f", table="t"), "JdbcSource.url must start with 'jdbc:'"),
    (lambda: JdbcSource(url="jdbc:postgresql://db/f?user=a&password=b", table="t"),
     "JdbcSource.url holds a password; remove it and name an environment variable in password_env instead."),
    (lambda: JdbcSource(url="jdbc:postgresql://db/f", table="t", password_env="hunter 2!"),
     "JdbcSource.password_env names an environment variable holding the credential"),
    (lambda: JdbcSource(url="jdbc:postgresql://db/f", table="t", options={"password": "x"}),
     "JdbcSource.options has unknown option(s) 'password'; allowed: fetchsize"),
    (lambda: RedshiftSource(), "RedshiftSource needs exactly one of table or query"),
])
def test_definition_errors(make: object, error: str) -> None:
    with pytest.raises(DefinitionError) as info:
        make()  # type: ignore[operator]
    assert error in str(info.value)
    assert "hunter" not in str(info.value)


CONNECTION = RedshiftConnection(url="jdbc:redshift:iam://c.abc.eu-west-1.redshift.amazonaws.com:5439/dev",
                                temp_dir="s3://bucket/tmp/redshift/", iam_role="arn:aws:iam::123456789012:role/rs")


def test_redshift_reader_configuration() -> None:
    fmt, options = reader_options(RedshiftSource(table="analytics.trips", options={"fetchsize": "10"}),
                                  redshift=CONNECTION, env={})
    assert fmt == REDSHIFT_FORMAT == "io.github.spark_redshift_community.spark.redshift"
    assert options == {"fetchsize": "10", "tempdir": "s3://bucket/tmp/redshift/",
                       "aws_iam_role": "arn:aws:iam::123456789012:role/rs", "url": CONNECTION.url,
                       "dbtable": "analytics.trips"}
    with_password = RedshiftConnection(url="jdbc:redshift://c:5439/dev", temp_dir="s3://b/t/", iam_role="arn:r",
                                       user_env="RS_USER", password_env="RS_PASSWORD")
    fmt, options = reader_options(RedshiftSource(query="select 1", url="jdbc:redshift://other:5439/dev"),
                                  redshift=with_password, env={"RS_USER": "u", "RS_PASSWORD": "p"})
    assert (options["url"], options["query"], options["user"], options["password"]) == \
        ("jdbc:redshift://other:5439/dev", "select 1", "u", "p")
    with pytest.raises(ConfigError, match="A RedshiftSource needs the redshift section of the config"):
        reader_options(RedshiftSource(table="t"), env={})


def test_redshift_settings_come_from_the_config() -> None:
    raw = {"project": {"name": "p"}, "offline_store": {"root": "/tmp/fs"},
           "redshift": {"url": CONNECTION.url, "temp_dir": CONNECTION.temp_dir, "iam_role": CONNECTION.iam_role}}
    assert redshift_connection(parse_config(raw)) == CONNECTION
    assert redshift_connection(parse_config({**raw, "redshift": None})) is None
    with pytest.raises(ConfigError, match="the redshift section needs temp_dir, iam_role"):
        redshift_connection(parse_config({**raw, "redshift": {"url": CONNECTION.url}}))
    with pytest.raises(ConfigError, match="unknown key 'redshift.tempdir'. Allowed here: url, temp_dir"):
        parse_config({**raw, "redshift": {"tempdir": "s3://b/"}})


@pytest.mark.parametrize("source", [
    JdbcSource(url="jdbc:postgresql://db/f", table="t", user_env="U", password_env="P", options={"fetchsize": "5"}),
    JdbcSource(url="jdbc:postgresql://db/f", query="select 1", timestamp_field="ts"),
    RedshiftSource(table="analytics.trips"),
])
def test_registry_form_round_trips(source: Source) -> None:
    assert Source.from_dict(source.to_dict()) == source


def test_redshift_views_take_the_config_section(spark: SparkSession, tmp_path: Path) -> None:
    # Nothing answers on these URLs: what is checked is that apply reaches the connector with the config's
    # settings (an incomplete section is named before any connection is tried).
    view = FeatureView(name="rs", entities=[driver], schema=[Field("conv_rate", "float64")],
                       source=RedshiftSource(table="analytics.trips"))
    store = FeatureStore(spark, make_config(tmp_path))
    with pytest.raises(SourceSchemaError, match="A RedshiftSource needs the redshift section of the config"):
        store.apply([driver, view])
    incomplete = parse_config({"project": {"name": "t"}, "offline_store": {"root": str(tmp_path / "o")},
                               "online_store": {"manage_tables": False}, "redshift": {"url": CONNECTION.url}})
    with pytest.raises(SourceSchemaError, match=r"FeatureView 'rs': cannot read its source \(redshift table "
                                                r"analytics.trips\): <config>: the redshift section needs temp_dir, "
                                                r"iam_role"):
        FeatureStore(spark, incomplete).apply([driver, view])
