"""The windowed-aggregation section of ``BENCHMARKS.md`` and its plots, from ``results/aggregations.json``.

Plots are written as PNG (git-ignored) and SVG (committed, shown by the report), like :mod:`benchmarks.report`.
"""
from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from benchmarks.report import Growth, growth_status, measured_by

SYSTEM_ORDER = ["featurespark", "featurespark_split", "range_between", "range_join", "sort_floor"]
COLORS = {"featurespark": "#1f77b4", "featurespark_split": "#6baed6", "range_between": "#ff7f0e",
          "range_join": "#d62728", "sort_floor": "#7f7f7f"}
SIZE_ORDER = ("XS", "S", "M")
RESULTS_FILE = "aggregations.json"

Stats = Tuple[float, float, float]


def load(results_dir: Path) -> Optional[Dict[str, Any]]:
    """The aggregation results, or None when the benchmark has not run."""
    path = results_dir / RESULTS_FILE
    return json.loads(path.read_text()) if path.exists() else None


def _sizes(results: Dict[str, Any]) -> List[str]:
    found = {r["size"] for r in results.get("records", [])}
    return [s for s in SIZE_ORDER if s in found]


def timing_stats(results: Dict[str, Any]) -> Dict[str, Dict[str, Stats]]:
    """``{size: {system: (median, min, max) seconds}}`` over the finished runs."""
    out: Dict[str, Dict[str, Stats]] = {}
    for size in _sizes(results):
        for system in SYSTEM_ORDER:
            values = [r["seconds"] for r in results["records"] if r["size"] == size and r["system"] == system
                      and r["seconds"] is not None]
            if values:
                out.setdefault(size, {})[system] = (statistics.median(values), min(values), max(values))
    return out


def _events(results: Dict[str, Any], size: str) -> Optional[int]:
    ds = results.get("datasets", {}).get(size)
    return int(ds["rows"]["trips"]) if ds else None


def growth(results: Dict[str, Any], stats: Dict[str, Dict[str, Stats]], system: str) -> List[Growth]:
    """Between consecutive sizes: a description and the exponent of time in events (1.0 is linear)."""
    sizes = [z for z in stats if system in stats[z] and _events(results, z)]
    lines = []
    for a, b in zip(sizes, sizes[1:]):
        ea, eb = _events(results, a), _events(results, b)
        ta, tb = stats[a][system][0], stats[b][system][0]
        if ea and eb and ta and tb:
            exponent = math.log(tb / ta) / math.log(eb / ea)
            apart = measured_by(results, a) != measured_by(results, b)
            note = "; not side by side: the two sizes were measured by different commands" if apart else ""
            lines.append(Growth(f"{a}→{b}: events x{eb / ea:.1f}, time x{tb / ta:.2f} (exponent {exponent:.2f}{note})",
                                exponent, apart))
    return lines


def plot(results: Dict[str, Any], out_dir: Path) -> List[str]:
    """Write ``aggregations.{png,svg}`` and ``aggregations_scaling.{png,svg}``; return the SVG names."""
    from benchmarks.report import bar_chart, scaling_chart

    stats = timing_stats(results)
    if not stats:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [bar_chart(stats, SYSTEM_ORDER, "Windowed aggregates for every entity row (noop sink)", out_dir,
                         "aggregations", COLORS)]
    if len(stats) >= 2:
        series = {s: [(float(_events(results, z) or 0), stats[z][s][0]) for z in stats if s in stats[z]]
                  for s in SYSTEM_ORDER}
        written.append(scaling_chart(series, "events", "Aggregation time vs size (log-log; slope 1 = linear)", out_dir,
                                     "aggregations_scaling", COLORS))
    return written


def _fmt(s: Stats) -> str:
    return f"{s[0]:.1f} ({s[1]:.1f}–{s[2]:.1f})"


def _ratio(a: Optional[float], b: Optional[float]) -> str:
    return f"{a / b:.2f}x" if a and b else "n/a"


def _met(ok: Optional[bool]) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**not met**")


