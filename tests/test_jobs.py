"""The spark-submit jobs, run in-process on the test session (their main() reuses it)."""
from __future__ import annotations

import importlib.util
import sys
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from pyspark.sql import SparkSession

ROOT = Path(__file__).resolve().parents[1]


def load_job(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"job_{name}", ROOT / "jobs" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("job", ["ingest", "generate_example_data", "run_example", "build_training_set", "materialize"])
def test_every_job_has_help(job: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        load_job(job).main(["--help"])
    assert exit_info.value.code == 0
    assert f"usage: {job}" in capsys.readouterr().out


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "featurespark.yaml"
    path.write_text(yaml.safe_dump({"project": {"name": "jobs"},
                                    "offline_store": {"root": str(tmp_path / "offline"), "database": "fs_jobs"},
                                    "online_store": {"manage_tables": False}}))
    return path


def test_ingest_job_upserts_and_fails_cleanly(spark: SparkSession, tmp_path: Path, config_file: Path,
                                              monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from featurespark import FeatureStore, load_repo
    from featurespark.examples.driver_data import ExampleSize, driver_hourly_stats

    monkeypatch.setattr(SparkSession, "stop", lambda self: None)  # keep the shared test session alive
    data = tmp_path / "data"
    monkeypatch.setenv("FEATURESPARK_EXAMPLE_DATA", str(data))
    store = FeatureStore(spark, str(config_file))
    store.apply([o for o in load_repo(ROOT / "examples" / "driver_repo") if o.name in ("driver",
                                                                                        "driver_hourly_stats")])
    raw = driver_hourly_stats(spark, ExampleSize(drivers=2, days=1))
    raw.write.parquet(str(data / "raw"))
    job = load_job("ingest")
    argv = ["--config", str(config_file), "--view", "driver_hourly_stats", "--source-path", str(data / "raw"),
            "--mode", "upsert"]
    caplog.set_level("INFO")
    assert job.main(argv) == 0
    assert "driver_hourly_stats (upsert): " in caplog.text and " 0 rejected" in caplog.text
    written = store.read_features("driver_hourly_stats").df.count()
    assert written == raw.select("driver_id", "event_timestamp").distinct().count()
    assert job.main(argv) == 0  # idempotent rerun
    assert store.read_features("driver_hourly_stats").df.count() == written

    bad = spark.createDataFrame([(None, datetime(2026, 1, 1, tzinfo=timezone.utc))],
                                "driver_id long, event_timestamp timestamp")
    bad.write.parquet(str(data / "bad"))
    caplog.clear()
    assert job.main(argv[:4] + ["--source-path", str(data / "bad")]) == 1
    assert "ingest failed" in caplog.text and "column 'conv_rate' is missing" in caplog.text
