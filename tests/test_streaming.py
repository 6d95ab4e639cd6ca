"""Streaming and push writes into both stores, against Delta and a local DynamoDB endpoint (moto server).

The streams read JSON files one file per micro-batch (``maxFilesPerTrigger=1``, ``availableNow``),
so every test knows which rows each batch holds. Crashes are injected between the steps of a
batch; the restarted query must leave every event in each store exactly once and the newest
value per key online.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from dynamodb_local import DynamoDBLocal, aws_env, spark_aws_env  # noqa: F401 - fixtures
from helpers import SharedStores, both_offline_formats, crash_on_call, delta_commits, node_name, write_json_file
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

import featurespark.services.push as push_module
import featurespark.services.stream as stream_module
from featurespark import FeatureStore
from featurespark.definitions import Entity, FeatureView, Field, ManagedSource, ParquetSource
from featurespark.errors import InvalidArgumentError, InvalidRowsError, SchemaMismatchError
from featurespark.offline.iceberg import TXN_VERSION_PROPERTY
from featurespark.services.locations import managed_table_of
from featurespark.errors import OnlineStoreError

UTC = timezone.utc
T0 = datetime(2026, 3, 1, tzinfo=UTC)
SCHEMA = "driver_id long, event_timestamp timestamp, created timestamp, conv_rate double"
driver = Entity("driver", join_keys={"driver_id": "int64"})


def h(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def view_name(item: pytest.Item) -> str:
    """The feature view of one test (of one parametrization: each has a view, and an online table, of its own)."""
    return "st_" + node_name(item).removeprefix("test_")


def definitions(item: pytest.Item) -> list[object]:
    """What one test needs applied: its view."""
    return [driver, FeatureView(name=view_name(item), entities=[driver], schema=[Field("conv_rate", "float64")],
                                source=ManagedSource(created_timestamp_field="created"), ttl=None)]


@pytest.fixture(scope="module")
def shared_stores(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory, dynamodb_local: DynamoDBLocal,
                  request: pytest.FixtureRequest) -> SharedStores:
    """A store per offline format for the module, every test's view applied at once: each test's assertions are
    about its own view (its rows, online items, commits and quarantine table), which no other test writes."""
    return SharedStores(spark, tmp_path_factory.mktemp("streaming"), request, definitions,
                        endpoint_url=dynamodb_local.endpoint_url)


@pytest.fixture
def store(spark: SparkSession, shared_stores: SharedStores, spark_aws_env: None, request: pytest.FixtureRequest,
          offline_format: str) -> Iterator[FeatureStore]:
    """The format's shared store, with ``test_view`` naming this test's view; stops the test's streams after it."""
    s = shared_stores.get(offline_format, request.node)
    s.test_view = view_name(request.node)  # type: ignore[attr-defined]
    yield s
    for query in spark.streams.active:
        query.stop()


class Batches:
    """JSON files, one per micro-batch, with increasing modification times (the file source's order)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def add(self, rows: list[tuple[Any, Any, Any, Any]]) -> None:
        write_json_file(self.folder / f"batch-{self.count:04d}.json",
                        ({"driver_id": driver_id, "event_timestamp": iso(event) if event else None,
                          "created": iso(created) if created else None, "conv_rate": rate}
                         for driver_id, event, created, rate in rows),
                        mtime=1_700_000_000 + 10 * self.count)
        self.count += 1


def events(spark: SparkSession, folder: Path) -> DataFrame:
    return spark.readStream.schema(SCHEMA).option("maxFilesPerTrigger", 1).json(str(folder))


def run(store: FeatureStore, folder: Path, checkpoint: Path, **options: Any) -> StreamingQuery:
    """Start a stream over the folder's files and wait until it has processed all of them (or failed)."""
    query = store.write_stream(store.test_view, events(store.spark, folder),  # type: ignore[attr-defined]
                               checkpoint_location=str(checkpoint), trigger={"availableNow": True}, **options)
    try:
        query.awaitTermination(300)
    except Exception:  # noqa: BLE001 - the test inspects query.exception()
        pass
    return query


def offline_rows(store: FeatureStore) -> list[tuple[int, datetime, datetime, float]]:
    df = store.read_features(store.test_view).df  # type: ignore[attr-defined]
    return sorted((r.driver_id, r.event_timestamp.replace(tzinfo=UTC), r.created.replace(tzinfo=UTC), r.conv_rate)
                  for r in df.collect())


