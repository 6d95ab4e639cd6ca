from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from chispa import assert_df_equality
from helpers import SharedStores, both_offline_formats, node_name
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from featurespark import FeatureStore
from featurespark.retry import RetryPolicy
from featurespark.services.locations import managed_table_of
from featurespark.definitions import Entity, FeatureView, Field, ManagedSource, ParquetSource
from featurespark.errors import (
    InvalidArgumentError,
    InvalidRowsError,
    SchemaMismatchError,
    TimeTravelError,
    WriteConflictError,
)

UTC = timezone.utc
T0 = datetime(2026, 1, 1, tzinfo=UTC)
driver = Entity("driver", join_keys={"driver_id": "int64"})
SCHEMA = "driver_id long, event_timestamp timestamp, created timestamp, conv_rate double, trips long"


def stats_view(name: str, encoding: str | None = None) -> FeatureView:
    return FeatureView(
        name=name,
        entities=[driver],
        schema=[Field("conv_rate", "float64"), Field("trips", "int64")],
        source=ManagedSource(created_timestamp_field="created", timestamp_encoding=encoding),
        ttl=timedelta(days=1),
    )


def view_name(item: pytest.Item) -> str:
    """The feature view of one test (of one parametrization), unique in the module."""
    return "stats_" + node_name(item).removeprefix("test_")


@pytest.fixture(scope="module")
def shared_stores(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory,
                  request: pytest.FixtureRequest) -> SharedStores:
    """A store per offline format for the module, every test's view applied at once: each test's assertions are
    about its own view's table (its rows, versions, quarantine table, concurrent writers), which no other test
    writes."""
    return SharedStores(spark, tmp_path_factory.mktemp("offline-writer"), request,
                        lambda item: [driver, stats_view(view_name(item))])


@pytest.fixture
def view(request: pytest.FixtureRequest) -> str:
    """This test's feature view."""
    return view_name(request.node)


@pytest.fixture
def store(shared_stores: SharedStores, request: pytest.FixtureRequest, offline_format: str) -> FeatureStore:
    """The format's shared store, with this test's view applied."""
    return shared_stores.get(offline_format, request.node)


def rows(spark: SparkSession, data: list[tuple]) -> DataFrame:
    return spark.createDataFrame(data, SCHEMA)


def table(store: FeatureStore, view: str) -> DataFrame:
    return store.read_features(view).df.drop("_event_date")


def h(n: int) -> datetime:
    return T0 + timedelta(hours=n)


@both_offline_formats
def test_append_and_read_back(spark: SparkSession, store: FeatureStore, view: str, offline_format: str) -> None:
    created = store.read_features(view).version
    batch = rows(spark, [(1, h(0), h(0), 0.5, 3), (2, h(1), h(1), 0.25, 4)])
    summary = store.write_features(view, batch)
    assert (summary.rows_in, summary.rows_written, summary.rows_rejected) == (2, 2, 0)
    assert summary.table_version == store.read_features(view).version != created
    assert f"{view} (append): 2 rows in, 2 written" in summary.line()
    assert_df_equality(table(store, view), batch, ignore_row_order=True)
    # Partitioned by the event date (Delta: a column generated from the event timestamp; Iceberg: days()).
    if offline_format == "delta":
        assert summary.table_version == 1  # 0 is the table's creation by apply
        dates = store.read_features(view).df.select("_event_date").distinct().collect()
    else:
        name = managed_table_of(store.config, stats_view(view)).name
        dates = spark.read.format("iceberg").load(f"{name}.partitions").select("partition.*").collect()
    assert [r[0].isoformat() for r in dates] == ["2026-01-01"]


