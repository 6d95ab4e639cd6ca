"""`featurespark init` makes a repo that runs as created, from any folder; missing parts are one-line errors.

These run the installed console script and scripts in fresh processes outside the checkout, as a new
user would (issue #18).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import quick_start_jvm
from pyspark.sql import SparkSession

from featurespark.cli import EXIT_OK, main

BIN = Path(sys.executable).parent
CHECKOUT = Path(__file__).resolve().parent.parent


def run(args: list[str], cwd: Path, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def user_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: the virtualenv on PATH, none of the suite's featurespark settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEATURESPARK_") or k == "FEATURESPARK_JARS_DIR"}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYSPARK_GATEWAY_PORT", None)
    env.update(extra)
    return env


@pytest.mark.main_run_only
def test_a_new_repo_applies_ingests_and_builds_a_training_set_from_outside_the_checkout(tmp_path: Path) -> None:
    assert not tmp_path.is_relative_to(CHECKOUT)
    env = quick_start_jvm(user_env())
    created = run([str(BIN / "featurespark"), "init", "my_features"], tmp_path, env)
    assert created.returncode == EXIT_OK, created.stderr
    repo = tmp_path / "my_features"
    assert "jars_dir: ${FEATURESPARK_JARS_DIR:-" in (repo / "featurespark.yaml").read_text()

    applied = run(["featurespark", "apply"], repo, env)
    assert applied.returncode == EXIT_OK, applied.stderr
    assert "Applied." in applied.stdout

    quickstart = run([sys.executable, "scripts/quickstart.py"], repo, env)
    assert quickstart.returncode == 0, quickstart.stderr
    assert "rows_written=3" in quickstart.stdout
    rows = [line.split("|")[1:-1] for line in quickstart.stdout.splitlines() if line.startswith("|")]
    assert [[c.strip() for c in r] for r in rows] == [
        ["driver_id", "event_timestamp", "label", "conv_rate", "avg_daily_trips"],
        ["1", "2026-01-01 09:00:00", "0", "0.5", "10"],
        ["1", "2026-01-01 11:00:00", "1", "0.7", "12"],
        ["2", "2026-01-01 12:00:00", "1", "0.4", "7"],
    ]
    assert (repo / "data" / "offline" / "driver_stats" / "_delta_log").is_dir()


def test_without_delta_jars_a_local_run_is_one_line_naming_the_fix(tmp_path: Path) -> None:
    (tmp_path / "featurespark.yaml").write_text(
        "project:\n  name: p\noffline_store:\n  root: data/offline\nspark:\n  metastore_dir: data/metastore\n")
    (tmp_path / "definitions.py").write_text("")
    result = run([str(BIN / "featurespark"), "plan"], tmp_path, user_env())
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: featurespark.yaml has no spark.jars_dir, so this local Spark would start "
        "without Delta Lake. Set spark.jars_dir (or $FEATURESPARK_JARS_DIR) to a folder with the Delta jars - "
        "`bash bootstrap/setup-local.sh` in a featurespark checkout resolves them into its .jars folder - or run "
        "with spark-submit on a cluster that ships Delta (EMR)."
    ]


def test_init_without_jars_explains_in_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FEATURESPARK_JARS_DIR", str(tmp_path / "empty"))
    assert main(["init", str(tmp_path / "repo")]) == EXIT_OK
    assert "no Delta Lake jars were found" in capsys.readouterr().out
    config = (tmp_path / "repo" / "featurespark.yaml").read_text()
    assert "  # jars_dir: /path/to/featurespark/.jars" in config and "\n  jars_dir:" not in config


def test_a_metastore_held_by_another_process_is_a_clear_error(spark: SparkSession, tmp_path: Path) -> None:
    spark.catalog.databaseExists("default")  # the suite's session has its Derby database open
    url = spark.sparkContext.getConf().get("spark.hadoop.javax.jdo.option.ConnectionURL")
    metastore = Path(url.split("databaseName=")[1].split(";")[0]).parent
    (tmp_path / "fs.yaml").write_text(
        f"project:\n  name: p\noffline_store:\n  root: {tmp_path}/offline\n"
        f"spark:\n  jars_dir: {os.environ.get('FEATURESPARK_JARS_DIR') or CHECKOUT / '.jars'}\n"
        f"  metastore_dir: {metastore}\n")
    code = ("from featurespark.config import load_config; from featurespark.session import start_session; "
            f"start_session(load_config({str(tmp_path / 'fs.yaml')!r}), 'second', master='local[1]')")
    result = run([sys.executable, "-c", code], tmp_path, user_env())
    assert result.returncode == 1
    assert (f"ConfigError: The embedded Hive metastore in {metastore} is in use by another Spark process (Derby "
            "allows one at a time)") in result.stderr
