"""FeatureStore against a local DynamoDB endpoint: apply creates tables, materialize, incremental runs, lookups."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from dynamodb_local import DynamoDBLocal, spark_aws_env, aws_env, unique_table  # noqa: F401 - fixtures
from helpers import SharedStores, node_name
from pyspark.sql import SparkSession

from featurespark import FeatureStore
from featurespark.definitions import Entity, FeatureView, Field, ManagedSource, ParquetSource
from featurespark.errors import InvalidArgumentError, RegistryError
from featurespark.online import dynamodb_client

UTC = timezone.utc
T0 = datetime(2026, 1, 1, tzinfo=UTC)
driver = Entity("driver", join_keys={"driver_id": "int64"})
pair_entity = Entity("rider", join_keys={"rider_id": "string"})
SCHEMA = "driver_id long, event_timestamp timestamp, created timestamp, conv_rate double, tags array<string>"


def h(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def views(suffix: str) -> list[object]:
    stats = FeatureView(name=f"stats_{suffix}", entities=[driver],
                        schema=[Field("conv_rate", "float64"), Field("tags", "array<string>")],
                        source=ManagedSource(created_timestamp_field="created"), ttl=None)
    offline_only = FeatureView(name=f"offline_{suffix}", entities=[driver], schema=[Field("conv_rate", "float64")],
                               source=ManagedSource(), online=False)
    return [driver, stats, offline_only]


def suffix_of(item: pytest.Item) -> str:
    """The suffix of one test's views: its name, unique in the module."""
    return node_name(item).removeprefix("test_")


@pytest.fixture(scope="module")
def shared_stores(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory, dynamodb_local: DynamoDBLocal,
                  request: pytest.FixtureRequest) -> SharedStores:
    """One store for the module, every test's views applied at once: each test's assertions are about its own
    views (their rows, online table, watermark and materialization history), which no other test writes."""
    return SharedStores(spark, tmp_path_factory.mktemp("online-store"), request, lambda item: views(suffix_of(item)),
                        endpoint_url=dynamodb_local.endpoint_url)


@pytest.fixture
def store(spark: SparkSession, shared_stores: SharedStores, spark_aws_env: None,
          request: pytest.FixtureRequest) -> FeatureStore:
    """The shared store, with ``test_view`` naming this test's online view, which holds five rows."""
    s = shared_stores.get("delta", request.node)
    s.test_view = f"stats_{suffix_of(request.node)}"  # type: ignore[attr-defined]
    s.write_features(s.test_view, spark.createDataFrame([  # type: ignore[attr-defined]
        (1, h(0), h(0), 0.1, ["a"]),
        (1, h(2), h(2), 0.2, ["b"]),
        (1, h(2), h(3), 0.25, ["c"]),   # correction of the 02:00 event
        (2, h(1), h(1), float("nan"), None),
        (3, h(5), h(5), 0.5, []),
    ], SCHEMA))
    return s


def test_apply_creates_online_tables_only(store: FeatureStore) -> None:
    client = dynamodb_client(region="us-east-1", endpoint_url=store.config.online_store.endpoint_url)
    # every table of the session's endpoint, page by page (one page holds at most 100)
    tables = [t for page in client.get_paginator("list_tables").paginate() for t in page["TableNames"]]
    assert f"test.{store.test_view}" in tables  # type: ignore[attr-defined]
    assert not any(t.startswith("test.offline_") for t in tables)


def test_materialize_window_and_lookup(store: FeatureStore) -> None:
    view = store.test_view  # type: ignore[attr-defined]
    summaries = store.materialize(h(0), h(4), [view])
    assert summaries[view].items == 2  # drivers 1 and 2; driver 3's row is at 05:00, outside [0, 4)
    got = store.get_online_features([f"{view}:conv_rate", f"{view}:tags"],
                                    [{"driver_id": 2}, {"driver_id": 1}, {"driver_id": 3}, {"driver_id": 99}])
    out = got.to_dict()
    assert out["driver_id"] == [2, 1, 3, 99]
    assert out["conv_rate"][1:] == [0.25, None, None]
    assert out["conv_rate"][0] != out["conv_rate"][0]  # NaN round-trips
    assert out["tags"] == [None, ["c"], None, None]
    assert list(got.to_pandas().columns) == ["driver_id", "conv_rate", "tags"]
    full = store.get_online_features([view], [{"driver_id": 1}], full_feature_names=True).to_dict()
    assert full[f"{view}__conv_rate"] == [0.25]


