"""The quickstart notebook runs top to bottom on local Spark, against a local DynamoDB endpoint, so it cannot rot."""
from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from dynamodb_local import DynamoDBLocal, aws_env  # noqa: F401 - fixture
from helpers import quick_start_jvm
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.main_run_only
def test_quickstart_notebook_executes(tmp_path: Path, dynamodb_local: DynamoDBLocal, aws_env: dict[str, str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # The kernel is a new process: it reads its settings from the environment.
    monkeypatch.setenv("FEATURESPARK_ROOT", str(ROOT))
    monkeypatch.setenv("FEATURESPARK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FEATURESPARK_EXAMPLE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("FEATURESPARK_DYNAMODB_ENDPOINT", dynamodb_local.endpoint_url)
    monkeypatch.setenv("JAVA_TOOL_OPTIONS", quick_start_jvm(os.environ)["JAVA_TOOL_OPTIONS"])  # the kernel's JVM
    notebook = nbformat.read(ROOT / "notebooks" / "quickstart.ipynb", as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "the staleness plot was not drawn"
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "driver_hourly_stats (upsert)" in text and " 0 written, 0 updated" in text  # idempotent rerun
    last = outputs[-1]["data"]["text/plain"]
    assert "conv_rate" in last and "current_balance" in last
