"""Run the featurespark vs Feast benchmarks and regenerate ``BENCHMARKS.md``.

Normally started by ``bash benchmarks/run.sh`` (which sets up ``.venv-bench``, starts DynamoDB
Local on 127.0.0.1 and stops it at the end). Run ``python -m benchmarks.bench --help`` for options.

One Spark session (``local[2]``) serves both systems, so they run with identical settings; its
start-up is not timed. For every size: generate the data once (Parquet), register the same views in
both systems, then time training sets, materialize and online lookups, alternating systems.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

REPO = Path(__file__).resolve().parent.parent
DEFAULT_WORK = REPO / ".featurespark" / "bench"
DEFAULT_RESULTS = REPO / "benchmarks" / "results"

#: Spark settings shared by both systems (one session); see BENCHMARKS.md.
SPARK_CONF: Dict[str, str] = {
    "spark.master": "local[2]",
    "spark.driver.memory": "8g",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.adaptive.enabled": "true",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # Feast's Spark store converts results to pandas when materializing; Arrow keeps that fair to it.
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # Feast's Spark store sets this on the session on every call; set it from the start so that both
    # systems always run under the same settings.
    "spark.sql.parser.quotedRegexColumnNames": "true",
    "spark.databricks.delta.snapshotPartitions": "2",
}

logger = logging.getLogger("benchmarks")


#: The training-set cases of a size (``--cases`` picks some of them).
TRAINING_CASES = ("io_floor", "join_floor", "sort_floor", "featurespark_auto", "featurespark_chained",
                  "featurespark_tiny", "featurespark_range", "featurespark_asof", "feast")


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    """Parse the command line (see ``--help``)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench",
        description="Benchmark featurespark against Feast (training sets, materialize, online lookups) "
        "and write BENCHMARKS.md with plots. Usually run through benchmarks/run.sh.",
    )
    parser.add_argument("--sizes", default="S,M",
                        help="comma-separated sizes: XS, S, M, L, or NAME_skew for the skewed variant (default S,M)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per case (default 3)")
    parser.add_argument("--endpoint-url", default=os.environ.get("BENCH_DYNAMODB_ENDPOINT", "http://127.0.0.1:8000"),
                        help="DynamoDB Local endpoint (default $BENCH_DYNAMODB_ENDPOINT or http://127.0.0.1:8000)")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK,
                        help=f"data, registries and outputs (default {DEFAULT_WORK.relative_to(REPO)}, git-ignored)")
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS,
                        help="results.json and PNG plots (default benchmarks/results)")
    parser.add_argument("--report", type=Path, default=REPO / "BENCHMARKS.md", help="report to write")
    parser.add_argument("--feast-sizes", default=None,
                        help="sizes on which Feast's training set runs (default: all); Feast is slow on L")
    parser.add_argument("--feast-runs", type=int, default=None,
                        help="timed runs of Feast's training set (default: --runs); one Feast run on M takes minutes")
    parser.add_argument("--case-timeout", type=float, default=None,
                        help="cancel a training case after this many seconds and report it as timed out")
    parser.add_argument("--compare-sizes", default="XS,S,M",
                        help="sizes on which outputs are compared row for row (default XS,S,M)")
    parser.add_argument("--cases", default=None,
                        help="comma-separated training cases to run (default all: " + ", ".join(TRAINING_CASES)
                             + "); with --append, other cases' results of the same size are kept")
    parser.add_argument("--online-sizes", default=None,
                        help="sizes with materialize and lookup benchmarks (default: all non-skewed sizes)")
    parser.add_argument("--lookup-calls", default="1=300,100=100",
                        help="entity rows per call = timed calls, comma-separated (default 1=300,100=100)")
    parser.add_argument("--warmup", type=int, default=1,
                        help="untimed runs of every training case on the first size, to warm up the JVM (default 1)")
    parser.add_argument("--append", action="store_true",
                        help="add to the existing results.json (sizes measured again are replaced)")
    parser.add_argument("--report-only", action="store_true", help="only regenerate the report from results.json")
    return parser.parse_args(argv)


def _csv(text: Optional[str]) -> Optional[List[str]]:
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