def _speedup(results: Dict[str, Any], per: Dict[str, Stats], size: Optional[str], system: str, fs: Optional[float],
             target: float) -> Tuple[str, str]:
    """The ratio of ``system`` to featurespark on ``size`` and whether it reaches ``target``.

    A system cancelled at the timeout (no finished run on that size) took at least the timeout, so the
    timeout over featurespark's median is a lower bound of the ratio: the target is met when that bound
    reaches it, and undecided otherwise (a longer timeout would tell).
    """
    if system in per:
        other = per[system][0]
        return _ratio(other, fs), _met(other / fs >= target if fs and other else None)
    cancelled = [r["timeout_s"] for r in results.get("records", [])
                 if r["size"] == size and r["system"] == system and r.get("timed_out") and r.get("timeout_s")]
    if not cancelled or not fs:
        return "n/a", "n/a"
    longest = max(cancelled)
    bound = longest / fs
    text = f"≥ {bound:.2f}x (cancelled after {longest:.0f} s: a lower bound)"
    if bound >= target:
        return text, "**met** (lower bound)"
    return text, f"n/a (the lower bound is below {target}x; a timeout over {target * fs:.0f} s would tell)"


def render(results: Dict[str, Any], plots: Sequence[str], plot_dir: str) -> str:
    """The Markdown section."""
    from benchmarks.agg_systems import AGGREGATIONS

    meta = results.get("meta", {})
    stats = timing_stats(results)
    out: List[str] = []
    add = out.append
    add("## Windowed aggregations (issue #13)")
    add("")
    add("Generated by " + " then ".join(f"`{c.strip()}`" for c in results.get("commands", []))
        + " (results in `benchmarks/results/aggregations.json`) — do not edit by hand; rerun the command(s).")
    add("")
    if "M" not in stats:
        add("> **Harness check only.** The sizes below are small ones run to prove the harness and compare designs "
            "roughly, on a machine shared with other engineers' test runs (see the load averages): the ratios are "
            "noisy and the targets apply to size M (10M events, 1M entity rows), not yet measured. Measure with "
            "`bash benchmarks/run.sh aggregations --sizes S,M --runs 3 --case-timeout 1800` on a quiet machine.")
        add("")
    v = meta.get("versions", {})
    add(f"- **Date**: {meta.get('date', '?')}, git commit `{meta.get('git_commit', '?')}`; load average (1/5/15 min) "
        f"at start {[round(x, 1) for x in meta.get('load_average_at_start', [])]}, at end "
        f"{[round(x, 1) for x in meta.get('load_average_at_end', [])] or 'n/a'} (2 cores: above 2 means other "
        "processes competed for the CPU)")
    for extra in results.get("appended", []):
        where = (f", git commit `{extra['git_commit']}`, {extra.get('cpu', '?')} ({extra.get('cores', '?')} cores)"
                 if extra.get("git_commit") else "")
        end = (f", at end {[round(x, 1) for x in extra['load_average_at_end']]}"
               if extra.get("load_average_at_end") else "")
        add(f"- Sizes {', '.join(extra['sizes'])} measured again on {extra['date']}{where} (load average at start "
            f"{[round(x, 1) for x in extra['load_average_at_start']]}{end})")
    add(f"- **Machine**: {meta.get('cpu', '?')}, {meta.get('cores', '?')} cores, {meta.get('memory_gib', '?')} GiB; "
        f"PySpark {v.get('pyspark')}, Python {meta.get('python')}; Spark settings as above (`local[2]`, 8 shuffle "
        "partitions, adaptive execution)")
    add("- **Workload**: for every entity row, over its driver's trips with `t - w <= event_ts < t`: "
        + "; ".join(f"`{a.function}({a.column})` over {', '.join(a.windows)}" + (f" (k={a.k})" if a.k else "")
                    for a in AGGREGATIONS) + ".")
    add("- **Systems**: `featurespark` (`window_aggregate_as_of` with its defaults; `featurespark_split`: "
        "`hot_key_share=0.01`, splitting the hottest drivers into time buckets), `range_between` (Spark window functions with `rangeBetween(-w, -1)` over the union "
        "of orders and trips), `range_join` (orders joined with their driver's trips of the last 30 days, then a "
        "group-by per order), `sort_floor` (the union shuffled by driver and sorted by time within partitions). "
        "Every timed run writes to the `noop` sink; call-time jobs are included. Systems alternate, order rotated "
        "each run.")
    add("")
    add("| size | events | drivers | entity rows | hottest driver's share | generate (s, not timed) |")
    add("| --- | ---: | ---: | ---: | ---: | ---: |")
    for size in SIZE_ORDER:
        ds = results.get("datasets", {}).get(size)
        if ds:
            add(f"| {size} | {ds['rows']['trips']:,} | {ds['size']['keys']:,} | {ds['rows']['orders']:,} | "
                f"{ds.get('hottest_key_share', 0):.1%} | {ds.get('generate_seconds', 0):.0f} |")
    add("")
    if stats:
        add("| size | system | runs | seconds: median (min–max) | this / sort floor | this / featurespark |")
        add("| --- | --- | ---: | ---: | ---: | ---: |")
        for size, per in stats.items():
            floor = per.get("sort_floor", (None,))[0]
            fs = per.get("featurespark", (None,))[0]
            for system in SYSTEM_ORDER:
                if system in per:
                    runs = sum(1 for r in results["records"] if r["size"] == size and r["system"] == system
                               and r["seconds"] is not None)
                    add(f"| {size} | {system} | {runs} | {_fmt(per[system])} | "
                        f"{_ratio(per[system][0], floor) if system != 'sort_floor' else ''} | "
                        f"{_ratio(per[system][0], fs) if system != 'featurespark' else ''} |")
        add("")
    for r in results.get("records", []):
        if r.get("timed_out"):
            add(f"- {r['size']} {r['system']}: **cancelled after {r['timeout_s']:.0f} s** (not run again)")
    for name in plots:
        add(f"![{name}]({plot_dir}/{name})")
    add("")
    lines = {s: growth(results, stats, s) for s in ("featurespark", "sort_floor")}
    if any(lines.values()):
        add("Growth with size (exponent of time in events: 1.0 is linear): " + "; ".join(
            f"{s}: " + ", ".join(x.text for x in g) for s, g in lines.items() if g))
        add("")
    comparisons = results.get("comparisons", {})
    if comparisons:
        add("Outputs compared with featurespark's by `order_id`, column by column (floats within a relative 1e-9; "
            "`range_between` estimates distinct merchants with HyperLogLog++, so that column is not compared):")
        add("")
        add("| size | compared with | rows (fs / other) | unmatched rows | columns differing (rows) |")
        add("| --- | --- | ---: | ---: | --- |")
        for size, per in comparisons.items():
            for other, c in per.items():
                diff = ", ".join(f"{k}: {n}" for k, n in c.get("mismatches", {}).items() if n) or "none"
                add(f"| {size} | {other} | {c['rows_left']:,} / {c['rows_right']:,} | {c.get('unmatched')} | {diff} |")
        add("")
    biggest = "M" if "M" in stats else (list(stats)[-1] if stats else None)
    add(f"Targets (issue #13), on size {biggest or 'n/a'}:")
    add("")
    add("| target | measured | status |")
    add("| --- | --- | --- |")
    per = stats.get(biggest, {}) if biggest else {}
    fs, floor = (per.get(k, (None,))[0] for k in ("featurespark", "sort_floor"))
    add(f"| within 2.5x of the sort floor | featurespark / floor = {_ratio(fs, floor)} | "
        f"{_met(fs / floor <= 2.5 if fs and floor else None)} |")
    for system, label, short, target in (("range_join", "range join + group-by", "range join", 10),
                                         ("range_between", "rangeBetween", "rangeBetween", 5)):
        measured, status = _speedup(results, per, biggest, system, fs, target)
        add(f"| ≥ {target}x faster than {label} | {short} / featurespark = {measured} | {status} |")
    g = growth(results, stats, "featurespark")
    add(f"| time grows at most linearly | {'; '.join(x.text for x in g) or 'n/a'} | {growth_status(g)} |")
    add("")
    timeouts = [r for r in results.get("records", []) if r.get("timed_out")]
    if timeouts:
        add("A system cancelled at the timeout is at least that slow: its ratio is a lower bound.")
        add("")
    return "\n".join(out)


def section(results_dir: Path, plot_dir: str) -> str:
    """Plots and Markdown of the aggregation benchmark, or "" when it has not run."""
    results = load(results_dir)
    if results is None:
        return ""
    return render(results, plot(results, results_dir), plot_dir)