def online(store: FeatureStore, ids: list[int]) -> list[Any]:
    view = store.test_view  # type: ignore[attr-defined]
    return store.get_online_features([f"{view}:conv_rate"], [{"driver_id": i} for i in ids]).to_dict()["conv_rate"]


def view_commits(store: FeatureStore) -> list[dict[str, Any]]:
    """Every commit of the view's table: operation and the idempotent transaction it carried."""
    return delta_commits(Path(store.config.offline_store.root) / store.test_view)  # type: ignore[attr-defined]


# Three batches; the third one brings an older event for driver 1 and a correction for driver 2.
BATCH_ROWS = [
    [(1, h(1), h(1), 0.1), (2, h(1), h(1), 0.2)],
    [(1, h(3), h(3), 0.3), (3, h(2), h(2), 0.5)],
    [(1, h(2), h(2), 0.15), (2, h(1), h(4), 0.25)],
]


@both_offline_formats
def test_push_writes_both_stores_and_never_regresses_online(spark: SparkSession, store: FeatureStore) -> None:
    view = store.test_view  # type: ignore[attr-defined]
    first = store.push(view, spark.createDataFrame([(1, h(2), h(2), 0.2), (1, h(1), h(1), 0.1), (2, h(1), h(1), 0.5)],
                                                   SCHEMA))
    assert first.offline.rows_written == 3 and first.online is not None and first.online.items == 2
    assert online(store, [1, 2, 9]) == [0.2, 0.5, None]
    older = store.push(view, spark.createDataFrame([(1, h(0), h(0), 0.0)], SCHEMA))
    assert older.online is not None and older.online.skipped_older == 1  # the table holds a newer event
    assert online(store, [1]) == [0.2]
    assert (1, h(0), h(0), 0.0) in offline_rows(store)  # offline keeps history
    assert "rows in; offline 1 written" in older.line()


def test_push_from_pandas_and_invalid_rows(spark: SparkSession, store: FeatureStore) -> None:
    import pandas as pd

    view = store.test_view  # type: ignore[attr-defined]
    pdf = pd.DataFrame({"driver_id": [1, None], "event_timestamp": [h(1), h(2)], "created": [h(1), h(2)],
                        "conv_rate": [0.1, 0.2]}).astype({"driver_id": "Int64"})
    with pytest.raises(InvalidRowsError, match="null join key 'driver_id'"):
        store.push(view, pdf)
    assert offline_rows(store) == [] and online(store, [1]) == [None]  # nothing written anywhere
    summary = store.push(view, pdf, on_invalid="quarantine")
    assert summary.offline.rows_rejected == 1 and summary.online is not None and summary.online.items == 1
    assert online(store, [1]) == [0.1]
    assert spark.table(managed_table_of(store.config, store._view(view)).quarantine_name).count() == 1


def test_push_offline_only_view_and_unmanaged_view(spark: SparkSession, store: FeatureStore, tmp_path: Path) -> None:
    offline_only = FeatureView(name=f"{store.test_view}_off", entities=[driver],  # type: ignore[attr-defined]
                               schema=[Field("conv_rate", "float64")],
                               source=ManagedSource(created_timestamp_field="created"), online=False)
    store.apply([driver, offline_only])
    summary = store.push(offline_only.name, spark.createDataFrame([(1, h(1), h(1), 0.1)], SCHEMA))
    assert summary.online is None and summary.offline.rows_written == 1
    assert "offline-only" in summary.line()
    spark.createDataFrame([(1, h(1), h(1), 0.1)], SCHEMA).write.parquet(str(tmp_path / "ext"))
    external = FeatureView(name=f"{store.test_view}_ext", entities=[driver],  # type: ignore[attr-defined]
                           schema=[Field("conv_rate", "float64")],
                           source=ParquetSource(path=str(tmp_path / "ext"), created_timestamp_field="created"))
    with pytest.raises(InvalidArgumentError, match="only writes to views with a ManagedSource"):
        store.push(external, spark.createDataFrame([(1, h(1), h(1), 0.1)], SCHEMA))


