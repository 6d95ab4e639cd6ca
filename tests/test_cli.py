from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from dynamodb_local import DynamoDBLocal, aws_env  # noqa: F401 - fixture

from featurespark.cli import EXIT_CHANGES, EXIT_ERROR, EXIT_OK, build_parser, main

COMMANDS = ["init", "plan", "apply", "list", "describe", "history", "materialize", "materialize-incremental",
            "online-get", "consistency", "emr", "emr-serverless", "refresh-snapshot", "drop-data",
            "migrate-registry"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: featurespark {command}" in capsys.readouterr().out


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["frobnicate"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


def test_console_script_help() -> None:
    exe = shutil.which("featurespark", path=str(Path(sys.executable).parent))
    assert exe is not None, "the featurespark console script is not installed in this environment"
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True).stdout
    for command in COMMANDS:
        assert command in out
    assert "Exit codes: 0 ok, 1 featurespark error" in out


def test_init_plan_apply_list_describe_history(spark: SparkSession, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch, dynamodb_local: DynamoDBLocal,
                                               aws_env: dict[str, str]) -> None:
    repo = tmp_path / "my_repo"
    monkeypatch.setenv("FEATURESPARK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FEATURESPARK_DYNAMODB_ENDPOINT", dynamodb_local.endpoint_url)
    assert main(["init", str(repo)]) == EXIT_OK
    assert (repo / "featurespark.yaml").is_file() and (repo / "definitions.py").is_file()
    capsys.readouterr()
    definitions = repo / "definitions.py"
    definitions.write_text(definitions.read_text().replace('Field("conv_rate", "float64")',
                                                           'Field("conv_rate", "float32")'))

    assert main(["plan", "--repo", str(repo), "--exit-code"]) == EXIT_CHANGES
    assert "+ feature_view driver_stats (create)" in capsys.readouterr().out
    assert main(["apply", "--repo", str(repo)]) == EXIT_OK
    assert "Applied." in capsys.readouterr().out
    assert main(["plan", "--repo", str(repo), "--exit-code"]) == EXIT_OK
    assert "No changes." in capsys.readouterr().out

    # A managed table's column keeps its type: the change is refused, nothing is applied.
    original = definitions.read_text()
    definitions.write_text(original.replace('Field("conv_rate", "float32")', 'Field("conv_rate", "float64")'))
    assert main(["apply", "--repo", str(repo)]) == EXIT_ERROR
    assert "'conv_rate' is stored as float but the view now declares double" in capsys.readouterr().err
    # Adding a feature evolves the table: a diff, a new version, a new nullable column.
    definitions.write_text(original.replace('Field("avg_daily_trips", "int64")',
                                            'Field("avg_daily_trips", "int64"), Field("acc_rate", "float64")'))
    assert main(["plan", "--repo", str(repo)]) == EXIT_OK
    planned = capsys.readouterr().out
    assert "schema.acc_rate" in planned and "add column acc_rate double to" in planned
    assert main(["apply", "--repo", str(repo)]) == EXIT_OK
    capsys.readouterr()

    assert main(["list", "--repo", str(repo)]) == EXIT_OK
    listing = capsys.readouterr().out
    assert "driver_stats" in listing and "keys: driver_id int64" in listing
    assert main(["describe", "driver_stats", "--repo", str(repo)]) == EXIT_OK
    assert '"version": 2' in capsys.readouterr().out
    assert main(["history", "driver_stats", "--repo", str(repo)]) == EXIT_OK
    history = capsys.readouterr().out.splitlines()
    assert len(history) == 3  # header + two versions
    assert "create" in history[1] and "schema.acc_rate: None -> " in history[2]

    # Dropping data needs a confirmation (usage error, exit 2).
    assert main(["apply", "--repo", str(repo), "--delete", "--drop-data"]) == 2
    assert "add --yes to confirm" in capsys.readouterr().err


def test_errors_exit_1_with_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--repo", str(tmp_path), "--config", str(tmp_path / "missing.yaml")]) == EXIT_ERROR
    assert "missing.yaml does not exist" in capsys.readouterr().err
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "f").write_text("")
    assert main(["init", str(tmp_path / "x")]) == EXIT_ERROR
    assert "exists and is not empty" in capsys.readouterr().err


def test_parser_lists_all_commands() -> None:
    assert set(build_parser()._subparsers._group_actions[0].choices) == set(COMMANDS)  # type: ignore[union-attr]
