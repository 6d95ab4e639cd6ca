"""jobs/stream_features.py: trip events to windowed features in both stores.

The kill test runs the job as its own process (its own Spark driver), kills the whole process
group with SIGKILL while a micro-batch is between its Delta commit and its checkpoint commit,
reruns it from the checkpoint (in the test's process, whose Spark session is already up), and compares
both stores with a brute-force count of the events.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from dynamodb_local import DynamoDBLocal, aws_env, spark_aws_env  # noqa: F401 - fixtures
from helpers import quick_start_jvm
from kafka_local import KafkaBroker
from pyspark.sql import SparkSession
from test_jobs import ROOT, load_job

from featurespark import FeatureStore, load_repo
from featurespark.examples.trip_stream import write_trip_event_files
from featurespark.session import DEFAULT_JARS_DIR
from featurespark.errors import InvalidArgumentError
from featurespark.examples.trip_stream import TRIP_EVENT_SCHEMA
from featurespark.streaming.sources import kafka_json_stream

UTC = timezone.utc
VIEW = "driver_trip_stats"


@pytest.fixture
def job_store(spark: SparkSession, tmp_path: Path, dynamodb_local: DynamoDBLocal, spark_aws_env: None,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FeatureStore, Path]]:
    """The example repo applied to fresh stores, and a config file for the job (own metastore)."""
    monkeypatch.setattr(SparkSession, "stop", lambda self: None)  # in-process runs keep the test session
    database = f"fs_stream_{tmp_path.name[-12:].replace('-', '_')}"
    config = {"project": {"name": f"stream{abs(hash(str(tmp_path))) % 10**8}"},
              "offline_store": {"root": str(tmp_path / "offline"), "database": database},
              "online_store": {"endpoint_url": dynamodb_local.endpoint_url},
              "spark": {"jars_dir": str(DEFAULT_JARS_DIR), "metastore_dir": str(tmp_path / "job_metastore"),
                        "conf": {"spark.sql.shuffle.partitions": "2", "spark.ui.enabled": "false"}}}
    path = tmp_path / "featurespark.yaml"
    path.write_text(yaml.safe_dump(config))
    store = FeatureStore(spark, str(path))
    monkeypatch.setenv("FEATURESPARK_EXAMPLE_DATA", str(tmp_path / "data"))
    store.apply([o for o in load_repo(ROOT / "examples" / "driver_repo") if o.name in ("driver", VIEW)])
    yield store, path
    for query in spark.streams.active:
        query.stop()


def window_counts(events: list[dict[str, Any]]) -> dict[tuple[int, datetime], int]:
    """Brute force: trips per (driver, end of the hour window)."""
    counts: Counter[tuple[int, datetime]] = Counter()
    for e in events:
        at = datetime.fromisoformat(str(e["event_time"]).replace("Z", "+00:00"))
        end = at.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        counts[(int(e["driver_id"]), end)] += 1
    return dict(counts)


def offline_counts(store: FeatureStore) -> dict[tuple[int, datetime], int]:
    rows = store.read_features(VIEW).df.collect()
    keys = [(r.driver_id, r.event_timestamp.replace(tzinfo=UTC)) for r in rows]
    assert len(keys) == len(set(keys)), "one row per driver and window"
    return {(r.driver_id, r.event_timestamp.replace(tzinfo=UTC)): r.trips for r in rows}


def merge_txn_versions(store: FeatureStore) -> list[int]:
    log = Path(store.config.offline_store.root) / VIEW / "_delta_log"
    versions = []
    for path in sorted(log.glob("*.json")):
        actions = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if any(a.get("commitInfo", {}).get("operation") == "MERGE" for a in actions):
            versions += [a["txn"]["version"] for a in actions if "txn" in a]
    return versions


def job_command(config: Path, tmp_path: Path, *extra: str) -> list[str]:
    return [sys.executable, str(ROOT / "jobs" / "stream_features.py"), "--config", str(config),
            "--master", "local[2]", "--source", "files", "--input-path", str(tmp_path / "events"),
            "--max-files-per-trigger", "1", "--checkpoint", str(tmp_path / "checkpoint"), "--available-now",
            "--watermark", "1 day", *extra]


@pytest.mark.compat_run_only
def test_stream_job_killed_mid_batch_resumes_exactly_once(job_store: tuple[FeatureStore, Path], tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    store, config = job_store
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    events = write_trip_event_files(tmp_path / "events", start=start, hours=3, drivers=6, files=4)
    env = quick_start_jvm({**os.environ, "PYTHONPATH": str(ROOT)})  # a short-lived JVM (tests/helpers.py)
    # A low online rate keeps each batch in its DynamoDB write for seconds after its Delta commit.
    command = job_command(config, tmp_path, "--max-items-per-second", "4")
    log = (tmp_path / "first-run.log").open("w")
    first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while 1 not in merge_txn_versions(store):  # batch 1 reached Delta ...
            assert first.poll() is None, (tmp_path / "first-run.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "batch 1 never reached Delta"
            time.sleep(0.2)
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # ... kill the driver, JVM included
        first.wait()
    assert not (tmp_path / "checkpoint" / "commits" / "1").exists(), "the kill came after the batch finished"

    # The rerun needs no driver of its own (the killed one is gone either way): in this process, from the
    # checkpoint the killed run left, it saves a JVM start.
    caplog.set_level("INFO")
    assert load_job("stream_features").main(job_command(config, tmp_path)[2:]) == 0, caplog.text[-3000:]
    assert "stream_features done" in caplog.text

    expected = window_counts(events)
    assert offline_counts(store) == expected  # every event counted once, in every window
    assert sorted(merge_txn_versions(store)) == sorted(set(merge_txn_versions(store)))  # no batch committed twice
    drivers = sorted({d for d, _ in expected})
    online = store.get_online_features([f"{VIEW}:trips"], [{"driver_id": d} for d in drivers]).to_dict()["trips"]
    latest = {d: expected[max(k for k in expected if k[0] == d)] for d in drivers}
    assert online == [latest[d] for d in drivers]  # the newest window of each driver


def test_stream_job_in_process_rejects_unparseable_events(job_store: tuple[FeatureStore, Path], tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    store, config = job_store
    events = tmp_path / "events"
    start = datetime.now(UTC) - timedelta(hours=1)
    good = write_trip_event_files(events, start=start, hours=1, drivers=2, files=1)
    (events / "trips-9999.json").write_text(json.dumps({"driver_id": 3, "event_time": "yesterday", "fare": 1}) + "\n")
    job = load_job("stream_features")
    caplog.set_level("INFO")
    assert job.main(job_command(config, tmp_path)[2:]) == 1
    assert "stream_features failed" in caplog.text and "null event timestamp 'event_timestamp'" in caplog.text
    assert job.main(job_command(config, tmp_path, "--on-invalid", "quarantine")[2:]) == 0
    assert offline_counts(store) == window_counts(good)
    assert "1 rejected" in caplog.text


def test_stream_job_reads_kafka_in_bounded_batches(job_store: tuple[FeatureStore, Path], tmp_path: Path,
                                                   kafka: KafkaBroker, caplog: pytest.LogCaptureFixture) -> None:
    """Trip events produced to a real broker; maxOffsetsPerTrigger splits them into several batches."""
    store, config = job_store
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    events = write_trip_event_files(tmp_path / "events", start=start, hours=2, drivers=5, files=1)
    topic = f"trips_{tmp_path.name[-10:].replace('-', '_')}"
    spark = store.spark
    (spark.createDataFrame([(json.dumps(e),) for e in events], "value string")
     .write.format("kafka").option("kafka.bootstrap.servers", kafka.bootstrap_servers).option("topic", topic).save())

    job = load_job("stream_features")
    caplog.set_level("INFO")
    argv = ["--config", str(config), "--source", "kafka", "--kafka-bootstrap-servers", kafka.bootstrap_servers,
            "--topic", topic, "--starting-offsets", "earliest", "--max-offsets-per-trigger", str(len(events) // 3 + 1),
            "--checkpoint", str(tmp_path / "checkpoint"), "--available-now", "--watermark", "1 day"]
    assert job.main(argv) == 0, caplog.text
    assert offline_counts(store) == window_counts(events)
    assert len(merge_txn_versions(store)) >= 3  # at least three micro-batches
    assert job.main(argv) == 0  # a rerun finds nothing new and changes nothing
    assert offline_counts(store) == window_counts(events)
    assert "stream_features done" in caplog.text


def test_kafka_source_options(spark: SparkSession) -> None:
    """The stream is built lazily with the batch bound and extra options (no broker contacted)."""
    events = kafka_json_stream(spark, bootstrap_servers="127.0.0.1:9", topic="trips", schema=TRIP_EVENT_SCHEMA,
                               max_offsets_per_trigger=1000, options={"failOnDataLoss": "false"})
    assert events.isStreaming
    assert events.columns == ["driver_id", "event_time", "fare", "kafka_timestamp", "kafka_partition", "kafka_offset"]
    with pytest.raises(InvalidArgumentError, match="max_offsets_per_trigger must be positive"):
        kafka_json_stream(spark, bootstrap_servers="127.0.0.1:9", topic="t", schema=TRIP_EVENT_SCHEMA,
                          max_offsets_per_trigger=0)


def test_stream_job_help_and_argument_errors(capsys: pytest.CaptureFixture[str]) -> None:
    job = load_job("stream_features")
    with pytest.raises(SystemExit) as exit_info:
        job.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--max-offsets-per-trigger" in out and "--max-items-per-second" in out
    with pytest.raises(SystemExit):
        job.main(["--checkpoint", "x", "--kafka-option", "novalue"])