@both_offline_formats
def test_upsert_is_idempotent_and_updates_changed_rows(spark: SparkSession, store: FeatureStore, view: str) -> None:
    batch = rows(spark, [(1, h(0), h(0), 0.5, 3), (2, h(1), h(1), 0.25, 4)])
    first = store.write_features(view, batch, mode="upsert")
    assert (first.rows_written, first.rows_updated, first.rows_unchanged) == (2, 0, 0)
    again = store.write_features(view, batch, mode="upsert")
    assert (again.rows_written, again.rows_updated, again.rows_unchanged) == (0, 0, 2)
    assert_df_equality(table(store, view), batch, ignore_row_order=True)

    changed = rows(spark, [(1, h(0), h(2), 0.75, 3), (3, h(0), h(0), 0.1, 1)])
    third = store.write_features(view, changed, mode="upsert")
    assert (third.rows_written, third.rows_updated, third.rows_unchanged) == (1, 1, 0)
    expected = rows(spark, [(1, h(0), h(2), 0.75, 3), (2, h(1), h(1), 0.25, 4), (3, h(0), h(0), 0.1, 1)])
    assert_df_equality(table(store, view), expected, ignore_row_order=True)


@both_offline_formats
def test_upsert_keeps_latest_correction_within_a_batch(spark: SparkSession, store: FeatureStore, view: str) -> None:
    batch = rows(spark, [(1, h(0), h(0), 0.5, 3), (1, h(0), h(5), 0.6, 3), (1, h(1), h(1), 0.7, 3)])
    summary = store.write_features(view, batch, mode="upsert")
    assert (summary.rows_in, summary.rows_written, summary.rows_superseded) == (3, 2, 1)
    expected = rows(spark, [(1, h(0), h(5), 0.6, 3), (1, h(1), h(1), 0.7, 3)])
    assert_df_equality(table(store, view), expected, ignore_row_order=True)


def test_missing_columns_and_unsafe_types_write_nothing(spark: SparkSession, store: FeatureStore, view: str) -> None:
    bad = spark.createDataFrame([(1, h(0), "high")], "driver_id long, event_timestamp timestamp, conv_rate string")
    with pytest.raises(SchemaMismatchError) as err:
        store.write_features(view, bad)
    msg = str(err.value)
    assert f"Batch for '{view}' does not fit feature view '{view}'" in msg
    assert "column 'created' is missing" in msg and "column 'trips' is missing" in msg
    assert "column 'conv_rate' has type string but the view declares float64" in msg
    assert "Expected columns: driver_id, event_timestamp, created, conv_rate, trips" in msg
    assert table(store, view).count() == 0


def test_pandas_float_for_int_gets_a_hint(store: FeatureStore, view: str) -> None:
    pdf = pd.DataFrame({"driver_id": [1, 2], "event_timestamp": [h(0), h(1)], "created": [h(0), h(1)],
                        "conv_rate": [0.5, 0.1], "trips": [1.0, None]})
    with pytest.raises(SchemaMismatchError, match="pandas turns integer columns with missing values into float64"):
        store.write_features(view, pdf)


def test_safe_widening_is_cast(spark: SparkSession, store: FeatureStore, view: str) -> None:
    narrow = spark.createDataFrame([(1, h(0), h(0), 0.5, 3)],
                                   "driver_id int, event_timestamp timestamp, created timestamp, "
                                   "conv_rate float, trips int")
    store.write_features(view, narrow)
    assert table(store, view).schema == rows(spark, []).schema


def test_invalid_rows_fail_with_counts_and_samples(spark: SparkSession, store: FeatureStore, view: str) -> None:
    batch = rows(spark, [(1, h(0), h(0), 0.5, 3), (None, h(0), h(0), 0.1, 1), (None, None, h(0), 0.2, 1),
                         (2, None, None, 0.3, 1)])
    with pytest.raises(InvalidRowsError) as err:
        store.write_features(view, batch)
    assert err.value.counts == {
        "null join key 'driver_id'": 1,
        "null join key 'driver_id'; null event timestamp 'event_timestamp'": 1,
        "null event timestamp 'event_timestamp'": 1,
    }
    assert len(err.value.samples) == 3
    assert f"3 of 4 row(s) for feature view '{view}' are invalid; nothing was written" in str(err.value)
    assert 'pass on_invalid="quarantine"' in str(err.value)
    assert table(store, view).count() == 0


