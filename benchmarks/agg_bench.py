"""Run the windowed-aggregation benchmark (issue #13) and regenerate ``BENCHMARKS.md``.

Normally started by ``bash benchmarks/run.sh aggregations [options]``; ``--help`` lists the options. One
Spark session (the benchmark settings of :mod:`benchmarks.bench`) runs every system; its start-up is not
timed. For every size: generate the data once (Parquet), time each system ``--runs`` times (order rotated
each run, results written to the ``noop`` sink), then, on the ``--compare-sizes``, write the outputs once
more as Parquet and compare them with featurespark's value by value. Results go to
``benchmarks/results/aggregations.json``; the report section is rendered by :mod:`benchmarks.agg_report`.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

REPO = Path(__file__).resolve().parent.parent
DEFAULT_WORK = REPO / ".featurespark" / "bench-agg"
DEFAULT_RESULTS = REPO / "benchmarks" / "results"
RESULTS_FILE = "aggregations.json"

logger = logging.getLogger("benchmarks.aggregations")


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    """Parse the command line (see ``--help``)."""
    from benchmarks.agg_systems import SYSTEMS

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.agg_bench",
        description="Benchmark featurespark's windowed aggregations against Spark rangeBetween windows, a range "
                    "join + group-by and a sort floor; write BENCHMARKS.md. Usually run through "
                    "`bash benchmarks/run.sh aggregations`.")
    parser.add_argument("--sizes", default="S,M", help="comma-separated sizes: XS, S, M (default S,M)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per system (default 3)")
    parser.add_argument("--systems", default=",".join(SYSTEMS),
                        help=f"comma-separated systems (default all: {', '.join(SYSTEMS)})")
    parser.add_argument("--compare-sizes", default="XS,S",
                        help="sizes whose outputs are compared value by value (default XS,S)")
    parser.add_argument("--case-timeout", type=float, default=None,
                        help="cancel a system after this many seconds and report it as timed out (not run again)")
    parser.add_argument("--warmup", type=int, default=1,
                        help="untimed runs of every system on the first size, to warm up the JVM (default 1)")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK,
                        help=f"data and outputs (default {DEFAULT_WORK.relative_to(REPO)}, git-ignored)")
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS, help="results JSON and plots")
    parser.add_argument("--report", type=Path, default=REPO / "BENCHMARKS.md", help="report to write")
    parser.add_argument("--append", action="store_true",
                        help="add to the existing aggregations.json (sizes measured again are replaced)")
    parser.add_argument("--report-only", action="store_true", help="only regenerate the report from the results")
    return parser.parse_args(argv)


def _csv(text: str) -> List[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def run_size(spark: Any, name: str, args: argparse.Namespace, results: Dict[str, Any]) -> None:
    """Generate, time and compare one size; updates ``results`` in place."""
    from benchmarks.agg_data import agg_size_by_name, write_agg_dataset
    from benchmarks.agg_systems import COMPARED_SYSTEMS, SYSTEMS, compare_outputs, save, timed
    from benchmarks.training import run_training

    size = agg_size_by_name(name)
    work = args.work_dir / name
    started = time.perf_counter()
    manifest = write_agg_dataset(spark, size, str(work / "data"))
    results["datasets"][name] = {**manifest, "generate_seconds": time.perf_counter() - started}
    paths = manifest["paths"]
    cases = {s: timed(SYSTEMS[s]) for s in _csv(args.systems)}
    if args.warmup and not results.get("warmed_up"):
        logger.info("warm-up: %d untimed run(s) of every system", args.warmup)
        run_training(spark, name, paths, cases, work / "out", args.warmup, timeout_s=args.case_timeout)
        results["warmed_up"] = True
    logger.info("=== size %s: %d runs of %s", name, args.runs, ", ".join(cases))
    records = run_training(spark, name, paths, cases, work / "out", args.runs, timeout_s=args.case_timeout)
    for record in records:
        record["bench"] = "aggregations"
    results["records"].extend(records)
    _save(results, args)

    timed_out = {r["system"] for r in records if r.get("timed_out")}
    if name in _csv(args.compare_sizes) and "featurespark" in cases:
        out = work / "compare"
        save(spark, SYSTEMS["featurespark"], paths, str(out / "featurespark"))
        comparison = {}
        for other in COMPARED_SYSTEMS:
            if other in cases and other not in timed_out:
                save(spark, SYSTEMS[other], paths, str(out / other))
                comparison[other] = compare_outputs(spark, str(out / "featurespark"), str(out / other))
                logger.info("compared with %s: %s", other, comparison[other])
        results["comparisons"][name] = comparison
        _save(results, args)


def _save(results: Dict[str, Any], args: argparse.Namespace) -> None:
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / RESULTS_FILE).write_text(json.dumps(results, indent=1, default=str))


def _command_line(argv: Optional[Sequence[str]]) -> str:
    return "bash benchmarks/run.sh aggregations " + " ".join(sys.argv[1:] if argv is None else argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point; returns the exit code."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for noisy in ("py4j", "featurespark"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from benchmarks import report
    from benchmarks.agg_data import agg_size_by_name
    from benchmarks.bench import environment, run_sizes, start_spark

    path = args.results_dir / RESULTS_FILE
    if args.report_only:
        report.regenerate(args.report, args.results_dir)
        return 0
    sizes = _csv(args.sizes)
    for name in sizes:
        agg_size_by_name(name)  # fail fast on a typo
    results: Dict[str, Any] = {"meta": environment(), "datasets": {}, "records": [], "comparisons": {},
                               "failures": {}}
    if args.append and path.exists():
        old = json.loads(path.read_text())
        old["records"] = [r for r in old.get("records", []) if r["size"] not in sizes]
        for key in ("datasets", "comparisons", "failures"):
            old[key] = {k: v for k, v in old.get(key, {}).items() if k not in sizes}
        env = environment()
        old.setdefault("appended", []).append({"sizes": sizes, "date": env["date"], "git_commit": env.get("git_commit"),
                                               "cpu": env.get("cpu"), "cores": env.get("cores"),
                                               "load_average_at_start": list(os.getloadavg())})
        old["warmed_up"] = False
        results = old
    results.setdefault("commands", []).append(_command_line(argv))
    args.work_dir.mkdir(parents=True, exist_ok=True)
    spark = start_spark(args.work_dir)
    try:
        run_sizes(sizes, lambda name: run_size(spark, name, args, results), results, lambda: _save(results, args))
    finally:
        spark.stop()
    # The end of this command: the first run's meta, or the entry of this --append run.
    (results["appended"][-1] if args.append and results.get("appended") else results["meta"])[
        "load_average_at_end"] = list(os.getloadavg())
    _save(results, args)
    report.regenerate(args.report, args.results_dir)
    return 1 if results["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
