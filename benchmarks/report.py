"""Turn ``benchmarks/results/results.json`` into ``BENCHMARKS.md`` and plots (matplotlib).

Every plot is written as PNG (what the issue asked for; git-ignored, as the repository holds no
binaries) and as SVG (text, committed, and the image ``BENCHMARKS.md`` shows).
"""
from __future__ import annotations

import functools
import math
import statistics
from pathlib import Path
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

TRAINING_ORDER = ["featurespark_auto", "featurespark_chained", "featurespark_range", "featurespark_asof", "feast",
                  "sort_floor", "join_floor", "io_floor", "featurespark_tiny"]
FLOORS = ("sort_floor", "join_floor", "io_floor")
MATERIALIZE_ORDER = ["featurespark", "feast", "raw_loop"]
ONLINE_ORDER = ["featurespark", "feast", "raw_batch_get"]
COLORS = {"featurespark_auto": "#1f77b4", "featurespark_range": "#6baed6", "featurespark_asof": "#08519c",
          "featurespark": "#1f77b4", "feast": "#d62728", "join_floor": "#7f7f7f", "io_floor": "#bdbdbd",
          "featurespark_chained": "#9467bd", "sort_floor": "#525252",
          "raw_loop": "#7f7f7f", "raw_batch_get": "#7f7f7f"}


def _stats(values: Sequence[float]) -> Optional[Tuple[float, float, float]]:
    return (statistics.median(values), min(values), max(values)) if values else None


def _records(results: Dict[str, Any], bench: str) -> List[Dict[str, Any]]:
    return [r for r in results.get("records", []) if r["bench"] == bench]


_SIZE_ORDER = ("XS", "S", "M", "L")


def _size_key(size: str) -> Tuple[int, str]:
    """XS < S < M < L, each followed by its skewed variant (runs appended later keep this order)."""
    base = size.removesuffix("_skew")
    return (_SIZE_ORDER.index(base) if base in _SIZE_ORDER else len(_SIZE_ORDER), size)


def _sizes(results: Dict[str, Any], bench: str) -> List[str]:
    return sorted({r["size"] for r in _records(results, bench)}, key=_size_key)


def training_stats(results: Dict[str, Any]) -> Dict[str, Dict[str, Tuple[float, float, float]]]:
    """``{size: {system: (median, min, max) seconds}}``."""
    out: Dict[str, Dict[str, Tuple[float, float, float]]] = {}
    for size in _sizes(results, "training"):
        for system in TRAINING_ORDER:
            s = _stats([r["seconds"] for r in _records(results, "training") if r["size"] == size
                        and r["system"] == system and r["seconds"] is not None])
            if s:
                out.setdefault(size, {})[system] = s
    return out


def materialize_stats(results: Dict[str, Any]) -> Dict[str, Dict[str, Tuple[float, float, float]]]:
    """``{size: {system: (median, min, max) items per second}}``."""
    out: Dict[str, Dict[str, Tuple[float, float, float]]] = {}
    for size in _sizes(results, "materialize"):
        for system in MATERIALIZE_ORDER:
            s = _stats([r["items_per_second"] for r in _records(results, "materialize") if r["size"] == size
                        and r["system"] == system])
            if s:
                out.setdefault(size, {})[system] = s
    return out


def _fmt_s(s: Tuple[float, float, float]) -> str:
    return f"{s[0]:.1f} ({s[1]:.1f}–{s[2]:.1f})"


def _fmt_rate(s: Tuple[float, float, float]) -> str:
    return f"{s[0]:,.0f} ({s[1]:,.0f}–{s[2]:,.0f})"


def _ratio(a: Optional[float], b: Optional[float]) -> str:
    return f"{a / b:.2f}x" if a and b else "n/a"


def _entity_rows(results: Dict[str, Any], size: str) -> Optional[int]:
    ds = results.get("datasets", {}).get(size)
    return ds["rows"]["orders"] if ds else None


def _met(ok: Optional[bool]) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**not met**")