@both_offline_formats
def test_quarantine_writes_valid_rows_and_keeps_invalid(spark: SparkSession, store: FeatureStore, view: str) -> None:
    batch = rows(spark, [(1, h(0), h(0), 0.5, 3), (None, h(0), h(0), 0.1, 1)])
    summary = store.write_features(view, batch, on_invalid="quarantine")
    assert (summary.rows_written, summary.rows_rejected) == (1, 1)
    assert summary.quarantine_table is not None and summary.quarantine_table.endswith(f".{view}_quarantine")
    quarantined = spark.table(summary.quarantine_table)
    assert quarantined.select("conv_rate", "_reject_reason").collect() == [(0.1, "null join key 'driver_id'")]
    assert table(store, view).count() == 1


def test_pandas_naive_is_utc_and_aware_is_converted(spark: SparkSession, store: FeatureStore, view: str) -> None:
    naive = pd.DataFrame({"driver_id": [1], "event_timestamp": [pd.Timestamp("2026-01-01 10:00")],
                          "created": [pd.Timestamp("2026-01-01 10:00")], "conv_rate": [0.5], "trips": [1]})
    aware = pd.DataFrame({"driver_id": [2], "event_timestamp": [pd.Timestamp("2026-01-01 12:00", tz="Europe/Berlin")],
                          "created": [pd.Timestamp("2026-01-01 12:00", tz="Europe/Berlin")],
                          "conv_rate": [0.5], "trips": [1]})
    before = naive.copy()
    store.write_features(view, naive)
    store.write_features(view, aware)
    pd.testing.assert_frame_equal(naive, before)  # the caller's frame is not modified
    got = {r["driver_id"]: r["micros"] for r in
           table(store, view).select("driver_id", F.unix_micros("event_timestamp").alias("micros")).collect()}
    assert got == {1: int(datetime(2026, 1, 1, 10, tzinfo=UTC).timestamp() * 1e6),
                   2: int(datetime(2026, 1, 1, 11, tzinfo=UTC).timestamp() * 1e6)}


def test_dates_and_epochs_refused_unless_encoded(spark: SparkSession, store: FeatureStore, view: str) -> None:
    epoch = spark.createDataFrame([(1, 1767225600000, 1767225600000, 0.5, 1)],
                                  "driver_id long, event_timestamp long, created long, conv_rate double, trips long")
    with pytest.raises(SchemaMismatchError, match="column 'event_timestamp' holds bigint values, not timestamps. "
                                                  "featurespark will not guess"):
        store.write_features(view, epoch)
    dated = spark.createDataFrame([(1, T0.date(), T0.date(), 0.5, 1)],
                                  "driver_id long, event_timestamp date, created date, conv_rate double, trips long")
    with pytest.raises(SchemaMismatchError, match="holds date values, not timestamps.*timestamp_encoding"):
        store.write_features(view, dated)
    store.write_features(stats_view(view, "epoch_millis"), epoch)
    assert [r[0] for r in table(store, view).select("event_timestamp").collect()] == [T0.replace(tzinfo=None)]


@both_offline_formats
def test_time_travel_by_version_and_time(spark: SparkSession, store: FeatureStore, view: str,
                                         offline_format: str) -> None:
    store.write_features(view, rows(spark, [(1, h(0), h(0), 0.5, 3)]))
    v1 = store.read_features(view)
    mid = datetime.now(UTC)
    store.write_features(view, rows(spark, [(2, h(0), h(0), 0.5, 3)]))
    latest = store.read_features(view)
    assert latest.version != v1.version and latest.df.count() == 2
    assert store.read_features(view, version=v1.version).df.count() == 1
    assert store.read_features(view, as_of=mid).version == v1.version
    if offline_format == "delta":
        assert latest.version == v1.version + 1
        missing, before_first = "has versions 0 to 2; version 9 does not exist", "has no version at or before 2000-01-01"
    else:  # versions are snapshot ids
        missing, before_first = "has no snapshot 9 ", "has no snapshot at or before 2000-01-01"
    with pytest.raises(TimeTravelError, match=missing):
        store.read_features(view, version=9)
    with pytest.raises(TimeTravelError, match=before_first):
        store.read_features(view, as_of=datetime(2000, 1, 1))