def test_incremental_runs_move_the_watermark_only_after_success(store: FeatureStore,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    view = store.test_view  # type: ignore[attr-defined]
    first = store.materialize_incremental(h(1), [view])
    assert first[view].items == 1  # driver 1's 00:00 row
    assert store.registry.materialization_state(view)["watermark"] == h(1).isoformat()

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("driver died before recording the watermark")

    with monkeypatch.context() as patched:
        patched.setattr(store.registry, "set_materialization_state", crash)
        with pytest.raises(RuntimeError, match="driver died"):
            store.materialize_incremental(h(6), [view])
    assert store.registry.materialization_state(view)["watermark"] == h(1).isoformat()

    rerun = store.materialize_incremental(h(6), [view])
    assert rerun[view].items == 3  # [01:00, 06:00): drivers 1, 2, 3 again, nothing lost
    assert store.registry.materialization_state(view)["watermark"] == h(6).isoformat()
    values = store.get_online_features([f"{view}:conv_rate"], [{"driver_id": 1}, {"driver_id": 3}]).to_dict()
    assert values["conv_rate"] == [0.25, 0.5]
    assert [r.version for r in store.registry.history(view, kind="materialization")] == [1, 2]


def test_a_recreated_online_table_is_backfilled_not_left_with_recent_keys_only(store: FeatureStore) -> None:
    view = store.test_view  # type: ignore[attr-defined]
    store.materialize_incremental(h(3), [view])  # drivers 1 and 2 online
    client = dynamodb_client(region="us-east-1", endpoint_url=store.config.online_store.endpoint_url)
    table = f"test.{view}"
    client.delete_table(TableName=table)
    client.get_waiter("table_not_exists").wait(TableName=table)
    store.apply(views(view.removeprefix("stats_")))  # converges: recreates the missing table, empty

    again = store.materialize_incremental(h(6), [view])
    assert again[view].items == 3  # every key up to 06:00, not only driver 3 (the rows since the watermark)
    values = store.get_online_features([f"{view}:conv_rate"], [{"driver_id": 1}, {"driver_id": 3}]).to_dict()
    assert values["conv_rate"] == [0.25, 0.5]
    state = store.registry.materialization_state(view)
    assert state["watermark"] == h(6).isoformat() and state["table_created_at"] is not None
    # The next run is incremental again: only rows after 06:00 (none).
    assert store.materialize_incremental(h(7), [view])[view].items == 0


def test_bad_requests(store: FeatureStore) -> None:
    view = store.test_view  # type: ignore[attr-defined]
    with pytest.raises(InvalidArgumentError, match="is in the future"):
        store.materialize_incremental(datetime.now(UTC) + timedelta(hours=1))
    with pytest.raises(InvalidArgumentError, match="must be before end"):
        store.materialize(h(2), h(1))
    offline = view.replace("stats_", "offline_")
    with pytest.raises(InvalidArgumentError, match="has online=False"):
        store.materialize(h(0), h(1), [offline])
    with pytest.raises(InvalidArgumentError, match="are not online"):
        store.get_online_features([f"{offline}:conv_rate"], [{"driver_id": 1}])
    with pytest.raises(Exception, match="entity row 0|entity_rows\\[0\\]|driver_id"):
        store.get_online_features([f"{view}:conv_rate"], [{"rider": 1}])


def test_external_source_rows_that_cannot_be_served_are_counted(store: FeatureStore, tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    spark = store.spark
    path = str(tmp_path / "external")
    spark.createDataFrame([(1, h(1), 0.1), (None, h(1), 0.2), (2, None, 0.3), (None, h(9), 0.4)],
                          "driver_id long, event_timestamp timestamp, conv_rate double").write.parquet(path)
    external = FeatureView(name=f"{store.test_view}_ext", entities=[driver],  # type: ignore[attr-defined]
                           schema=[Field("conv_rate", "float64")], source=ParquetSource(path=path), ttl=None)
    store.apply([driver, external])
    caplog.set_level("WARNING")
    summary = store.materialize(h(0), h(4), [external.name])[external.name]
    assert summary.items == 1
    assert summary.skipped_invalid == 2  # the null key at 01:00 and the null event time; 09:00 is outside
    assert "2 row(s) of" in caplog.text and "null join key (driver_id)" in caplog.text
    assert "2 source rows with a null key or event time skipped" in str(summary)


def test_concurrent_watermark_move_is_detected(store: FeatureStore) -> None:
    view = store.test_view  # type: ignore[attr-defined]
    store.registry.set_materialization_state(view, {"watermark": h(1).isoformat()})
    with pytest.raises(RegistryError, match="moved from version 0 to 1"):
        store.registry.set_materialization_state(view, {"watermark": h(2).isoformat()}, expected_version=0)


def test_cli_materialize_incremental_and_online_get(store: FeatureStore, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    from featurespark.cli import main

    view = store.test_view  # type: ignore[attr-defined]
    cfg = store.config
    config_file = tmp_path / "cli.yaml"
    config_file.write_text(yaml.safe_dump({
        "project": {"name": "test"},
        "offline_store": {"root": cfg.offline_store.root, "database": cfg.offline_store.database},
        "online_store": {"endpoint_url": cfg.online_store.endpoint_url}}))
    assert main(["materialize-incremental", h(6).isoformat(), "--config", str(config_file), "--views", view]) == 0
    assert f"{view}: 3 items" in capsys.readouterr().out
    assert main(["online-get", "--config", str(config_file), "--features", f"{view}:conv_rate",
                 "--entity", "driver_id=3", "--entity", "driver_id=1"]) == 0
    out = capsys.readouterr().out
    assert '"conv_rate": [\n    0.5,\n    0.25\n  ]' in out
    assert main(["online-get", "--config", str(config_file), "--features", f"{view}:conv_rate",
                 "--entity", "driver_id"]) == 1
    assert "expected KEY=VALUE pairs" in capsys.readouterr().err
