"""Online aggregation views through the FeatureStore: apply creates their tables, materialize (window and
incremental) writes their items, get_online_features mixes them with feature views, consistency (method
and CLI) compares them with the offline recompute. Against the local DynamoDB endpoint (moto's server)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from dynamodb_local import DynamoDBLocal, aws_env, spark_aws_env, unique_table  # noqa: F401 - fixtures
from helpers import SharedStores, make_config, node_name
from pyspark.sql import SparkSession

from featurespark import Aggregation, AggregationView, FeatureStore
from featurespark.config import online_region
from featurespark.definitions import DeltaSource, Entity, FeatureView, Field, ManagedSource, ParquetSource
from featurespark.errors import InvalidArgumentError, NotRegisteredError, StaleItemError
from featurespark.online import dynamodb_client
from featurespark.services.locations import online_table_name

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
END = T0 + timedelta(hours=4)
EVENTS = "driver_id long, ts timestamp, fare double"
driver = Entity("driver", join_keys={"driver_id": "int64"})


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def trip_views(suffix: str, trips_path: Path) -> dict[str, Any]:
    """An online aggregation view over the trip events at ``trips_path``, an offline one over the same events
    and an online feature view, by role ("trips", "offline", "stats")."""
    trips = AggregationView(
        name=f"trips_{suffix}", entities=[driver], source=ParquetSource(path=str(trips_path), timestamp_field="ts"),
        event_schema=[Field("fare", "float64")],
        aggregations=[Aggregation("fare", "sum", windows=["1h", "1d"]), Aggregation("fare", "count", windows=["1h"])],
        online=True, horizon="30m", tile_sizes={"1d": "10m"},
    )
    offline_trips = AggregationView(
        name=f"offline_trips_{suffix}", entities=[driver], source=trips.source, event_schema=trips.event_schema,
        aggregations=[Aggregation("fare", "max", windows=["1h"])],
    )
    stats = FeatureView(name=f"stats_{suffix}", entities=[driver], schema=[Field("conv_rate", "float64")],
                        source=ManagedSource())
    return {"trips": trips, "offline": offline_trips, "stats": stats}


def write_trips(spark: SparkSession, path: Path) -> None:
    """The trip events of :func:`trip_views` (apply reads a source's schema, so they come first)."""
    spark.createDataFrame([(1, at(60), 2.0), (1, at(190), 10.0), (1, at(220), 5.0), (2, at(230), 1.0)],
                          EVENTS).write.parquet(str(path))


def with_views(store: FeatureStore, views: dict[str, Any], source_path: Path) -> FeatureStore:
    """``store`` with ``names`` (the views' names by role) and ``source_path`` (their events) set, and the rows
    of the "stats" feature view, if any, written."""
    store.names = {role: view.name for role, view in views.items()}  # type: ignore[attr-defined]
    store.source_path = source_path  # type: ignore[attr-defined]
    if "stats" in views:
        store.write_features(views["stats"].name, store.spark.createDataFrame(
            [(1, at(60), 0.5), (2, at(120), 0.7)], "driver_id long, event_timestamp timestamp, conv_rate double"))
    return store


@pytest.fixture
def own_store(spark: SparkSession, tmp_path: Path, dynamodb_local: DynamoDBLocal,
              spark_aws_env: None) -> FeatureStore:  # noqa: F811
    """A store of the test's own with :func:`trip_views`, for tests that materialize every online view of the
    store (no ``views=``) or delete views: their assertions are about the whole store."""
    trips_path = tmp_path / "trips"
    write_trips(spark, trips_path)
    views = trip_views(unique_table("")[1:], trips_path)
    s = FeatureStore(spark, make_config(tmp_path, endpoint_url=dynamodb_local.endpoint_url))
    s.apply([driver, *views.values()])
    return with_views(s, views, trips_path)


def event_view(name: str, path: Path, aggregations: list[Aggregation]) -> AggregationView:
    """An online aggregation view (horizon 1 day) over the Delta table of fare events at ``path``."""
    return AggregationView(name=name, entities=[driver], source=DeltaSource(path=str(path), timestamp_field="ts"),
                           event_schema=[Field("fare", "float64")], aggregations=aggregations, online=True,
                           horizon="1d")


def shared_views(spark: SparkSession, root: Path, item: pytest.Item) -> tuple[dict[str, Any], Path]:
    """One test's views in the shared store, by role, and the path of their events, written if new (apply reads
    a source's schema): the consistency test's :func:`trip_views`, or for the push and stream tests a view
    over an empty Delta table to which the test appends its events."""
    suffix = node_name(item).removeprefix("test_")
    path = root / suffix
    if item.originalname == "test_consistency_method_and_cli":  # type: ignore[attr-defined]
        if not path.exists():
            write_trips(spark, path)
        return trip_views(suffix, path), path
    if not path.exists():
        spark.createDataFrame([], EVENTS).write.format("delta").save(str(path))
    if item.originalname == "test_push_appends_events_and_rebuilds_only_the_touched_keys":  # type: ignore[attr-defined]
        pushed = [Aggregation("fare", "sum", windows=["1d"]), Aggregation("fare", "count", windows=["lifetime"])]
        return {"events": event_view(f"pushed_{suffix}", path, pushed)}, path
    return {"events": event_view(f"streamed_{suffix}", path, [Aggregation("fare", "sum", windows=["1d"])])}, path


@pytest.fixture(scope="module")
def shared_stores(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory, dynamodb_local: DynamoDBLocal,
                  request: pytest.FixtureRequest) -> SharedStores:
    """One store for the module's other tests, every test's views applied at once: each test reads, writes,
    materializes and checks only its own views (named after the test), their events and online tables."""
    root = tmp_path_factory.mktemp("online-aggregation-views")
    return SharedStores(spark, root, request,
                        lambda item: [driver, *shared_views(spark, root / "sources", item)[0].values()],
                        endpoint_url=dynamodb_local.endpoint_url)


@pytest.fixture
def store(spark: SparkSession, shared_stores: SharedStores, spark_aws_env: None,  # noqa: F811
          request: pytest.FixtureRequest) -> FeatureStore:
    """The shared store, with ``names`` and ``source_path`` of this test's views (see :func:`shared_views`)."""
    s = shared_stores.get("delta", request.node)
    views, path = shared_views(spark, shared_stores.root / "sources", request.node)
    return with_views(s, views, path)


def _tables(store: FeatureStore) -> set[str]:
    client = dynamodb_client(region=online_region(store.config), endpoint_url=store.config.online_store.endpoint_url)
    return set(client.list_tables()["TableNames"])


def test_apply_creates_the_table_materialize_writes_items_and_lookups_mix_both_kinds(own_store: FeatureStore) -> None:
    store = own_store  # materializes every online view of the store and deletes views
    names: dict[str, str] = store.names  # type: ignore[attr-defined]
    trips = store.registry.state().aggregation_views[names["trips"]]
    offline = store.registry.state().aggregation_views[names["offline"]]
    tables = _tables(store)
    assert online_table_name(store.config, trips) in tables
    assert online_table_name(store.config, offline) not in tables
    assert store.describe(trips.name)["online_table"] == online_table_name(store.config, trips)
    assert "online_table" not in store.describe(offline.name)

    summaries = store.materialize(T0, END)  # every online view of both kinds, not the offline one
    assert sorted(summaries) == sorted([names["trips"], names["stats"]])
    assert summaries[names["trips"]].items == 2 and summaries[names["stats"]].items == 2

    rows = [{"driver_id": 1}, {"driver_id": 2}, {"driver_id": 3}]
    features = [f"{names['trips']}:fare_sum_1h", f"{names['stats']}:conv_rate", f"{names['trips']}:fare_count_1h",
                f"{names['trips']}:fare_sum_1d"]
    response = store.get_online_features(features, rows, now=END + timedelta(minutes=10)).to_dict()
    # At 04:10 the 1h window is [03:10, 04:10): driver 1's events at 03:10 and 03:40.
    assert response == {"driver_id": [1, 2, 3], "fare_sum_1h": [15.0, 1.0, None], "conv_rate": [0.5, 0.7, None],
                        "fare_count_1h": [2, 1, 0], "fare_sum_1d": [17.0, 1.0, None]}
    later = store.get_online_features([names["trips"]], rows[:1], now=END + timedelta(minutes=25)).to_dict()
    assert later["fare_sum_1h"] == [5.0]  # 03:10 left the window at 04:10

    with pytest.raises(StaleItemError, match="before the end of the events the item"):
        store.get_online_features([f"{names['trips']}:fare_sum_1h"], rows[:1], now=END - timedelta(minutes=1))
    with pytest.raises(InvalidArgumentError, match=r"are not online \(online=False\)"):
        store.get_online_features([f"{names['offline']}:fare_max_1h"], rows[:1], now=END)
    with pytest.raises(InvalidArgumentError, match=f"View '{names['offline']}' has online=False"):
        store.materialize(T0, END, views=[names["offline"]])

    # By name: only that view; rerunning the same end writes the same items again.
    again = store.materialize(END - timedelta(minutes=30), END, views=[names["trips"]])
    assert list(again) == [names["trips"]] and again[names["trips"]].items == 2
    assert store.get_online_features([f"{names['trips']}:fare_sum_1d"], rows[:1],
                                     now=END + timedelta(minutes=10)).to_dict()["fare_sum_1d"] == [17.0]

    # Deleting the view keeps its table unless drop_data=True; its source is never touched.
    remaining = [driver, store.registry.state().views[names["stats"]], offline]
    plan = store.plan(remaining, delete=True, drop_data=True)
    assert f"drop DynamoDB table {online_table_name(store.config, trips)}" in plan.storage
    store.apply(remaining, delete=True, drop_data=True)
    assert online_table_name(store.config, trips) not in _tables(store)
    assert store.source_path.exists()  # type: ignore[attr-defined]


def test_incremental_moves_the_aggregation_watermark_only_after_success(
    own_store: FeatureStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from featurespark.services import materialize as materialize_service

    store = own_store  # materializes every online view of the store

    names: dict[str, str] = store.names  # type: ignore[attr-defined]
    trips = names["trips"]
    first = store.materialize_incremental(END - timedelta(hours=1), views=[trips])
    assert list(first) == [trips] and first[trips].items == 1  # only driver 1 has events before 03:00
    state = store.registry.materialization_state(trips)
    assert state is not None and state["watermark"] == (END - timedelta(hours=1)).isoformat()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise InvalidArgumentError("simulated write failure")

    with monkeypatch.context() as patched:  # not monkeypatch.undo(): that would undo the AWS environment too
        patched.setattr(materialize_service, "materialize_aggregation_view", broken)
        with pytest.raises(InvalidArgumentError, match="simulated write failure"):
            store.materialize_incremental(END, views=[trips])
    state = store.registry.materialization_state(trips)
    assert state is not None and state["watermark"] == (END - timedelta(hours=1)).isoformat()

    both = store.materialize_incremental(END)  # default: every online view, feature views too
    assert sorted(both) == sorted([trips, names["stats"]]) and both[trips].items == 2
    state = store.registry.materialization_state(trips)
    assert state is not None and (state["watermark"], state["previous_watermark"]) == (
        END.isoformat(), (END - timedelta(hours=1)).isoformat())
    values = store.get_online_features([f"{trips}:fare_sum_1h"], [{"driver_id": 2}], now=END).to_dict()
    assert values["fare_sum_1h"] == [1.0]


def test_consistency_method_and_cli(store: FeatureStore, spark: SparkSession, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    from featurespark.cli import EXIT_MISMATCH, EXIT_OK, EXIT_USAGE, main

    names: dict[str, str] = store.names  # type: ignore[attr-defined]
    trips = names["trips"]
    store.materialize(T0, END, views=[trips])
    times = [END, END + timedelta(minutes=11), END + timedelta(minutes=30)]
    report = store.consistency(trips, at=times, sample_keys=10)
    assert (report.rows, report.stale) == (6, 0)  # 2 keys x 3 times
    assert report.all_match, str(report)
    assert report.summary == f"OK: all 3 features of {trips} agree on all 6 rows"
    with pytest.raises(NotRegisteredError, match=f"Aggregation view '{names['stats']}' is not registered"):
        store.consistency(names["stats"], at=times)
    with pytest.raises(InvalidArgumentError, match=f"Aggregation view '{names['offline']}' has online=False"):
        store.consistency(names["offline"], at=times)

    cfg = store.config
    config_file = tmp_path / "cli.yaml"
    config_file.write_text(yaml.safe_dump({
        "project": {"name": cfg.project.name},
        "offline_store": {"root": cfg.offline_store.root, "database": cfg.offline_store.database},
        "online_store": {"endpoint_url": cfg.online_store.endpoint_url}}))
    args = ["consistency", trips, "--config", str(config_file), "--samples", "5",
            *[a for t in times for a in ("--at", t.isoformat())]]
    assert main(args) == EXIT_OK
    out = capsys.readouterr().out
    assert f"Consistency of {trips}: 6 rows, 0 stale" in out and "fare_sum_1h: match 100.00%" in out
    assert out.strip().splitlines()[-1] == f"OK: all 3 features of {trips} agree on all 6 rows"
    # online-get reads the snapshot without Spark and mixes in aggregation views; --at is the lookup time.
    assert main(["online-get", "--config", str(config_file), "--features", f"{trips}:fare_sum_1h",
                 f"{names['stats']}:conv_rate", "--entity", "driver_id=1",
                 "--at", (END + timedelta(minutes=10)).isoformat()]) == EXIT_OK
    assert json.loads(capsys.readouterr().out) == {"driver_id": [1], "fare_sum_1h": [15.0], "conv_rate": [None]}

    # A late event at 04:05, after the materialized end: the offline recompute sees it, online does not.
    spark.createDataFrame([(2, END + timedelta(minutes=5), 100.0)], EVENTS).write.mode("append").parquet(
        str(store.source_path))  # type: ignore[attr-defined]
    assert main(args) == EXIT_MISMATCH
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith(f"MISMATCH: 3 of 3 features of {trips} disagree on some of 6 rows")

    assert main(["consistency", trips, "--config", str(config_file), "--samples", "0"]) == EXIT_USAGE
    assert "--samples must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as help_exit:
        main(["consistency", "--help"])
    assert help_exit.value.code == 0
    assert "--samples N" in capsys.readouterr().out


def test_push_appends_events_and_rebuilds_only_the_touched_keys(
    spark: SparkSession, tmp_path: Path, store: FeatureStore,
) -> None:
    from featurespark.errors import InvalidRowsError
    from featurespark.offline.table_format import Transaction
    from featurespark.services.push_events import push_events

    now = datetime.now(timezone.utc).replace(microsecond=0)
    view = store.registry.state().aggregation_views[store.names["events"]]  # type: ignore[attr-defined]
    path: Path = store.source_path  # type: ignore[attr-defined]
    spark.createDataFrame([(1, now - timedelta(hours=2), 2.0), (2, now - timedelta(minutes=90), 3.0)],
                          EVENTS).write.format("delta").mode("append").save(str(path))
    store.materialize(now - timedelta(days=1), now - timedelta(hours=1), views=[view.name])

    # A new event and a late one for driver 1: appended offline, driver 1's item rebuilt, driver 2's left alone.
    batch = spark.createDataFrame([(1, now - timedelta(minutes=30), 5.0), (1, now - timedelta(hours=3), 7.0)], EVENTS)
    summary = store.push(view.name, batch)
    assert (summary.offline.rows_in, summary.offline.rows_written) == (2, 2)
    assert summary.online is not None and summary.online.items == 1
    assert spark.read.format("delta").load(str(path)).count() == 4
    features = [f"{view.name}:fare_sum_1d", f"{view.name}:fare_count_lifetime"]
    rows = [{"driver_id": 1}, {"driver_id": 2}]
    assert store.get_online_features(features, rows).to_dict() == {
        "driver_id": [1, 2], "fare_sum_1d": [14.0, 3.0], "fare_count_lifetime": [3, 1]}

    # A replayed batch (same transaction) appends nothing and rebuilds the same items.
    more = spark.createDataFrame([(2, now - timedelta(minutes=10), 4.0)], EVENTS)
    config, registered = store.config, store.registry.state().aggregation_views[view.name]
    first = push_events(spark, config, registered, more, transaction=Transaction("test-app", 1))
    again = push_events(spark, config, registered, more, transaction=Transaction("test-app", 1))
    assert (first.offline.rows_written, again.offline.rows_written) == (1, 0)
    assert again.online is not None and again.online.items == 1
    assert store.get_online_features(features, rows).to_dict()["fare_sum_1d"] == [14.0, 7.0]
    report = store.consistency(view.name, at=[datetime.now(timezone.utc)])
    assert report.all_match and report.stale == 0, str(report)

    with pytest.raises(InvalidRowsError, match="1 of 1 event"):
        store.push(view.name, spark.createDataFrame([(None, now, 1.0)], EVENTS))
    parquet = AggregationView(name="parquet_events", entities=[driver],
                              source=ParquetSource(path=str(tmp_path / "p"), timestamp_field="ts"),
                              event_schema=[Field("fare", "float64")], aggregations=[Aggregation("fare", "sum", ["1d"])])
    with pytest.raises(InvalidArgumentError, match="which must be a DeltaSource"):
        store.push(parquet, batch)


def test_write_stream_appends_each_batch_once_and_rebuilds_its_keys(
    spark: SparkSession, tmp_path: Path, store: FeatureStore,
) -> None:
    import os

    now = datetime.now(timezone.utc).replace(microsecond=0)
    view = store.registry.state().aggregation_views[store.names["events"]]  # type: ignore[attr-defined]
    path: Path = store.source_path  # type: ignore[attr-defined]
    spark.createDataFrame([(1, now - timedelta(hours=2), 2.0)], EVENTS).write.format("delta").mode("append").save(
        str(path))
    folder = tmp_path / "in"
    folder.mkdir()
    batches = [[(1, now - timedelta(minutes=30), 5.0), (2, now - timedelta(minutes=20), 1.0)],
               [(2, now - timedelta(hours=5), 4.0)]]  # a late event for driver 2
    for n, rows in enumerate(batches):
        file = folder / f"batch-{n}.json"
        file.write_text("".join(json.dumps({"driver_id": d, "ts": t.isoformat(), "fare": f}) + "\n" for d, t, f in rows))
        os.utime(file, (1_700_000_000 + 10 * n, 1_700_000_000 + 10 * n))
    stream = spark.readStream.schema(EVENTS).option("maxFilesPerTrigger", 1).json(str(folder))
    with pytest.raises(InvalidArgumentError, match="has no quarantine table"):
        store.write_stream(view.name, stream, checkpoint_location=str(tmp_path / "chk"), on_invalid="quarantine")
    query = store.write_stream(view.name, stream, checkpoint_location=str(tmp_path / "chk"),
                               trigger={"availableNow": True})
    query.awaitTermination(300)
    assert query.exception() is None
    summaries = query.summaries()
    assert [(s.batch_id, s.offline.rows_written, s.online.items if s.online else None) for s in summaries] == [
        (0, 2, 2), (1, 1, 1)]
    assert spark.read.format("delta").load(str(path)).count() == 4
    values = store.get_online_features([f"{view.name}:fare_sum_1d"], [{"driver_id": 1}, {"driver_id": 2}])
    assert values.to_dict()["fare_sum_1d"] == [7.0, 5.0]
