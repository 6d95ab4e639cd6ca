"""The aggregation-view online service: materialize from the view's source, look up, measure consistency."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest
from dynamodb_local import DynamoDBLocal, aws_env, spark_aws_env, unique_table  # noqa: F401 - fixtures
from pyspark.sql import SparkSession

from featurespark import Aggregation, AggregationView, Entity, Field, ParquetSource
from featurespark.config import Config, parse_config
from featurespark.errors import InvalidArgumentError
from featurespark.online.tables import create_table, delete_table
from featurespark.services.online_aggregates import (
    consistency,
    get_online_aggregates,
    materialize_aggregation_view,
)

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
HORIZON = timedelta(minutes=30)
SCHEMA = "driver_id bigint, ts timestamp, fare double, city string"


def trips_view(path: Path) -> AggregationView:
    return AggregationView(
        name="trips", entities=[Entity("driver", join_keys={"driver_id": "int64"})],
        source=ParquetSource(path=str(path), timestamp_field="ts"),
        event_schema=[Field("fare", "float64"), Field("city", "string")],
        aggregations=[Aggregation("fare", "sum", windows=["1h", "1d"]), Aggregation("fare", "mean", windows=["1h"]),
                      Aggregation("city", "approx_count_distinct", windows=["1d", "lifetime"]),
                      Aggregation("fare", "last_k", windows=["1d"], k=2)],
    )


@pytest.fixture
def config(dynamodb_local: DynamoDBLocal, tmp_path: Path) -> Iterator[Config]:
    project = f"p{unique_table('')[1:]}"
    cfg = parse_config({"project": {"name": project}, "offline_store": {"root": str(tmp_path / "offline")},
                        "online_store": {"region": dynamodb_local.region, "endpoint_url": dynamodb_local.endpoint_url}})
    client = dynamodb_local.client()
    create_table(client, f"{project}.trips")
    yield cfg
    delete_table(client, f"{project}.trips")


def events(n: int) -> list[tuple[object, ...]]:
    return [(d, T0 + timedelta(minutes=7 * i + d), float(i % 5) + 0.5 * d, f"c{(i + d) % 3}")
            for i in range(n) for d in (1, 2, 3)]


def test_materialize_then_consistency_agrees_then_sees_late_events(
    spark: SparkSession, spark_aws_env: None, config: Config, tmp_path: Path,  # noqa: F811
) -> None:
    path = tmp_path / "trips"
    rows = events(30)  # up to T0 + 3h30
    spark.createDataFrame(rows, SCHEMA).write.parquet(str(path))
    view = trips_view(path)
    end = T0 + timedelta(hours=4)
    summary = materialize_aggregation_view(spark, config, view, end - HORIZON, end, horizon=HORIZON, threads=1)
    assert summary.items == 3

    times = [end, end + timedelta(minutes=11), end + HORIZON]
    report = consistency(spark, config, view, at=times, horizon=HORIZON, sample_keys=10)
    assert (report.rows, report.stale) == (9, 0)
    assert report.all_match, str(report)
    assert all(f.max_abs_diff == 0 or f.max_abs_diff < 1e-9 for f in report.features.values())

    values = get_online_aggregates(config, view, [{"driver_id": 1}, {"driver_id": 9}], horizon=HORIZON, at=end)
    assert values[1] == {"fare_sum_1h": None, "fare_sum_1d": None, "fare_mean_1h": None,
                         "city_approx_count_distinct_1d": 0, "city_approx_count_distinct_lifetime": 0,
                         "fare_last_k_1d": None}
    assert values[0]["city_approx_count_distinct_lifetime"] == 3

    # An event after `end`, not yet materialized: offline sees it from its time on, online does not.
    late = spark.createDataFrame([(1, end + timedelta(minutes=5), 100.0, "new")], SCHEMA)
    with_late = spark.read.parquet(str(path)).unionByName(late)
    report = consistency(spark, config, view, at=times, horizon=HORIZON, events=with_late, sample_keys=10)
    sums = report.features["fare_sum_1h"]
    assert (sums.compared, sums.matches) == (9, 7)  # driver 1 at end + 11 min and end + 30 min
    # At end + 11 min both have a value (diff 100); at end + 30 min the 1h window holds only the late event.
    assert sums.max_abs_diff == pytest.approx(100.0) and (sums.missing, sums.extra) == (1, 0)
    assert report.features["city_approx_count_distinct_lifetime"].matches == 7
    assert not report.all_match


def test_service_argument_errors(spark: SparkSession, config: Config, tmp_path: Path) -> None:
    view = trips_view(tmp_path / "none")
    with pytest.raises(InvalidArgumentError, match="start .* is after end"):
        materialize_aggregation_view(spark, config, view, T0, T0 - HORIZON, horizon=HORIZON)
    with pytest.raises(InvalidArgumentError, match="at least one lookup time"):
        consistency(spark, config, view, at=[], horizon=HORIZON)