@both_offline_formats
def test_two_concurrent_appends_and_upserts_succeed(spark: SparkSession, store: FeatureStore, view: str) -> None:
    errors: list[BaseException] = []

    def write(batch: DataFrame, mode: str) -> None:
        try:
            store.write_features(view, batch, mode=mode)  # type: ignore[arg-type]
        except BaseException as exc:  # pragma: no cover - asserted below
            errors.append(exc)

    def run_pair(mode: str, a: list[tuple], b: list[tuple]) -> None:
        threads = [threading.Thread(target=write, args=(rows(spark, d), mode)) for d in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    run_pair("append", [(1, h(0), h(0), 0.5, 3)], [(2, h(0), h(0), 0.5, 3)])
    run_pair("upsert", [(1, h(0), h(0), 0.9, 3), (3, h(0), h(0), 0.1, 1)],
             [(2, h(0), h(0), 0.8, 3), (4, h(0), h(0), 0.1, 1)])
    assert errors == []
    got = {r["driver_id"]: r["conv_rate"] for r in table(store, view).collect()}
    assert got == {1: 0.9, 2: 0.8, 3: 0.1, 4: 0.1}


class _Conflict(Exception):
    pass


class _IcebergConflict(Exception):
    pass


_Conflict.__name__ = "ConcurrentAppendException"
_IcebergConflict.__name__ = "CommitFailedException"


@both_offline_formats
def test_upsert_gives_up_after_bounded_conflicts(spark: SparkSession, store: FeatureStore, view: str,
                                                 offline_format: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # A conflict on every attempt cannot be produced on demand by a real table: fake the MERGE.
    from delta.tables import DeltaTable

    from featurespark.offline.iceberg import IcebergFormat

    calls = []

    def conflicting_merge(self: object, *args: object, **kwargs: object) -> object:
        calls.append(1)
        if offline_format == "iceberg":
            raise _IcebergConflict("Cannot commit: stale table metadata")
        raise _Conflict("Files were added by a concurrent update")

    if offline_format == "iceberg":
        monkeypatch.setattr(IcebergFormat, "merge", conflicting_merge)
    else:
        monkeypatch.setattr(DeltaTable, "merge", conflicting_merge)
    from featurespark.offline.writer import write_features

    with pytest.raises(WriteConflictError, match=r"kept conflicting with concurrent writers \(3 attempts\); nothing "
                                                 "from this batch was written"):
        write_features(spark, stats_view(view), rows(spark, [(1, h(0), h(0), 0.5, 3)]),
                       managed_table_of(store.config, stats_view(view)), mode="upsert",
                       retry=RetryPolicy(max_attempts=3, base_delay_s=0.0, max_delay_s=0.0))
    assert len(calls) == 3


def test_only_managed_views_are_written(spark: SparkSession, store: FeatureStore, view: str, tmp_path: Path) -> None:
    external = FeatureView(name="ext", entities=[driver], schema=[Field("conv_rate", "float64")],
                           source=ParquetSource(path=str(tmp_path)))
    with pytest.raises(InvalidArgumentError, match="featurespark only writes to views with a ManagedSource"):
        store.write_features(external, rows(spark, []))
    with pytest.raises(InvalidArgumentError, match="mode must be one of 'append', 'upsert'; got 'merge'"):
        store.write_features(view, rows(spark, []), mode="merge")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="has no versions"):
        store.read_features(external)