def test_stream_writes_every_event_once_and_newest_online(spark: SparkSession, store: FeatureStore,
                                                         tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="featurespark.services.stream")
    batches = Batches(tmp_path / "in")
    for rows in BATCH_ROWS:
        batches.add(rows)
    query = run(store, batches.folder, tmp_path / "chk")
    assert query.exception() is None
    expected = sorted({(d, e, c, r) for rows in BATCH_ROWS for d, e, c, r in rows if (d, e) != (2, h(1))}
                      | {(2, h(1), h(4), 0.25)})  # the correction replaced driver 2's 01:00 row
    assert offline_rows(store) == expected
    # Driver 1's older event in batch 2 did not replace 03:00 online; driver 2's correction did.
    assert online(store, [1, 2, 3]) == [0.3, 0.25, 0.5]
    merges = [c for c in view_commits(store) if c["operation"] == "MERGE"]
    assert [c["txn"]["version"] for c in merges] == [0, 1, 2]
    assert {c["txn"]["appId"] for c in merges} == {str(query.id)}
    summaries = query.summaries()
    assert [s.batch_id for s in summaries] == [0, 1, 2]
    assert summaries[2].online is not None and summaries[2].online.skipped_older == 1
    # Spark's progress events (delivered asynchronously) are logged with the batch summary.
    wanted = f"Stream featurespark_{store.test_view} batch 2: 2 input rows"  # type: ignore[attr-defined]
    deadline = time.monotonic() + 30
    while wanted not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.2)
    assert wanted in caplog.text and "skipped as older" in caplog.text


def quarantine_txn_versions(spark: SparkSession, store: FeatureStore) -> list[str]:
    """The micro-batch recorded by each snapshot of the view's Iceberg quarantine table."""
    name = managed_table_of(store.config, store._view(store.test_view)).quarantine_name  # type: ignore[attr-defined]
    snapshots = spark.read.format("iceberg").load(f"{name}.snapshots").orderBy("committed_at").collect()
    return [s.summary.get(TXN_VERSION_PROPERTY) for s in snapshots]


@pytest.mark.parametrize(("offline_format", "crash"), [("delta", "online_write_fails"), ("delta", "after_both_writes"),
                                                       ("iceberg", "after_both_writes")], indirect=["offline_format"])
def test_restart_after_a_crash_writes_each_event_exactly_once(spark: SparkSession, store: FeatureStore,
                                                              tmp_path: Path, offline_format: str, crash: str) -> None:
    """Batch 1 crashes after its offline write; the restarted query replays it without adding anything twice
    (Delta: no second commit; Iceberg: no second quarantine append, the replayed MERGE finds its rows)."""
    batches = Batches(tmp_path / "in")
    batches.add(BATCH_ROWS[0])
    batches.add(BATCH_ROWS[1] + [(None, h(5), h(5), 9.9)])  # one invalid row, quarantined
    batches.add(BATCH_ROWS[2])
    with pytest.MonkeyPatch.context() as patch:
        if crash == "online_write_fails":  # DynamoDB down after the Delta commit of batch 1
            patch.setattr(push_module, "push_latest", crash_on_call(
                push_module.push_latest, OnlineStoreError("simulated: DynamoDB unreachable"), after=False))
        else:  # the process dies after both writes, before Spark records the batch in its checkpoint
            patch.setattr(stream_module, "push", crash_on_call(
                stream_module.push, RuntimeError("simulated crash before the checkpoint commit"), after=True))
        first = run(store, batches.folder, tmp_path / "chk", on_invalid="quarantine")
    assert first.exception() is not None and "simulated" in str(first.exception())
    assert (3, h(2), h(2), 0.5) in offline_rows(store)  # batch 1 reached the offline table
    if offline_format == "delta":
        assert len([c for c in view_commits(store) if c["operation"] == "MERGE"]) == 2

    second = run(store, batches.folder, tmp_path / "chk", on_invalid="quarantine")
    assert second.exception() is None
    assert second.id == first.id  # same query (from the checkpoint): same idempotent-write app id
    if offline_format == "delta":
        merges = [c for c in view_commits(store) if c["operation"] == "MERGE"]
        assert [c["txn"]["version"] for c in merges] == [0, 1, 2]  # the replayed batch 1 committed nothing
    else:
        assert quarantine_txn_versions(spark, store) == ["1"]  # one append, tagged with batch 1, not replayed
    quarantined = spark.table(managed_table_of(store.config, store._view(store.test_view)).quarantine_name)
    assert quarantined.count() == 1  # the quarantine append was not repeated either
    rows = offline_rows(store)
    assert len(rows) == len(set((d, e) for d, e, _, _ in rows)) == 5
    assert online(store, [1, 2, 3]) == [0.3, 0.25, 0.5]


