"""The online aggregation benchmark's BENCHMARKS.md section (benchmarks/online_aggs.py), from results files;
no Spark, no endpoint (the measuring functions need both and run only in the benchmark)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.online_aggs import RESULTS, section

RESULT: dict[str, Any] = {
    "environment": {"date": "2026-11-29 05:00 UTC", "git_commit": "abc1234", "cores": 2,
                    "load_average_at_start": [0.5, 0.4, 0.3], "dynamodb_endpoint": "moto server 5.2.5"},
    "load_average_at_end": [0.9, 0.5, 0.3], "keys": 10, "events_per_key": 5,
    "latency": [{"batch": 1, "system": "featurespark", "calls": 3, "p50_ms": 12.0, "p99_ms": 20.0},
                {"batch": 1, "system": "raw_batch_get", "calls": 3, "p50_ms": 10.0, "p99_ms": 16.0}],
    "freshness_s": [3.0, 2.0, 4.5],
}


def _section(tmp_path: Path, **extra: Any) -> str:
    (tmp_path / RESULTS.name).write_text(json.dumps({**RESULT, **extra}))
    return section(tmp_path)


def test_section_reports_stream_freshness_with_its_trigger(tmp_path: Path) -> None:
    text = _section(tmp_path, stream_freshness_s=[5.0, 1.0, 2.0, 3.0, 4.0], stream_trigger_s=2.0)
    assert "| 1 | 3 | 12.0 / 20.0 | 10.0 / 16.0 | 1.20x / 1.25x |" in text
    assert "**Push freshness** (3 pushes of one event): median 3.00 s, max 4.50 s" in text
    assert ("**Streaming freshness** (5 events, `write_stream` from a folder of JSON files, trigger every 2 s): "
            "median 3.00 s, p90 5.00 s, max 5.00 s from an event file's arrival") in text


def test_section_of_results_without_stream_freshness_says_so(tmp_path: Path) -> None:
    assert section(tmp_path) == ""  # the benchmark has not run
    text = _section(tmp_path)  # results written before streaming freshness was measured
    assert "**Streaming freshness** (`write_stream`) was not measured in this run." in text
    assert "p90" not in text
