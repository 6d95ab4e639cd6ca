"""Materialization core: latest_per_key against a pandas oracle, and write_online through Spark."""
from __future__ import annotations

import logging
import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, Optional

import pandas as pd
import pytest
from dynamodb_local import DynamoDBLocal, aws_env, spark_aws_env, unique_table  # noqa: F401 - fixtures
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from featurespark.errors import InvalidArgumentError, SchemaMismatchError
from featurespark.errors import OnlineStoreError, TableNotFoundError
from featurespark.online.materialize import latest_per_key, write_online
from featurespark.online.reader import OnlineReader
from featurespark.online.tables import create_table, delete_table

UTC = timezone.utc
T0 = datetime(2024, 5, 1, tzinfo=UTC)
ROW_SCHEMA = T.StructType([
    T.StructField("case", T.IntegerType()),
    T.StructField("k1", T.StringType()),
    T.StructField("k2", T.IntegerType()),
    T.StructField("ts_us", T.LongType()),
    T.StructField("created_us", T.LongType()),
    T.StructField("v1", T.LongType()),
    T.StructField("v2", T.StringType()),
])
COLUMNS = ["case", "k1", "k2", "ts", "created", "v1", "v2"]
# Small domains so that keys repeat and timestamps tie; nulls everywhere they are allowed.
rows_strategy = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", None]),
        st.sampled_from([1, 2, None]),
        st.sampled_from([0, 10, 20, 30, None]),
        st.sampled_from([None, 1, 2]),
        st.sampled_from([None, 0, 1]),
        st.sampled_from(["x", "y", None]),
    ),
    max_size=25,
)
# Several independent data sets per example, told apart by a "case" key, so one Spark job checks them all.
cases_strategy = st.lists(rows_strategy, min_size=1, max_size=6).map(
    lambda cases: [(n, *row) for n, rows in enumerate(cases) for row in rows]
)


def with_timestamps(spark: SparkSession, rows: list[tuple[Any, ...]]) -> DataFrame:
    df = spark.createDataFrame(rows, ROW_SCHEMA)
    return df.select(
        "case", "k1", "k2",
        F.timestamp_micros("ts_us").alias("ts"),
        F.timestamp_micros("created_us").alias("created"),
        "v1", "v2",
    )


def pandas_latest(rows: list[tuple[Any, ...]], start: Optional[int], end: Optional[int]) -> list[tuple[Any, ...]]:
    """The oracle: filter, order every row by (ts, created, v1, v2) with nulls first, keep the last per key."""
    pdf = pd.DataFrame(rows, columns=COLUMNS, dtype=object)
    pdf = pdf[pdf["k1"].notna() & pdf["k2"].notna() & pdf["ts"].notna()]
    if start is not None:
        pdf = pdf[pdf["ts"] >= start]
    if end is not None:
        pdf = pdf[pdf["ts"] < end]
    if pdf.empty:
        return []

    def rank(row: pd.Series) -> tuple[Any, ...]:
        return tuple((0,) if row[c] is None else (1, row[c]) for c in ["ts", "created", "v1", "v2"])

    ranked = pdf.assign(rank=pdf.apply(rank, axis=1)).sort_values("rank", kind="stable")
    latest = ranked.groupby(["case", "k1", "k2"]).tail(1)
    return sorted((tuple(r) for r in latest[COLUMNS].itertuples(index=False)), key=repr)


def epoch(micros: Optional[int]) -> Optional[datetime]:
    return None if micros is None else datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cases_strategy, st.sampled_from([None, 10, 20]), st.sampled_from([None, 20, 31]))
def test_latest_per_key_matches_pandas(spark: SparkSession, rows: list[tuple[Any, ...]],
                                       start: Optional[int], end: Optional[int]) -> None:
    df = with_timestamps(spark, rows)
    result = latest_per_key(
        df, keys=["case", "k1", "k2"], event_timestamp="ts", created_timestamp="created", features=["v1", "v2"],
        start=epoch(start), end=epoch(end),
    )
    assert result.columns == COLUMNS
    got = result.select("case", "k1", "k2", F.unix_micros("ts"), F.unix_micros("created"), "v1", "v2").collect()
    assert sorted((tuple(r) for r in got), key=repr) == pandas_latest(rows, start, end)


def test_latest_per_key_is_one_partial_aggregation_and_one_shuffle(spark: SparkSession) -> None:
    df = with_timestamps(spark, [(0, "a", 1, 10, None, 1, "x")])
    result = latest_per_key(df, keys=["k1", "k2"], event_timestamp="ts", features=["v1", "v2"])
    plan = result._jdf.queryExecution().executedPlan().toString()
    # max(struct) runs as a (sort-based) partial aggregation: one row per key and partition is shuffled.
    assert "partial_max(struct(" in plan
    assert plan.count("Exchange ") == 1
    assert "Window" not in plan