def session_listeners(spark: SparkSession) -> int:
    """How many streaming query listeners the session has (PySpark has no call for it)."""
    return len(spark._jsparkSession.streams().listListeners())  # type: ignore[union-attr]


def test_invalid_rows_stop_the_stream_until_quarantined(spark: SparkSession, store: FeatureStore,
                                                        tmp_path: Path) -> None:
    """... and the progress listener of each query leaves the session when the query ends, failed or finished,
    although only Spark's own ``awaitTermination`` was called: PySpark converts every progress event for every
    Python listener, so listeners left behind would make every later batch cost more."""
    listeners = session_listeners(spark)
    batches = Batches(tmp_path / "in")
    batches.add(BATCH_ROWS[0])
    batches.add([(4, None, h(1), 0.4), (5, h(1), h(1), 0.5)])
    failed = run(store, batches.folder, tmp_path / "chk")
    assert failed.exception() is not None
    message = str(failed.exception())
    assert "null event timestamp 'event_timestamp'" in message and "on_invalid" in message
    assert online(store, [1, 5]) == [0.1, None]  # batch 0 landed; nothing of batch 1 in either store
    assert {r[0] for r in offline_rows(store)} == {1, 2}
    resumed = run(store, batches.folder, tmp_path / "chk", on_invalid="quarantine")
    assert resumed.exception() is None
    assert online(store, [5]) == [0.5]
    assert spark.table(managed_table_of(store.config, store._view(store.test_view)).quarantine_name).count() == 1
    deadline = time.monotonic() + 30  # the listener leaves from a thread of its own, after Spark's end event
    while session_listeners(spark) != listeners and time.monotonic() < deadline:
        time.sleep(0.2)
    assert session_listeners(spark) == listeners


def test_stream_with_a_rate_limit_and_a_windowed_aggregate(spark: SparkSession, store: FeatureStore,
                                                           tmp_path: Path) -> None:
    """An aggregating stream in update mode: later batches update a window's row in both stores."""
    batches = Batches(tmp_path / "in")
    batches.add([(1, h(0.1), None, 1.0), (1, h(0.2), None, 3.0), (2, h(0.5), None, 5.0)])
    batches.add([(1, h(0.7), None, 5.0)])  # same hour window for driver 1: its average becomes 3.0
    raw = events(spark, batches.folder).withWatermark("event_timestamp", "1 day")
    features = (
        raw.groupBy("driver_id", F.window("event_timestamp", "1 hour"))
        .agg(F.avg("conv_rate").alias("conv_rate"))
        .select("driver_id", F.col("window.end").alias("event_timestamp"),
                F.current_timestamp().alias("created"), "conv_rate")
    )
    query = store.write_stream(store.test_view, features,  # type: ignore[attr-defined]
                               checkpoint_location=str(tmp_path / "chk"), trigger={"availableNow": True},
                               max_items_per_second=50)
    query.awaitTermination(300)
    assert query.exception() is None
    assert online(store, [1, 2]) == [3.0, 5.0]
    assert [(r[0], r[1], r[3]) for r in offline_rows(store)] == [(1, h(1), 3.0), (2, h(1), 5.0)]


def test_write_stream_rejects_bad_arguments_before_starting(spark: SparkSession, store: FeatureStore,
                                                            tmp_path: Path) -> None:
    view = store.test_view  # type: ignore[attr-defined]
    batches = Batches(tmp_path / "in")
    batches.add(BATCH_ROWS[0])
    stream = events(spark, batches.folder)
    with pytest.raises(InvalidArgumentError, match="needs a streaming DataFrame"):
        store.write_stream(view, spark.createDataFrame([], SCHEMA), checkpoint_location=str(tmp_path / "c"))
    with pytest.raises(InvalidArgumentError, match="trigger must be one of"):
        store.write_stream(view, stream, checkpoint_location=str(tmp_path / "c"), trigger={"continuous": "1 s"})
    with pytest.raises(InvalidArgumentError, match="max_items_per_second"):
        store.write_stream(view, stream, checkpoint_location=str(tmp_path / "c"), max_items_per_second=0)
    with pytest.raises(SchemaMismatchError, match="column 'conv_rate' is missing"):
        store.write_stream(view, stream.drop("conv_rate"), checkpoint_location=str(tmp_path / "c"))
    assert spark.streams.active == []