# ------------------------------------------------------------------ plots
def _save(fig: Any, out_dir: Path, stem: str) -> str:
    """Write ``stem.png`` and ``stem.svg``, close the figure, return the SVG's name for the report."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(out_dir / f"{stem}.png", dpi=90)
    fig.savefig(out_dir / f"{stem}.svg", metadata={"Date": None})  # no date: regenerating is diff-stable
    plt.close(fig)
    return f"{stem}.svg"


def _matplotlib() -> Any:
    """pyplot, set up for diff-stable SVGs (also used by benchmarks/agg_report.py)."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: smaller, searchable SVGs
    matplotlib.rcParams["svg.hashsalt"] = "featurespark"  # stable ids across runs
    import matplotlib.pyplot as plt

    return plt


def bar_chart(stats: Dict[str, Dict[str, Tuple[float, float, float]]], order: Sequence[str], title: str,
              out_dir: Path, stem: str, colors: Dict[str, str]) -> str:
    """Bars of median seconds (min–max whiskers) per size and system, log scale; returns the SVG's name."""
    plt = _matplotlib()
    sizes = list(stats)
    systems = [s for s in order if any(s in stats[z] for z in sizes)]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / len(systems)
    for i, system in enumerate(systems):
        xs, ys, lo, hi = [], [], [], []
        for j, size in enumerate(sizes):
            if system in stats[size]:
                med, mn, mx = stats[size][system]
                xs.append(j + i * width)
                ys.append(med)
                lo.append(med - mn)
                hi.append(mx - med)
        ax.bar(xs, ys, width, yerr=[lo, hi], label=system, color=colors.get(system), capsize=2)
    ax.set_xticks([j + width * (len(systems) - 1) / 2 for j in range(len(sizes))])
    ax.set_xticklabels(sizes)
    ax.set_yscale("log")
    ax.set_ylabel("seconds (median, min–max; log scale)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _save(fig, out_dir, stem)


def scaling_chart(series: Dict[str, List[Tuple[float, float]]], xlabel: str, title: str, out_dir: Path, stem: str,
                  colors: Dict[str, str]) -> str:
    """Log-log lines of median seconds against size, one per system with two points or more."""
    plt = _matplotlib()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for system, pts in series.items():
        if len(pts) >= 2:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=system, color=colors.get(system))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("seconds (median)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _save(fig, out_dir, stem)


def endpoint_name(meta: Mapping[str, Any]) -> str:
    """The local DynamoDB endpoint a run wrote to: DynamoDB Local until 2026-11-28, moto's server since."""
    return "DynamoDB Local" if meta.get("dynamodb_local") else "the local DynamoDB endpoint (moto's server)"


def plot_all(results: Dict[str, Any], out_dir: Path) -> List[str]:
    """Write the plots (PNG and SVG); return the names of the SVGs the report shows."""
    plt = _matplotlib()
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    tstats = training_stats(results)
    if tstats:
        sizes = list(tstats)
        written.append(bar_chart(tstats, TRAINING_ORDER, "Training set: point-in-time join of 3 views, written to Parquet",
                                 out_dir, "training", COLORS))
        plain = [z for z in sizes if not z.endswith("_skew") and _entity_rows(results, z)]
        if len(plain) >= 2:
            systems = [s for s in TRAINING_ORDER if any(s in tstats[z] for z in sizes)]
            series = {s: [(float(_entity_rows(results, z) or 0), tstats[z][s][0]) for z in plain if s in tstats[z]]
                      for s in systems}
            written.append(scaling_chart(series, "entity rows", "Training set time vs size (log-log; slope 1 = linear)",
                                         out_dir, "scaling", COLORS))

    mstats = materialize_stats(results)
    if mstats:
        sizes = list(mstats)
        fig, ax = plt.subplots(figsize=(7, 4))
        width = 0.8 / len(MATERIALIZE_ORDER)
        for i, system in enumerate(MATERIALIZE_ORDER):
            xs = [j + i * width for j, z in enumerate(sizes) if system in mstats[z]]
            ys = [mstats[z][system][0] for z in sizes if system in mstats[z]]
            ax.bar(xs, ys, width, label=system, color=COLORS.get(system))
        ax.set_xticks([j + width for j in range(len(sizes))])
        ax.set_xticklabels(sizes)
        ax.set_ylabel("items per second (median)")
        ax.set_title(f"Materialize into {endpoint_name(results.get('meta', {}))}")
        ax.legend(fontsize=8)
        written.append(_save(fig, out_dir, "materialize"))

    lat = results.get("latency", [])
    if lat:
        size = lat[-1]["size"]
        rows = [r for r in lat if r["size"] == size]
        batches = sorted({r["batch"] for r in rows})
        fig, axes = plt.subplots(1, len(batches), figsize=(4.5 * len(batches), 4))
        axes = axes if len(batches) > 1 else [axes]
        for ax, batch in zip(axes, batches):
            for i, system in enumerate(ONLINE_ORDER):
                r = next((x for x in rows if x["batch"] == batch and x["system"] == system), None)
                if r:
                    ax.bar([i - 0.2], [r["p50_ms"]], 0.4, color=COLORS.get(system), label="p50" if i == 0 else None)
                    ax.bar([i + 0.2], [r["p99_ms"]], 0.4, color=COLORS.get(system), alpha=0.45,
                           label="p99" if i == 0 else None)
            ax.set_xticks(range(len(ONLINE_ORDER)))
            ax.set_xticklabels(ONLINE_ORDER, fontsize=8)
            ax.set_ylabel("ms per call")
            ax.set_title(f"{batch} entity row(s), 3 views (size {size})")
            ax.legend(fontsize=8)
        written.append(_save(fig, out_dir, "online"))
    return written


# ------------------------------------------------------------------ markdown
def measured_by(results: Dict[str, Any], size: str, case: Optional[str] = None) -> int:
    """Which command measured ``size`` (and ``case``) last: 0 for the first, n for the n-th ``--append`` run.

    Two results compare side by side only when the same command measured both; an ``--append`` run that
    names ``cases`` replaces only those cases of its sizes.
    """
    runs = [i for i, extra in enumerate(results.get("appended", []), start=1)
            if size in extra.get("sizes", []) and (case is None or extra.get("cases") is None
                                                   or case in extra["cases"])]
    return runs[-1] if runs else 0


def _apart(results: Dict[str, Any], a: str, b: str, case: Optional[str] = None) -> bool:
    return measured_by(results, a, case) != measured_by(results, b, case)


_APART = "not side by side: measured by different commands"


def _cases_apart(results: Dict[str, Any], size: str, a: str, b: str) -> bool:
    """Whether two cases of one size were measured by different commands (a later ``--append`` run)."""
    return measured_by(results, size, a) != measured_by(results, size, b)


def _marked_ratio(results: Dict[str, Any], size: str, cases: Tuple[str, str], a: Optional[float],
                  b: Optional[float]) -> str:
    """``a / b`` of two cases of one size, marked † when different commands measured them."""
    text = _ratio(a, b)
    return f"{text} †" if text != "n/a" and _cases_apart(results, size, *cases) else text


def _side_by_side_status(ok: Optional[bool], apart: bool) -> str:
    """A target's status: n/a when its two results were not measured side by side."""
    return f"n/a ({_APART})" if apart and ok is not None else _met(ok)


class Growth(NamedTuple):
    """Growth between two consecutive sizes: its text, the exponent of time in size, and whether the two sizes
    were measured by different commands (then the exponent is no side-by-side measurement)."""

    text: str
    exponent: float
    apart: bool


def growth_status(lines: Sequence[Growth]) -> str:
    """Status of an "at most linear growth" target: n/a when a pair was not measured side by side."""
    if any(g.apart for g in lines):
        return "n/a (measure the sizes in one command)"
    return f"{_met(all(g.exponent <= 1.1 for g in lines) if lines else None)} (exponent ≤ 1.1 allowed for noise)"


def _growth(results: Dict[str, Any], tstats: Dict[str, Dict[str, Tuple[float, float, float]]], system: str
            ) -> List[Growth]:
    plain = [z for z in tstats if not z.endswith("_skew") and system in tstats[z] and _entity_rows(results, z)]
    lines = []
    for a, b in zip(plain, plain[1:]):
        na, nb = _entity_rows(results, a), _entity_rows(results, b)
        ta, tb = tstats[a][system][0], tstats[b][system][0]
        if na and nb and ta and tb:
            exponent = math.log(tb / ta) / math.log(nb / na)
            apart = _apart(results, a, b, system)
            lines.append(Growth(f"{a}→{b}: rows x{nb / na:.1f}, time x{tb / ta:.2f} (exponent {exponent:.2f}"
                                f"{f'; {_APART}' if apart else ''})", exponent, apart))
    return lines


def render(results: Dict[str, Any], plots: Sequence[str], plot_dir: str) -> str:
    """The Markdown report."""
    meta = results.get("meta", {})
    v = meta.get("versions", {})
    tstats = training_stats(results)
    mstats = materialize_stats(results)
    out: List[str] = []
    add = out.append
    add("# Benchmarks: featurespark vs Feast")
    add("")
    commands = results.get("commands") or ["bash benchmarks/run.sh"]
    add("Generated by " + " then ".join(f"`{c.strip()}`" for c in commands)
        + " — do not edit by hand; rerun the command(s).")
    add("")
    dirty = meta.get("featurespark_uncommitted_files")
    add(f"- **Date**: {meta.get('date', '?')}, git commit `{meta.get('git_commit', '?')}`"
        + (f" plus uncommitted changes in {dirty} file(s) under featurespark/ (work of other engineers in progress)"
           if dirty else ""))
    for extra in results.get("appended", []):
        what = (f"training cases {', '.join(extra['cases'])} of sizes {', '.join(extra['sizes'])}" if extra.get("cases")
                else f"sizes {', '.join(extra['sizes'])}")
        where = f" at git commit `{extra['git_commit']}` on {extra.get('cpu', '?')}" if extra.get("git_commit") else ""
        add(f"- {what[0].upper()}{what[1:]} measured by a later command (`--append`) on {extra['date']}{where}, "
            f"replacing earlier results of those {'cases' if extra.get('cases') else 'sizes'} (load average at start "
            f"{[round(x, 1) for x in extra['load_average_at_start']]})")
    add(f"- **Machine**: {meta.get('cpu', '?')}, {meta.get('cores', '?')} cores visible, "
        f"{meta.get('memory_gib', '?')} GiB RAM, {meta.get('os', '?')}")
    add(f"- **Load average** (1/5/15 min) at start {[round(x, 1) for x in meta.get('load_average_at_start', [])]}"
        f", at end {[round(x, 1) for x in meta.get('load_average_at_end', [])] or 'n/a'} (2 cores: above 2 means "
        "other processes competed for the CPU)")
    add(f"- **Versions**: featurespark {v.get('featurespark')}, Feast {v.get('feast')}, PySpark {v.get('pyspark')}, "
        f"Delta {v.get('delta-spark')}, boto3 {v.get('boto3')}, pandas {v.get('pandas')}, pyarrow "
        f"{v.get('pyarrow')}, Python {meta.get('python')}, {meta.get('java')}, "
        f"{meta.get('dynamodb_endpoint') or meta.get('dynamodb_local')}")
    conf = meta.get("spark_conf", {})
    add("- **Spark** (one session shared by both systems, start-up not timed): "
        + ", ".join(f"`{k}={val}`" for k, val in conf.items()))
    add("- **Caveat**: the machine is shared with other engineers running Spark jobs at the same time, so "
        "absolute times are noisy. Systems were run alternately (order rotated every run) in one process, so "
        "the **ratios** measured side by side are what counts. Medians over the runs, with min–max.")
    add("")

    add("## Data")
    add("")
    add("Generated with Spark by `benchmarks/data.py`, written once as Parquet and read by both systems: hourly "
        "driver stats with ~1% late corrections (same event time, created time one day later), daily customer "
        "profiles, sparse weekly driver-customer pair stats; entity rows with ~2% unknown drivers, ~1% unknown "
        "customers, ~1% exact duplicates, ~30% drawn from pairs that have stats. `_skew`: driver 0 gets 30% of "
        "the entity rows and 10% extra driver-stat rows.")
    add("")
    add("| size | entity rows | driver_hourly_stats | customer_profile | driver_customer_stats | generate (s, not timed) |")
    add("| --- | ---: | ---: | ---: | ---: | ---: |")
    for size, ds in results.get("datasets", {}).items():
        r = ds["rows"]
        add(f"| {size} | {r['orders']:,} | {r['driver_hourly_stats']:,} | {r['customer_profile']:,} | "
            f"{r['driver_customer_stats']:,} | {ds.get('generate_seconds', 0):.0f} |")
    add("")

    add("## Training sets")
    add("")
    add("All 8 features of the 3 views for every entity row, written to Parquet. `featurespark_*`: "
        "`FeatureStore.get_historical_features(algorithm=...)`; `feast`: Feast's `get_historical_features` on "
        "its Spark offline store (`SparkSource` over the same files) and `to_spark_df()`; `io_floor`: read every "
        "input once into the `noop` sink; `join_floor`: entity rows left-joined with one row per key of each view "
        "(`dropDuplicates` on the keys over the full history), written to Parquet; `sort_floor`: per view, the "
        "entity rows and the view's rows unioned, shuffled by key and sorted by key and time, entity rows kept, "
        "written to Parquet; `featurespark_chained`: three chained `point_in_time_join` calls on the same files.")
    add("")
    if tstats:
        table_start = len(out)
        add("| size | system | runs | seconds: median (min–max) | Feast / this | this / sort floor | this / join floor "
            "| this / I/O floor |")
        add("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for size, per in tstats.items():
            feast = per.get("feast", (None,))[0]
            sf = per.get("sort_floor", (None,))[0]
            jf = per.get("join_floor", (None,))[0]
            io = per.get("io_floor", (None,))[0]
            for system in TRAINING_ORDER:
                if system in per:
                    med = per[system][0]
                    n = sum(1 for r in _records(results, "training") if r["size"] == size and r["system"] == system
                            and r["seconds"] is not None)
                    ratio = functools.partial(_marked_ratio, results, size)
                    add(f"| {size} | {system} | {n} | {_fmt_s(per[system])} | "
                        f"{ratio(('feast', system), feast, med) if system.startswith('featurespark') else ''} | "
                        f"{ratio((system, 'sort_floor'), med, sf) if system not in FLOORS else ''} | "
                        f"{ratio((system, 'join_floor'), med, jf) if system not in FLOORS else ''} | "
                        f"{ratio((system, 'io_floor'), med, io) if system != 'io_floor' else ''} |")
        add("")
        if any(" †" in line for line in out[table_start:]):
            add("† The two results of this ratio were measured by different commands (not side by side); a target "
                "that compares them reads n/a.")
            add("")
    timeouts = [r for r in _records(results, "training") if r.get("timed_out")]
    for r in timeouts:
        add(f"- {r['size']} {r['system']}: **cancelled after {r['timeout_s']:.0f} s** (did not finish; not run again)")
    if timeouts:
        add("")
    for name in plots:
        if name in ("training.svg", "scaling.svg"):
            add(f"![{name}]({plot_dir}/{name})")
    add("")
    growth = {s: _growth(results, tstats, s) for s in ("featurespark_auto", "feast", "join_floor")}
    if any(growth.values()):
        add("Growth with size (exponent of time in rows: 1.0 is linear):")
        add("")
        for s, lines in growth.items():
            if lines:
                add(f"- {s}: " + "; ".join(g.text for g in lines))
        add("")

    cmps = results.get("comparisons", {})
    if cmps:
        add("### Do the outputs agree?")
        add("")
        add("featurespark `auto` compared with each other output as multisets of rows (`exceptAll` both ways, "
            "duplicates counted), and per feature by `order_id`.")
        add("")
        add("| size | compared with | rows (fs / other) | rows only in fs | rows only in other | features differing (rows) |")
        add("| --- | --- | ---: | ---: | ---: | --- |")
        for size, per in cmps.items():
            for other, c in per.items():
                diff = ", ".join(f"{k}: {val}" for k, val in c.get("feature_mismatches", {}).items() if val) or "none"
                add(f"| {size} | {other} | {c['rows_left']:,} / {c['rows_right']:,} | {c['only_left']:,} | "
                    f"{c['only_right']:,} | {diff} |")
        add("")
    add("")

    add("## Materialize")
    add("")
    add(f"The latest row per key of the 3 views over the whole data into {endpoint_name(meta)} (items per second, whole "
        "call timed). `raw_loop`: the same items as featurespark writes, encoded beforehand (not timed), sent with "
        "25-item `BatchWriteItem` requests on 8 threads — the same requests in flight as featurespark (2 Spark "
        "task slots x 4 writer threads).")
    add("")
    if mstats:
        add("| size | system | items | items/s: median (min–max) | featurespark / this |")
        add("| --- | --- | ---: | ---: | ---: |")
        for size, per in mstats.items():
            fs = per.get("featurespark", (None,))[0]
            items = next((r["expected_items"] for r in _records(results, "materialize") if r["size"] == size), 0)
            for system in MATERIALIZE_ORDER:
                if system in per:
                    add(f"| {size} | {system} | {items:,} | {_fmt_rate(per[system])} | "
                        f"{_ratio(fs, per[system][0]) if system != 'featurespark' else ''} |")
        add("")
    counts = results.get("online_item_counts", {})
    if counts:
        add("Items found in each system's tables afterwards (a `Scan` count): " + "; ".join(
            f"{size}: expected {c['expected_total']:,}, " + ", ".join(
                f"{sys} {sum(v[sys] for v in c['per_view'].values()):,}" for sys in MATERIALIZE_ORDER)
            for size, c in counts.items()))
        add("")
    if "materialize.svg" in plots:
        add(f"![materialize]({plot_dir}/materialize.svg)")
        add("")

    add("## Online lookups")
    add("")
    add("Features of all 3 views for 1 and 100 entity rows (keys that exist) per call; calls of the three systems "
        "interleaved. `raw_batch_get`: plain `BatchGetItem` requests for the same keys on featurespark's tables "
        "(100 keys per request, requests in parallel on 8 threads like featurespark's reader), no decoding.")
    add("")
    lat = results.get("latency", [])
    if lat:
        add("| size | rows per call | system | calls | p50 ms | p90 ms | p99 ms | p50 / raw | p99 / raw |")
        add("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in sorted(lat, key=lambda x: (x["size"], x["batch"], ONLINE_ORDER.index(x["system"]))):
            raw = next((x for x in lat if x["size"] == r["size"] and x["batch"] == r["batch"]
                        and x["system"] == "raw_batch_get"), None)
            add(f"| {r['size']} | {r['batch']} | {r['system']} | {r['calls']} | {r['p50_ms']:.2f} | "
                f"{r['p90_ms']:.2f} | {r['p99_ms']:.2f} | "
                f"{_ratio(r['p50_ms'], raw['p50_ms']) if raw else 'n/a'} | "
                f"{_ratio(r['p99_ms'], raw['p99_ms']) if raw else 'n/a'} |")
        add("")
    if "online.svg" in plots:
        add(f"![online]({plot_dir}/online.svg)")
        add("")
    agree = results.get("online_agreement", {})
    if agree:
        add("Online values of featurespark and Feast for the same 100 keys (equal / rows): " + "; ".join(
            f"{size}: " + ", ".join(f"{f} {a['equal']}/{a['rows']}" for f, a in per.items())
            for size, per in agree.items()))
        add("")

    add("## Targets (issue #15)")
    add("")
    add("| target | measured | status |")
    add("| --- | --- | --- |")
    for size in [k for k in tstats if k in ("M", "M_skew")]:
        per = tstats[size]
        sf, jf = per.get("sort_floor", (None,))[0], per.get("join_floor", (None,))[0]
        for system in ("featurespark_auto", "featurespark_chained"):
            t = per.get(system, (None,))[0]
            for floor, name, bound, limit in ((sf, "sort_floor", "1.3x of the sort floor", 1.3),
                                              (jf, "join_floor", "2x of the join floor", 2.0)):
                status = _side_by_side_status(t / floor <= limit if t and floor else None,
                                              _cases_apart(results, size, system, name))
                add(f"| {size} {system} within {bound} | {_ratio(t, floor)} | {status} |")
    plain, skew = (tstats.get(k, {}).get("featurespark_auto", (None,))[0] for k in ("M", "M_skew"))
    status = _side_by_side_status(skew / plain <= 1.5 if skew and plain else None,
                                  _apart(results, "M", "M_skew", "featurespark_auto"))
    add(f"| M_skew within 1.5x of M (auto) | {_ratio(skew, plain)} | {status} |")
    for size, per in tstats.items():
        tiny = per.get("featurespark_tiny", (None,))[0]
        if tiny:
            add(f"| {size}: get_historical_features on 10 entity rows under 2 s | {tiny:.2f} s | {_met(tiny < 2)} |")
    m_auto, l_auto = (tstats.get(k, {}).get("featurespark_auto", (None,))[0] for k in ("M", "L"))
    if m_auto and l_auto:
        rows = (_entity_rows(results, "L") or 0) / (_entity_rows(results, "M") or 1)
        status = _side_by_side_status(l_auto / m_auto <= 1.1 * rows, _apart(results, "M", "L", "featurespark_auto"))
        add(f"| L ({rows:.0f}x M's entity rows) at most {1.1 * rows:.1f}x M's time (auto) | {_ratio(l_auto, m_auto)} | "
            f"{status} |")
    mat = materialize_stats(results).get("M", {})
    fs_mat, raw_mat, feast_mat = (mat.get(s, (None,))[0] for s in ("featurespark", "raw_loop", "feast"))
    add(f"| M materialize at least 0.9x the raw loop | {_ratio(fs_mat, raw_mat)} | "
        f"{_met(fs_mat / raw_mat >= 0.9 if fs_mat and raw_mat else None)} |")
    add(f"| M materialize at least 2x Feast | {_ratio(fs_mat, feast_mat)} | "
        f"{_met(fs_mat / feast_mat >= 2 if fs_mat and feast_mat else None)} |")
    for batch in (1, 100):
        fs_l, raw_l = (next((x for x in results.get("latency", []) if x["size"] == "M" and x["batch"] == batch
                             and x["system"] == system), None) for system in ("featurespark", "raw_batch_get"))
        if fs_l and raw_l:
            p50, p99 = fs_l["p50_ms"] / raw_l["p50_ms"], fs_l["p99_ms"] / raw_l["p99_ms"]
            add(f"| M online, {batch} row(s): p50 within 1.15x and p99 within 1.3x of raw BatchGetItem | "
                f"p50 {p50:.2f}x, p99 {p99:.2f}x | {_met(p50 <= 1.15 and p99 <= 1.3)} |")
    add("")

    add("## Targets (issue #7)")
    add("")
    add("| target | measured | status |")
    add("| --- | --- | --- |")
    m = tstats.get("M", {})
    fs_m = m.get("featurespark_auto", (None,))[0]
    feast_m = m.get("feast", (None,))[0]
    jf_m = m.get("join_floor", (None,))[0]
    feast_status = _side_by_side_status(feast_m / fs_m >= 10 if fs_m and feast_m else None,
                                        _cases_apart(results, "M", "feast", "featurespark_auto"))
    add(f"| Training set M ≥ 10x faster than Feast | Feast / featurespark = {_ratio(feast_m, fs_m)} | "
        f"{feast_status} |")
    join_status = _side_by_side_status(fs_m / jf_m <= 2 if fs_m and jf_m else None,
                                       _cases_apart(results, "M", "featurespark_auto", "join_floor"))
    add(f"| Training set M within 2x of the join floor | featurespark / join floor = {_ratio(fs_m, jf_m)} | "
        f"{join_status} |")
    g = _growth(results, tstats, "featurespark_auto")
    add(f"| Training set grows at most linearly | {'; '.join(x.text for x in g) or 'n/a'} | {growth_status(g)} |")
    biggest = list(mstats)[-1] if mstats else None
    if biggest:
        per = mstats[biggest]
        fs, raw, fe = (per.get(k, (None,))[0] for k in ("featurespark", "raw_loop", "feast"))
        add(f"| Materialize ≥ 90% of the raw loop ({biggest}) | featurespark / raw = {_ratio(fs, raw)} | "
            f"{_met(fs / raw >= 0.9 if fs and raw else None)} |")
        add(f"| Materialize ≥ 2x Feast ({biggest}) | featurespark / Feast = {_ratio(fs, fe)} | "
            f"{_met(fs / fe >= 2 if fs and fe else None)} |")
    if lat:
        size = lat[-1]["size"]
        parts, oks = [], []
        for batch in sorted({r["batch"] for r in lat if r["size"] == size}):
            fs_r = next(x for x in lat if x["size"] == size and x["batch"] == batch and x["system"] == "featurespark")
            raw_r = next(x for x in lat if x["size"] == size and x["batch"] == batch and x["system"] == "raw_batch_get")
            parts.append(f"{batch} row(s): p50 {_ratio(fs_r['p50_ms'], raw_r['p50_ms'])}, "
                         f"p99 {_ratio(fs_r['p99_ms'], raw_r['p99_ms'])}")
            oks.append(fs_r["p50_ms"] / raw_r["p50_ms"] <= 1.2 and fs_r["p99_ms"] / raw_r["p99_ms"] <= 1.2)
        add(f"| Online within 1.2x of raw BatchGetItem ({size}) | {'; '.join(parts)} | {_met(all(oks))} |")
    add("")
    failures = results.get("failures", {})
    if failures:
        add("## Failures")
        add("")
        for size, msg in failures.items():
            add(f"- {size}: `{msg.splitlines()[0][:300]}`")
        add("")
    notes = Path(__file__).with_name("NOTES.md")
    if notes.exists():
        add(notes.read_text().strip())
        add("")
    return "\n".join(out)


def write_report(results: Dict[str, Any], report: Path, results_dir: Path) -> None:
    """Write the plots into ``results_dir`` and the Markdown report to ``report``.

    The windowed-aggregation section (:mod:`benchmarks.agg_report`, from ``aggregations.json`` in
    ``results_dir``) and the online-aggregation section (:mod:`benchmarks.online_aggs`, from
    ``online_aggregations.json``) follow the Feast sections when those benchmarks have run.
    """
    from benchmarks import agg_report, online_aggs

    plots = plot_all(results, results_dir)
    try:
        plot_dir = str(results_dir.resolve().relative_to(report.resolve().parent))
    except ValueError:
        plot_dir = str(results_dir.resolve())
    sections = [render(results, plots, plot_dir), agg_report.section(results_dir, plot_dir),
                online_aggs.section(results_dir)]
    report.write_text("\n".join(s for s in sections if s) + "\n")


def regenerate(report: Path, results_dir: Path) -> None:
    """Rewrite ``report`` from the results files in ``results_dir`` (``results.json``, ``aggregations.json``)."""
    import json

    path = results_dir / "results.json"
    write_report(json.loads(path.read_text()) if path.exists() else {}, report, results_dir)
