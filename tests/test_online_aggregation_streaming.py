"""Streams and pushes into an online aggregation view (issue #14), with real Spark, Delta and the local
DynamoDB endpoint (moto's server): a stream stopped and restarted from its checkpoint with more input, a
micro-batch replayed after a crash, and a batch ``materialize`` racing a ``push`` for the same key.

Online values are compared with the brute-force oracle (tests/agg_oracle.py) and with
``FeatureStore.consistency``; the offline side by the source's rows and the commits in its Delta log. The
events are recent (the items of a push or a stream batch are rebuilt as of now) and none arrives after an
item's ``end`` for a key the item's batch did not touch, so consistency must agree fully.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator, Optional

import pandas as pd
import pytest
from agg_oracle import OracleAgg, assert_same_rows, oracle_window_aggregates
from dynamodb_local import DynamoDBLocal, aws_env, spark_aws_env  # noqa: F401 - fixtures
from helpers import SharedStores, crash_on_call, delta_commits, node_name, write_json_file
from pyspark.sql import SparkSession

import featurespark.services.online_aggregates as online_aggregates
import featurespark.services.stream as stream_module
from featurespark import Aggregation, AggregationView, FeatureStore
from featurespark.definitions import DeltaSource, Entity, Field
from featurespark.online.materialize import OnlineWriteSummary
from featurespark.services.stream import FeatureStream

UTC = timezone.utc
EVENTS = "driver_id long, ts timestamp, fare double"
Event = tuple[int, datetime, float]
driver = Entity("driver", join_keys={"driver_id": "int64"})
AGGREGATIONS = [Aggregation("fare", "sum", windows=["1h", "1d"]), Aggregation("fare", "count", windows=["lifetime"])]
ORACLE = [OracleAgg("fare_sum_1h", "fare", "sum", timedelta(hours=1)),
          OracleAgg("fare_sum_1d", "fare", "sum", timedelta(days=1)),
          OracleAgg("fare_count_lifetime", "fare", "count", None)]
OUTPUTS = [a.name for a in ORACLE]


def view_of(spark: SparkSession, root: Path, item: pytest.Item) -> AggregationView:
    """One test's online aggregation view, over a Delta table of events at ``root/<test>`` created empty if new
    (apply reads a source's schema)."""
    suffix = node_name(item).removeprefix("test_")
    path = root / suffix
    if not path.exists():
        spark.createDataFrame([], EVENTS).write.format("delta").save(str(path))
    return AggregationView(
        name=f"streamed_{suffix}", entities=[driver],
        source=DeltaSource(path=str(path), timestamp_field="ts"), event_schema=[Field("fare", "float64")],
        aggregations=AGGREGATIONS, online=True, horizon="1d",
    )


@pytest.fixture(scope="module")
def shared_stores(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory, dynamodb_local: DynamoDBLocal,
                  request: pytest.FixtureRequest) -> SharedStores:
    """One store for the module, every test's view applied at once: each test writes, streams into, materializes
    and checks only its own view (named after the test), its events and its online table."""
    root = tmp_path_factory.mktemp("online-aggregation-streaming")
    return SharedStores(spark, root, request, lambda item: [driver, view_of(spark, root / "events", item)],
                        endpoint_url=dynamodb_local.endpoint_url)


@pytest.fixture
def store(spark: SparkSession, shared_stores: SharedStores, spark_aws_env: None,  # noqa: F811
          request: pytest.FixtureRequest) -> Iterator[FeatureStore]:
    """The shared store with the test's view (``view_name``) over its empty Delta source (``events_path``)."""
    s = shared_stores.get("delta", request.node)
    view = view_of(spark, shared_stores.root / "events", request.node)
    s.view_name = view.name  # type: ignore[attr-defined]
    s.events_path = Path(view.source.path)  # type: ignore[attr-defined]
    yield s
    for query in spark.streams.active:
        query.stop()


def add_file(folder: Path, n: int, events: list[Event]) -> None:
    """Batch file ``n`` (modification times increase with ``n``: one file per micro-batch, in order)."""
    folder.mkdir(exist_ok=True)
    write_json_file(folder / f"batch-{n:02d}.json",
                    ({"driver_id": d, "ts": t.isoformat(), "fare": f} for d, t, f in events),
                    mtime=1_700_000_000 + 10 * n)


def run(store: FeatureStore, folder: Path, checkpoint: Path) -> FeatureStream:
    """Stream the folder's files (one per micro-batch) into the view until all are processed or it fails."""
    stream = store.spark.readStream.schema(EVENTS).option("maxFilesPerTrigger", 1).json(str(folder))
    query = store.write_stream(store.view_name, stream,  # type: ignore[attr-defined]
                               checkpoint_location=str(checkpoint), trigger={"availableNow": True})
    try:
        query.awaitTermination(120)
    except Exception:  # noqa: BLE001 - the test inspects query.exception()
        pass
    return query


def source_events(store: FeatureStore) -> list[Event]:
    rows = store.spark.read.format("delta").load(str(store.events_path)).collect()  # type: ignore[attr-defined]
    return sorted((r.driver_id, r.ts.replace(tzinfo=UTC), r.fare) for r in rows)


def assert_online_matches_oracle(store: FeatureStore, events: list[Event], keys: list[int], at: datetime) -> None:
    view = store.view_name  # type: ignore[attr-defined]
    got = store.get_online_features([f"{view}:{name}" for name in OUTPUTS], [{"driver_id": k} for k in keys],
                                    now=at).to_dict()
    got_rows = [{"driver_id": k, **{name: got[name][n] for name in OUTPUTS}} for n, k in enumerate(keys)]
    entity = pd.DataFrame({"driver_id": keys, "t": [at] * len(keys)}, dtype=object)
    frame = pd.DataFrame(events, columns=["driver_id", "ts", "fare"], dtype=object)
    expected = oracle_window_aggregates(entity, frame, keys={"driver_id": "driver_id"}, entity_timestamp="t",
                                        event_timestamp="ts", aggregations=ORACLE)
    assert_same_rows(got_rows, [{k: v for k, v in row.items() if k != "t"} for row in expected], ["driver_id"],
                     OUTPUTS, label=f"online at {at}")


def assert_consistent(store: FeatureStore, at: list[datetime], keys: int) -> None:
    report = store.consistency(store.view_name, at=at, sample_keys=10)  # type: ignore[attr-defined]
    assert (report.rows, report.stale) == (keys * len(at), 0), str(report)
    assert report.all_match, str(report)
    assert all((f.match_rate, f.missing, f.extra) == (1.0, 0, 0) for f in report.features.values()), str(report)


def test_stream_stopped_crashed_and_restarted_counts_every_event_once(store: FeatureStore, tmp_path: Path) -> None:
    """Run 1 stops cleanly after batch 0. Run 2, with a new file, writes batch 1 to both stores and dies before
    its checkpoint commit. Run 3, with one more file, replays batch 1 (same query id and batch id), then batch 2."""
    now = datetime.now(UTC).replace(microsecond=0)
    batches: list[list[Event]] = [
        [(1, now - timedelta(hours=3), 2.0), (2, now - timedelta(minutes=50), 1.0),
         (1, now - timedelta(minutes=45), 5.0)],
        [(3, now - timedelta(minutes=30), 4.0), (1, now - timedelta(minutes=20), 7.0)],
        [(2, now - timedelta(minutes=10), 6.0), (3, now - timedelta(minutes=5), 8.0)],
    ]
    folder, checkpoint = tmp_path / "in", tmp_path / "chk"
    add_file(folder, 0, batches[0])
    first = run(store, folder, checkpoint)
    assert first.exception() is None
    assert [(s.batch_id, s.offline.rows_written) for s in first.summaries()] == [(0, 3)]

    add_file(folder, 1, batches[1])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stream_module, "push_events", crash_on_call(
            stream_module.push_events, RuntimeError("simulated crash before the checkpoint commit"), call=1,
            after=True))
        crashed = run(store, folder, checkpoint)
    assert crashed.exception() is not None and "simulated crash" in str(crashed.exception())
    assert crashed.summaries() == []  # batch 1 wrote both stores, then raised

    add_file(folder, 2, batches[2])  # more input for the restart
    last = run(store, folder, checkpoint)
    assert last.exception() is None
    assert first.id == crashed.id == last.id  # resumed from the checkpoint: the same idempotent-write app id
    # The replayed batch 1 appended nothing (Delta held its transaction) and rebuilt its 2 keys again.
    assert [(s.batch_id, s.offline.rows_written, s.online.items if s.online else None)
            for s in last.summaries()] == [(1, 0, 2), (2, 2, 2)]
    appends = [c["txn"] for c in delta_commits(store.events_path)  # type: ignore[attr-defined]
               if c["operation"] == "WRITE" and c["txn"] is not None]
    assert [(t["appId"], t["version"]) for t in appends] == [(str(first.id), 0), (str(first.id), 1),
                                                               (str(first.id), 2)]
    everything = sorted(e for batch in batches for e in batch)
    assert source_events(store) == everything  # every event once offline

    lookup = datetime.now(UTC)
    assert_online_matches_oracle(store, everything, [1, 2, 3, 4], lookup)
    assert_consistent(store, [lookup, lookup + timedelta(minutes=30)], keys=3)