def _cmd(args: Sequence[str]) -> str:
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
        return (out.stdout or out.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def environment() -> Dict[str, Any]:
    """Machine, versions and date for the report."""
    from importlib.metadata import PackageNotFoundError, version

    def ver(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gib = int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "git_commit": _cmd(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]),
        "featurespark_uncommitted_files": len(
            _cmd(["git", "-C", str(REPO), "status", "--porcelain", "--", "featurespark"]).splitlines()),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "java": _cmd(["java", "-version"]).splitlines()[0] if _cmd(["java", "-version"]) else "?",
        "load_average_at_start": list(os.getloadavg()),
        "versions": {p: ver(p) for p in ("featurespark", "feast", "pyspark", "delta-spark", "boto3", "pandas",
                                          "pyarrow")},
        # The local DynamoDB endpoint is moto's server run by .venv (bootstrap/dynamodb-local/start.sh).
        "dynamodb_endpoint": "moto server " + (_cmd([str(REPO / ".venv" / "bin" / "python"), "-c",
                                                     "import moto; print(moto.__version__)"]) or "?"),
        "spark_conf": SPARK_CONF,
    }


def start_spark(work: Path) -> Any:
    """The one Spark session of the run (Delta, embedded metastore, the shared settings)."""
    from pyspark.sql import SparkSession

    from featurespark.session import DEFAULT_JARS_DIR, configure_spark, use_this_python_for_workers

    use_this_python_for_workers()
    builder = SparkSession.builder.appName("featurespark-benchmarks")
    conf = {k: v for k, v in SPARK_CONF.items() if k != "spark.master"}
    builder = configure_spark(builder.master(SPARK_CONF["spark.master"]), jars_dir=str(DEFAULT_JARS_DIR),
                              metastore_dir=str(work / "metastore"), extra_conf=conf)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def recent_start(days: int) -> datetime:
    """The hour ``days`` days before the current hour: the data ends now, so online TTLs have not expired.

    featurespark gives online items ``expire_at = event time + TTL`` and DynamoDB Local deletes
    expired items, so data in the past would leave featurespark's tables partly empty.
    """
    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    return hour - timedelta(days=days)