def test_latest_per_key_errors(spark: SparkSession) -> None:
    df = with_timestamps(spark, [])
    missing = r"The DataFrame lacks column\(s\) \['nope'\]; it has \['case', 'created', 'k1'"
    with pytest.raises(SchemaMismatchError, match=missing):
        latest_per_key(df, keys=["k1"], event_timestamp="ts", features=["nope"])
    with pytest.raises(SchemaMismatchError, match=r"Column 'v1' must be a timestamp, found bigint. Cast it with"):
        latest_per_key(df, keys=["k1"], event_timestamp="v1", features=["v2"])
    with pytest.raises(InvalidArgumentError, match=r"keys must name at least one join-key column"):
        latest_per_key(df, keys=[], event_timestamp="ts", features=["v2"])


# ------------------------------------------------------------------------------- write_online

FEATURES_SCHEMA = T.StructType([
    T.StructField("user", T.StringType()),
    T.StructField("shop", T.LongType()),
    T.StructField("ts", T.TimestampType()),
    T.StructField("clicks", T.IntegerType()),
    T.StructField("score", T.DoubleType()),
    T.StructField("ratio", T.FloatType()),
    T.StructField("name", T.StringType()),
    T.StructField("active", T.BooleanType()),
    T.StructField("seen", T.TimestampType()),
    T.StructField("blob", T.BinaryType()),
    T.StructField("vec", T.ArrayType(T.DoubleType())),
    T.StructField("times", T.ArrayType(T.TimestampType())),
])
FEATURES = ["clicks", "score", "ratio", "name", "active", "seen", "blob", "vec", "times"]
TYPES = {"clicks": "int32", "score": "float64", "ratio": "float32", "name": "string", "active": "bool",
         "seen": "timestamp", "blob": "bytes", "vec": "array<float64>", "times": "array<timestamp>"}
KEYS = {"user": "string", "shop": "int64"}
SPECIAL = [float("nan"), float("inf"), float("-inf"), -0.0, 1e300, 5e-324, 0.1]


def feature_rows(n: int, *, at: datetime, offset: int = 0) -> list[tuple[Any, ...]]:
    return [
        (f"u{i}", i % 4, at, i + offset, SPECIAL[i % len(SPECIAL)], 0.5 if i % 3 else None, f"n{i}" if i % 5 else None,
         i % 2 == 0, at - timedelta(seconds=i), bytes([i % 256, 0]), [float(i), None, SPECIAL[i % len(SPECIAL)]],
         [at, None])
        for i in range(n)
    ]


@pytest.fixture
def table(dynamodb_local: DynamoDBLocal) -> Iterator[str]:
    client = dynamodb_local.client()
    name = unique_table("fs_mat")
    create_table(client, name, ttl_enabled=True)
    yield name
    delete_table(client, name)


@pytest.fixture
def reader(dynamodb_local: DynamoDBLocal, aws_env: dict[str, str]) -> Iterator[OnlineReader]:  # noqa: F811
    with OnlineReader(region=dynamodb_local.region, endpoint_url=dynamodb_local.endpoint_url) as online:
        yield online