def test_materialize_racing_a_push_keeps_the_pushed_event(
    store: FeatureStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A materialize run builds its items as of an earlier end, a push writes a newer event for key 1 before
    the run's items reach DynamoDB: the run's older item for key 1 must be skipped, not written over the push's."""
    spark, view = store.spark, store.view_name  # type: ignore[attr-defined]
    now = datetime.now(UTC).replace(microsecond=0)
    old: list[Event] = [(1, now - timedelta(hours=2), 2.0), (1, now - timedelta(minutes=40), 3.0),
                        (2, now - timedelta(minutes=30), 4.0)]
    spark.createDataFrame(old, EVENTS).write.format("delta").mode("append").save(
        str(store.events_path))  # type: ignore[attr-defined]
    batch_end = now - timedelta(minutes=10)
    pushed: Event = (1, now - timedelta(minutes=5), 9.0)  # after the batch run's end

    planned, pushed_done = threading.Event(), threading.Event()
    real_write_tiles = online_aggregates.write_tiles

    def write_after_the_push(*args: Any, **kwargs: Any) -> OnlineWriteSummary:
        if threading.current_thread().name == "materialize":  # the push's own write passes straight through
            planned.set()
            assert pushed_done.wait(120), "the push did not finish"
        return real_write_tiles(*args, **kwargs)

    monkeypatch.setattr(online_aggregates, "write_tiles", write_after_the_push)
    result: dict[str, Any] = {}

    def materialize() -> None:
        try:
            result["summary"] = store.materialize(batch_end - timedelta(hours=1), batch_end, views=[view])[view]
        except BaseException as exc:  # noqa: BLE001 - re-raised on the test's thread below
            result["error"] = exc

    thread = threading.Thread(target=materialize, name="materialize")
    thread.start()
    try:
        assert planned.wait(120), f"materialize never reached its write: {result.get('error')!r}"
        summary = store.push(view, spark.createDataFrame([pushed], EVENTS))
    finally:
        pushed_done.set()
        thread.join(120)
    assert "error" not in result, result.get("error")
    assert summary.online is not None and summary.online.items == 1
    batch: Optional[OnlineWriteSummary] = result.get("summary")
    assert batch is not None and (batch.items, batch.skipped_older) == (1, 1)  # key 2 written, key 1 skipped

    lookup = datetime.now(UTC)
    assert_online_matches_oracle(store, old + [pushed], [1, 2], lookup)
    assert_consistent(store, [lookup], keys=2)