def summarize_latencies(records: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Percentiles per (size, system, batch) from per-call records (raw calls are not kept)."""
    groups: Dict[tuple, List[float]] = {}
    for r in records:
        groups.setdefault((r["size"], r["system"], r["batch"]), []).append(r["seconds"] * 1000)
    out = []
    for (size, system, batch), values in groups.items():
        values.sort()

        def pct(p: float) -> float:
            return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]

        out.append({"bench": "online", "size": size, "system": system, "batch": batch, "calls": len(values),
                    "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99), "mean_ms": statistics.fmean(values),
                    "min_ms": values[0], "max_ms": values[-1]})
    return out


def run_size(spark: Any, name: str, args: argparse.Namespace, results: Dict[str, Any]) -> None:
    """Every benchmark of one size; appends to ``results`` in place."""
    from dataclasses import replace

    from benchmarks import online, training
    from benchmarks.data import size_by_name, write_dataset
    from benchmarks.systems import (FEAST_PROJECT, FS_PROJECT, RAW_PROJECT, VIEWS, entity_key_rows,
                                    featurespark_store, feast_store, project)

    size = size_by_name(name)
    size = replace(size, start=recent_start(size.days))
    work = args.work_dir / name
    logger.info("=== size %s: generating data (not timed)", name)
    t0 = time.perf_counter()
    manifest = write_dataset(spark, size, str(work / "data"))
    results["datasets"][name] = {**manifest, "generate_seconds": time.perf_counter() - t0}
    paths = manifest["paths"]

    fs = featurespark_store(spark, paths, work, args.endpoint_url, name)
    feast = feast_store(paths, work, args.endpoint_url, SPARK_CONF, name)

    feast_sizes = _csv(args.feast_sizes)
    cases = {
        "io_floor": training.io_floor,
        "join_floor": training.join_floor,
        "sort_floor": training.sort_floor,
        "featurespark_auto": training.featurespark_case(fs, "auto"),
        "featurespark_chained": training.featurespark_chained,
        "featurespark_tiny": training.featurespark_tiny(fs),
        "featurespark_range": training.featurespark_case(fs, "range"),
        "featurespark_asof": training.featurespark_case(fs, "asof"),
    }
    if feast_sizes is None or name in feast_sizes:
        cases["feast"] = training.feast_case(feast)
    assert set(cases) <= set(TRAINING_CASES), "TRAINING_CASES lists every case"
    chosen = _csv(args.cases)
    if chosen is not None:
        cases = {case: run for case, run in cases.items() if case in chosen}
    outdir = work / "out"
    logger.info("=== size %s: training sets, %d runs of %s", name, args.runs, ", ".join(cases))
    if args.warmup and not results.get("warmed_up"):
        logger.info("warm-up: %d untimed run(s) of every case", args.warmup)
        training.run_training(spark, name, paths, cases, outdir, args.warmup, timeout_s=args.case_timeout)
        results["warmed_up"] = True
    case_runs = {"feast": args.feast_runs} if args.feast_runs is not None else None
    records = training.run_training(spark, name, paths, cases, outdir, args.runs, case_runs, args.case_timeout)
    results["records"].extend(records)
    _save(results, args)
    # A case cancelled at the timeout (and then not run again) left no output to compare.
    timed_out = {r["system"] for r in records if r.get("timed_out")}

    if name in (_csv(args.compare_sizes) or []):
        cmp: Dict[str, Any] = {}
        for other in ("featurespark_range", "featurespark_asof", "featurespark_chained", "feast"):
            if other in cases and other not in timed_out and "featurespark_auto" not in timed_out:
                logger.info("comparing featurespark_auto with %s", other)
                cmp[other] = training.compare_outputs(spark, str(outdir / "featurespark_auto"), str(outdir / other))
        # Merged: a command running some cases only (--cases, --append) keeps the other cases' comparisons.
        results["comparisons"].setdefault(name, {}).update(cmp)
        _save(results, args)

    if _measures_online(name, args):
        start, end = size.start, size.end
        logger.info("=== size %s: materialize, %d runs", name, args.runs)
        mcases, expected = online.materialize_cases(spark, fs, feast, args.endpoint_url, start, end,
                                                    project(RAW_PROJECT, name))
        results["records"].extend(online.run_materialize(name, mcases, expected, args.runs))
        counts = {}
        for v in VIEWS:
            counts[v.name] = {
                system: online.count_items(args.endpoint_url, f"{project(prefix, name)}.{v.name}")
                for system, prefix in (("featurespark", FS_PROJECT), ("feast", FEAST_PROJECT),
                                       ("raw_loop", RAW_PROJECT))
            }
        results["online_item_counts"][name] = {"expected_total": expected, "per_view": counts}
        _save(results, args)

        pair_df = spark.read.parquet(paths["driver_customer_stats"]).select("driver_id", "customer_id").distinct()
        key_pool = entity_key_rows([tuple(r) for r in pair_df.orderBy("driver_id", "customer_id").limit(5000).collect()])
        calls = {int(b): int(n) for b, n in (item.split("=") for item in args.lookup_calls.split(","))}
        raw = online.RawReader(args.endpoint_url, fs)
        results["online_agreement"][name] = online.check_lookup_agreement(fs, feast, key_pool[:100])
        logger.info("=== size %s: online lookups %s", name, calls)
        per_call = online.run_lookups(name, fs, feast, raw, key_pool, calls=calls)
        results["latency"].extend(summarize_latencies(per_call))
        _save(results, args)


def run_sizes(sizes: Sequence[str], run_one: Callable[[str], None], results: Dict[str, Any],
              checkpoint: Callable[[], None]) -> None:
    """Run ``run_one`` for each size; a size that fails is recorded in ``results["failures"]`` and the
    others still run. ``checkpoint`` saves after each size (also used by benchmarks/agg_bench.py)."""
    for name in sizes:
        started = time.perf_counter()
        try:
            run_one(name)
        except Exception as exc:  # noqa: BLE001  # one size failing must not lose the others' results
            logger.exception("size %s failed", name)
            results["failures"][name] = f"{type(exc).__name__}: {str(exc)[:2000]}"
        logger.info("=== size %s done in %.0f s", name, time.perf_counter() - started)
        checkpoint()


def _measures_online(name: str, args: argparse.Namespace) -> bool:
    """Whether this command runs the materialize and lookup benchmarks on size ``name``."""
    online_sizes = _csv(args.online_sizes)
    return (online_sizes is None and not name.endswith("_skew")) or bool(online_sizes and name in online_sizes)


def _merge(old: Dict[str, Any], sizes: List[str], args: argparse.Namespace) -> Dict[str, Any]:
    """Existing results without the sizes about to be measured again; the command line is recorded.

    With ``--cases``, only those training cases of the sizes are dropped, and the materialize and
    lookup results of the sizes this command measures online too (``--online-sizes``); the other
    cases, the online results of other sizes and the comparisons stay (comparisons are merged
    case by case). A size without results yet is measured in full.
    """
    cases = _csv(args.cases)
    measured = {r["size"] for r in old.get("records", [])}
    partial = [s for s in sizes if cases is not None and s in measured]
    full = [s for s in sizes if s not in partial]
    online = [s for s in partial if _measures_online(s, args)]
    old["records"] = [r for r in old.get("records", []) if r["size"] not in full
                      and not (r["size"] in partial and r["bench"] == "training" and r["system"] in (cases or []))
                      and not (r["size"] in online and r["bench"] != "training")]
    old["latency"] = [r for r in old.get("latency", []) if r["size"] not in full and r["size"] not in online]
    old["comparisons"] = {k: v for k, v in old.get("comparisons", {}).items() if k not in full}
    for key in ("online_item_counts", "online_agreement"):
        old[key] = {k: v for k, v in old.get(key, {}).items() if k not in full and k not in online}
    for key in ("datasets", "failures"):
        old[key] = {k: v for k, v in old.get(key, {}).items() if k not in sizes}
    env = environment()
    old.setdefault("appended", []).append({"sizes": sizes, "runs": args.runs, "date": env["date"],
                                           "git_commit": env.get("git_commit"), "cpu": env.get("cpu"),
                                           "load_average_at_start": list(os.getloadavg()),
                                           **({"cases": cases} if cases is not None else {})})
    old["warmed_up"] = False
    if "commands" not in old and "args" in old:
        old["commands"] = [f"bash benchmarks/run.sh --sizes {','.join(old['args']['sizes'])} --runs {old['args']['runs']}"]
    return old


def _command_line(argv: Optional[Sequence[str]]) -> str:
    words, skip = [], False
    for word in (sys.argv[1:] if argv is None else argv):
        if skip:
            skip = False
        elif word == "--endpoint-url":
            skip = True  # a random free port; not part of the reproducible command
        elif not word.startswith("--endpoint-url="):
            words.append(word)
    return "bash benchmarks/run.sh " + " ".join(words)


def _results_path(args: argparse.Namespace) -> Path:
    return args.results_dir / "results.json"


def _save(results: Dict[str, Any], args: argparse.Namespace) -> None:
    args.results_dir.mkdir(parents=True, exist_ok=True)
    _results_path(args).write_text(json.dumps(results, indent=1, default=str))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point; returns the exit code."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for noisy in ("py4j", "featurespark", "feast", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from benchmarks import report

    if args.report_only:
        report.write_report(json.loads(_results_path(args).read_text()), args.report, args.results_dir)
        return 0
    sizes = _csv(args.sizes) or []
    from benchmarks.data import size_by_name

    for name in sizes:
        size_by_name(name)  # fail fast on a typo
    unknown = sorted(set(_csv(args.cases) or []) - set(TRAINING_CASES))
    if unknown:
        raise SystemExit(f"--cases: unknown case(s) {', '.join(unknown)}; known: {', '.join(TRAINING_CASES)}")
    args.work_dir.mkdir(parents=True, exist_ok=True)
    results: Dict[str, Any] = {"meta": environment(), "args": {"sizes": sizes, "runs": args.runs},
                               "datasets": {}, "records": [], "comparisons": {}, "online_item_counts": {},
                               "online_agreement": {}, "latency": [], "failures": {}}
    if args.append and _results_path(args).exists():
        results = _merge(json.loads(_results_path(args).read_text()), sizes, args)
    results.setdefault("commands", []).append(_command_line(argv))
    spark = start_spark(args.work_dir)

    def checkpoint() -> None:
        _save(results, args)
        report.write_report(results, args.report, args.results_dir)

    try:
        run_sizes(sizes, lambda name: run_size(spark, name, args, results), results, checkpoint)
    finally:
        spark.stop()
    results["meta"]["load_average_at_end"] = list(os.getloadavg())
    _save(results, args)
    report.write_report(results, args.report, args.results_dir)
    return 1 if results["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