def same(a: Any, b: Any) -> bool:
    if isinstance(b, float) and math.isnan(b):
        return isinstance(a, float) and math.isnan(a)
    if isinstance(b, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(b, list):
        return isinstance(a, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return bool(a == b)


def test_write_online_from_spark_then_read_back(
    spark: SparkSession, spark_aws_env: None, dynamodb_local: DynamoDBLocal,  # noqa: F811
    table: str, reader: OnlineReader,
) -> None:
    rows = feature_rows(45, at=T0)
    df = spark.createDataFrame(rows, FEATURES_SCHEMA).repartition(3)
    summary = write_online(
        df, table_name=table, keys=list(KEYS), features=FEATURES, event_timestamp="ts", region=dynamodb_local.region,
        endpoint_url=dynamodb_local.endpoint_url, ttl=timedelta(days=1), threads=2,
    )
    assert (summary.items, summary.partitions, summary.retries, summary.skipped_older) == (45, 3, 0, 0)
    assert summary.requests == 3  # 15 rows per task fit one 25-item BatchWriteItem each
    assert summary.items_per_second > 0

    entity_rows = [{"user": r[0], "shop": r[1]} for r in rows] + [{"user": "u1", "shop": 3}]
    got = reader.get(table, KEYS, entity_rows, TYPES, ttl=timedelta(days=1), now=T0 + timedelta(hours=1))
    expected = [dict(zip(FEATURES, r[3:])) for r in rows]
    for n, (actual, wanted) in enumerate(zip(got, expected)):
        for name in FEATURES:
            assert same(actual[name], wanted[name]), (n, name, actual[name], wanted[name])
    assert got[-1] == dict.fromkeys(FEATURES)  # (u1, 3) was never written
    stale = reader.get(table, KEYS, entity_rows[:1], TYPES, ttl=timedelta(days=1), now=T0 + timedelta(days=2))
    assert stale == [dict.fromkeys(FEATURES)]

    item = dynamodb_local.client().get_item(TableName=table, Key={"pk": {"S": "s2:u0i1:0"}})["Item"]
    assert item["expire_at"] == {"N": str(int(T0.timestamp()) + 86_400)}
    assert item["event_ts"] == {"N": str(int(T0.timestamp()) * 1_000_000)}


def test_latest_per_key_then_monotonic_write_never_regresses(
    spark: SparkSession, spark_aws_env: None, dynamodb_local: DynamoDBLocal,  # noqa: F811
    table: str, reader: OnlineReader,
) -> None:
    def materialize(rows: list[tuple[Any, ...]], mode: str) -> Any:
        df = spark.createDataFrame(rows, FEATURES_SCHEMA)
        latest = latest_per_key(df, keys=list(KEYS), event_timestamp="ts", features=FEATURES)
        return write_online(latest, table_name=table, keys=list(KEYS), features=FEATURES, event_timestamp="ts",
                            region=dynamodb_local.region, endpoint_url=dynamodb_local.endpoint_url, write_mode=mode)

    newer = feature_rows(10, at=T0 + timedelta(days=1), offset=1000) + feature_rows(10, at=T0, offset=500)
    assert materialize(newer, "monotonic").items == 10  # latest_per_key kept the newer row per key
    older = feature_rows(10, at=T0 - timedelta(days=1))
    summary = materialize(older, "monotonic")
    assert (summary.items, summary.skipped_older) == (0, 10)
    entity_rows = [{"user": f"u{i}", "shop": i % 4} for i in range(10)]
    assert [r["clicks"] for r in reader.get(table, KEYS, entity_rows, {"clicks": "int32"})] == list(range(1000, 1010))
    # The default mode writes regardless of age: the documented consequence of last-writer-wins.
    assert materialize(older, "last_writer_wins").items == 10
    assert [r["clicks"] for r in reader.get(table, KEYS, entity_rows, {"clicks": "int32"})] == list(range(10))


def test_rate_limit_and_progress_log(
    spark: SparkSession, spark_aws_env: None, dynamodb_local: DynamoDBLocal, table: str,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    df = spark.createDataFrame(feature_rows(200, at=T0), FEATURES_SCHEMA).repartition(2)
    caplog.set_level(logging.INFO, logger="featurespark.online.materialize")
    summary = write_online(
        df, table_name=table, keys=list(KEYS), features=["clicks"], event_timestamp="ts",
        region=dynamodb_local.region, endpoint_url=dynamodb_local.endpoint_url,
        max_items_per_second=100, progress_interval_s=0.2,
    )
    # 100 items/s over 2 partitions: each task 50/s with a 50-item burst, 100 items -> at least 1 s.
    assert summary.items == 200 and summary.seconds >= 1.0
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith(f"Online write to {table}: ") for m in messages)
    assert any(m.startswith(f"Online write done: 200 items to {table} in ") for m in messages)
    assert any("(last_writer_wins, 100 items/s, 4 threads/task)" in m for m in messages)


def test_write_to_a_missing_table_fails_with_the_task_error(
    spark: SparkSession, spark_aws_env: None, dynamodb_local: DynamoDBLocal  # noqa: F811
) -> None:
    df = spark.createDataFrame(feature_rows(3, at=T0), FEATURES_SCHEMA).coalesce(1)
    with pytest.raises(OnlineStoreError) as info:
        write_online(df, table_name="fs_missing_table", keys=list(KEYS), features=["clicks"], event_timestamp="ts",
                     region=dynamodb_local.region, endpoint_url=dynamodb_local.endpoint_url)
    message = str(info.value)
    assert isinstance(info.value, TableNotFoundError)  # the task's own error type, raised once on the driver
    assert re.match(r"Writing DynamoDB table 'fs_missing_table' failed in [12] of 2 Spark task\(s\) \(0 items were written",
                    message)
    assert "TableNotFoundError: DynamoDB table 'fs_missing_table' does not exist at http://127.0.0.1:" in message


def test_write_online_schema_errors(spark: SparkSession) -> None:
    df = spark.createDataFrame(feature_rows(1, at=T0), FEATURES_SCHEMA)
    common: dict[str, Any] = {"table_name": "t", "event_timestamp": "ts", "region": "us-east-1"}
    with pytest.raises(SchemaMismatchError, match=r"Join key 'score' is double; online join keys must be string, int"):
        write_online(df, keys=["score"], features=["clicks"], **common)
    declared = r"Feature 'clicks' is declared int64 but the column is int \(int32\)\. Cast the column"
    with pytest.raises(SchemaMismatchError, match=declared):
        write_online(df, keys=["user"], features=["clicks"], feature_types={"clicks": "int64"}, **common)
    ntz = df.withColumn("ts", F.col("ts").cast("timestamp_ntz"))
    with pytest.raises(SchemaMismatchError, match=r"Column 'ts' is timestamp_ntz; write_online needs a timestamp with"):
        write_online(ntz, keys=["user"], features=["clicks"], **common)
    with pytest.raises(SchemaMismatchError, match=r"Feature name\(s\) \['expire_at'\] clash with attributes"):
        write_online(df.withColumnRenamed("clicks", "expire_at"), keys=["user"], features=["expire_at"], **common)
    with pytest.raises(InvalidArgumentError, match=r"max_items_per_second must be positive, got 0"):
        write_online(df, keys=["user"], features=["clicks"], max_items_per_second=0, **common)
