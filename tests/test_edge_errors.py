"""Clear errors at the edges: what users hit first with pandas, Parquet written by pandas, entity rows."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from helpers import make_config
from pyspark.sql import SparkSession

from featurespark import FeatureStore
from featurespark.definitions import Entity, FeatureView, Field, ParquetSource
from featurespark.errors import SchemaMismatchError, SourceSchemaError

driver = Entity("driver", join_keys={"driver_id": "int64"})


@pytest.fixture
def store(spark: SparkSession, tmp_path: Path) -> FeatureStore:
    s = FeatureStore(spark, make_config(tmp_path))
    s.apply([driver, FeatureView(name="stats", entities=[driver], schema=[Field("rate", "float64")], online=False)])
    return s


def test_a_string_in_a_numeric_pandas_column_names_the_column(store: FeatureStore) -> None:
    rows = pd.DataFrame({"driver_id": [1, 2], "event_timestamp": pd.to_datetime(["2026-01-01", "2026-01-02"]),
                         "rate": [0.5, "n/a"]})
    with pytest.raises(SchemaMismatchError, match=r"pandas column 'rate' mixes value types \(float, str\) and cannot "
                                                  r"be converted .*pd.to_numeric\(df\['rate'\], errors='coerce'\)"):
        store.write_features("stats", rows)


def test_parquet_with_nanosecond_timestamps_says_how_to_write_it(store: FeatureStore, tmp_path: Path) -> None:
    path = tmp_path / "raw"
    path.mkdir()
    pd.DataFrame({"driver_id": [1], "event_timestamp": pd.to_datetime(["2026-01-01"]), "rate": [0.5]}).to_parquet(
        path / "part-0.parquet")  # pandas' defaults: INT64 TIMESTAMP(NANOS)
    view = FeatureView(name="raw", entities=[driver], schema=[Field("rate", "float64")],
                       source=ParquetSource(path=str(path)), online=False)
    with pytest.raises(SourceSchemaError, match=r"holds timestamps in nanoseconds .*coerce_timestamps='us'") as info:
        store.plan([driver, view])
    assert "Check the path" not in str(info.value)


def test_entity_rows_with_epoch_numbers_get_advice_about_entity_rows(store: FeatureStore) -> None:
    orders = pd.DataFrame({"driver_id": [1], "event_timestamp": [1767225600]})
    with pytest.raises(SchemaMismatchError) as info:
        store.get_historical_features(orders, ["stats:rate"])
    message = str(info.value)
    assert "Entity rows: column 'event_timestamp' holds bigint values" in message
    assert "F.timestamp_seconds" in message
    assert "writing" not in message and "timestamp_encoding" not in message


def test_a_non_utc_session_is_refused_before_anything_is_written(spark: SparkSession, tmp_path: Path) -> None:
    from featurespark.errors import ConfigError

    previous = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", "Europe/Paris")
    try:
        with pytest.raises(ConfigError, match=r"FeatureStore needs a Spark session in UTC, but "
                                              r"spark.sql.session.timeZone is 'Europe/Paris'"):
            FeatureStore(spark, make_config(tmp_path))
    finally:
        spark.conf.set("spark.sql.session.timeZone", previous)
    assert spark.conf.get("spark.sql.session.timeZone") == previous
