"""The aggregation benchmark's data, systems and report (benchmarks/agg_*.py) on tiny sizes."""
from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from benchmarks.agg_data import DAY_US, AggSize, agg_size_by_name, orders, trips, write_agg_dataset
from benchmarks.agg_report import render, timing_stats
from benchmarks.agg_systems import OUTPUTS, SYSTEMS, compare_outputs, range_between, save

pytestmark = pytest.mark.main_run_only(reason="the benchmarks run in a Spark 4 environment of their own "
                                                    "(benchmarks/setup.sh)")

TINY = AggSize("T", events=3_000, keys=40, entity_rows=300, days=10, query_days=5, merchants=30)


def test_trips_are_skewed_and_orders_fall_in_the_last_days(spark: SparkSession) -> None:
    events = trips(spark, TINY)
    shares = events.groupBy("driver_id").count().orderBy(F.desc("count")).limit(1).first()
    assert shares is not None and shares["driver_id"] == 0
    # driver 0 holds about keys ** (-1/3) of the events (29% for 40 keys)
    assert 0.2 < shares["count"] / TINY.events < 0.4
    stats = events.agg(F.min("event_ts").alias("lo"), F.max("event_ts").alias("hi"),
                       F.avg(F.col("rating").isNull().cast("double")).alias("null_ratings")).first()
    assert stats is not None and (stats["hi"] - stats["lo"]).total_seconds() < TINY.days * 86_400
    assert 0.01 < stats["null_ratings"] < 0.12
    entity = orders(spark, TINY).agg(F.min(F.unix_micros("order_ts")).alias("lo")).first()
    first_event = events.agg(F.min(F.unix_micros("event_ts")).alias("lo")).first()
    assert entity is not None and first_event is not None
    assert entity["lo"] - first_event["lo"] >= (TINY.days - TINY.query_days) * DAY_US - DAY_US
    with pytest.raises(ValueError, match="unknown aggregation benchmark size 'XL'; known sizes: XS, S, M"):
        agg_size_by_name("XL")


def test_featurespark_agrees_with_the_range_join_and_range_between(spark: SparkSession, tmp_path: Path) -> None:
    manifest = write_agg_dataset(spark, TINY, str(tmp_path / "data"))
    assert manifest["rows"] == {"trips": TINY.events, "orders": TINY.entity_rows}
    assert write_agg_dataset(spark, TINY, str(tmp_path / "data")) == manifest  # reused, not regenerated
    paths = manifest["paths"]
    for name in ("featurespark", "range_join"):
        save(spark, SYSTEMS[name], paths, str(tmp_path / name))
    save(spark, range_between, paths, str(tmp_path / "range_between"))
    exact = compare_outputs(spark, str(tmp_path / "featurespark"), str(tmp_path / "range_join"))
    assert exact["rows_left"] == exact["rows_right"] == TINY.entity_rows and exact["unmatched"] == 0
    assert set(exact["mismatches"]) == set(OUTPUTS) and not any(exact["mismatches"].values()), exact
    windows = compare_outputs(spark, str(tmp_path / "featurespark"), str(tmp_path / "range_between"))
    differing = {c for c, n in windows["mismatches"].items() if n}
    assert differing <= {"merchant_id_approx_count_distinct_7d"}, windows  # HyperLogLog++ there


def test_report_section_ratios_and_targets() -> None:
    records = [
        {"size": size, "system": system, "seconds": seconds, "run": 0}
        for size, per in {"S": {"featurespark": 4.0, "sort_floor": 2.0, "range_join": 50.0, "range_between": 30.0},
                          "M": {"featurespark": 40.0, "sort_floor": 20.0, "range_between": 600.0}}.items()
        for system, seconds in per.items()
    ] + [{"size": "M", "system": "range_join", "seconds": None, "run": 0, "timed_out": True, "timeout_s": 900.0}]
    results = {"records": records, "commands": ["bash benchmarks/run.sh aggregations --sizes S,M"],
               "datasets": {"S": {"rows": {"trips": 1_000_000, "orders": 100_000}, "size": {"keys": 10_000}},
                            "M": {"rows": {"trips": 10_000_000, "orders": 1_000_000}, "size": {"keys": 100_000}}},
               "comparisons": {"S": {"range_join": {"rows_left": 10, "rows_right": 10, "unmatched": 0,
                                                     "mismatches": {"fare_sum_1h": 0}}}}}
    assert timing_stats(results)["M"]["featurespark"] == (40.0, 40.0, 40.0)
    text = render(results, ["aggregations.svg"], "results")
    assert "Harness check only" not in text
    assert "| M | featurespark | 1 | 40.0 (40.0–40.0) | 2.00x |  |" in text
    assert "| within 2.5x of the sort floor | featurespark / floor = 2.00x | **met** |" in text
    assert "| ≥ 5x faster than rangeBetween | rangeBetween / featurespark = 15.00x | **met** |" in text
    # Cancelled on M after 900 s: at least 900 / 40 = 22.5x, a lower bound that reaches the 10x target.
    assert ("| ≥ 10x faster than range join + group-by | range join / featurespark = ≥ 22.50x (cancelled after 900 s: "
            "a lower bound) | **met** (lower bound) |") in text
    assert "- M range_join: **cancelled after 900 s** (not run again)" in text
    assert "S→M: events x10.0, time x10.00 (exponent 1.00)" in text
    assert "| S | range_join | 10 / 10 | 0 | none |" in text
    short = [{**r, "timeout_s": 300.0} if r.get("timed_out") else r for r in records]
    assert ("range join / featurespark = ≥ 7.50x (cancelled after 300 s: a lower bound) | n/a (the lower bound is "
            "below 10x; a timeout over 400 s would tell) |") in render({**results, "records": short}, [], "results")
    later = {**results, "appended": [{"sizes": ["M"], "date": "2026-11-30 09:23 UTC", "load_average_at_start": [1.0]}]}
    apart = render(later, [], "results")
    assert "(exponent 1.00; not side by side: the two sizes were measured by different commands)" in apart
    assert "| n/a (measure the sizes in one command) |" in apart
    small = render({**results, "records": [r for r in records if r["size"] == "S"]}, [], "results")
    assert "Harness check only" in small and "on size S:" in small
