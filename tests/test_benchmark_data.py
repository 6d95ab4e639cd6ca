"""The benchmark data generator (benchmarks/data.py) makes the shapes the benchmarks rely on.

Runs in the main virtualenv on tiny sizes; Feast is not needed.
"""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from benchmarks.data import (
    SIZES,
    BenchSize,
    customer_profile,
    driver_customer_stats,
    driver_hourly_stats,
    entity_rows,
    size_by_name,
    write_dataset,
)

pytestmark = pytest.mark.main_run_only(reason="the benchmarks run in a Spark 4 environment of their own "
                                                    "(benchmarks/setup.sh)")

TINY = BenchSize("T", drivers=12, customers=40, days=8, entity_rows=3000, pairs=60)


def test_driver_stats_have_late_corrections_and_no_ties(spark: SparkSession) -> None:
    df = driver_hourly_stats(spark, TINY)
    regular = TINY.drivers * TINY.days * 24
    total = df.count()
    assert regular < total < regular * 1.05  # ~1% corrections on top of one row per driver and hour
    per_event = df.groupBy("driver_id", "event_timestamp").agg(
        F.count(F.lit(1)).alias("n"), F.min("created").alias("first"), F.max("created").alias("last")
    )
    corrected = per_event.where("n > 1")
    assert corrected.count() == total - regular
    assert corrected.where("n != 2 OR last - first != INTERVAL 1 DAY").count() == 0
    assert df.groupBy("driver_id", "event_timestamp", "created").count().where("count > 1").count() == 0
    bounds = df.agg(F.min("event_timestamp"), F.max("event_timestamp")).first()
    assert bounds[0] >= TINY.start.replace(tzinfo=None) and bounds[1] < TINY.end.replace(tzinfo=None)


def test_customer_profile_is_daily_per_customer(spark: SparkSession) -> None:
    df = customer_profile(spark, TINY)
    assert df.count() == TINY.customers * TINY.days
    assert df.groupBy("customer_id").count().where(f"count != {TINY.days}").count() == 0
    assert df.select("customer_id").distinct().count() == TINY.customers


def test_pair_stats_are_sparse_weekly_and_distinct(spark: SparkSession) -> None:
    df = driver_customer_stats(spark, TINY)
    n = df.count()
    assert 0.3 * TINY.pairs * TINY.weeks < n < 0.7 * TINY.pairs * TINY.weeks  # each week present with p=0.5
    assert df.groupBy("driver_id", "customer_id", "event_timestamp").count().where("count > 1").count() == 0
    pairs = df.select("driver_id", "customer_id").distinct()
    present_once = 1 - (1 - 0.5) ** TINY.weeks  # chance that a pair has a row in at least one week
    assert TINY.pairs * present_once * 0.7 < pairs.count() <= TINY.pairs
    assert pairs.where(f"driver_id < 0 OR driver_id >= {TINY.drivers}").count() == 0
    weekdays = df.select(F.floor((F.unix_seconds("event_timestamp") - int(TINY.start.timestamp())) / 86400 / 7))
    assert weekdays.distinct().count() == TINY.weeks


def test_entity_rows_have_unknown_keys_duplicates_and_known_pairs(spark: SparkSession) -> None:
    df = entity_rows(spark, TINY)
    n = df.count()
    distinct = df.distinct().count()
    assert TINY.entity_rows == distinct and n > distinct  # ~1% exact duplicates
    assert df.where(f"driver_id >= {TINY.drivers}").count() > 0
    customers = customer_profile(spark, TINY).select("customer_id").distinct()
    assert df.join(customers, "customer_id", "left_anti").count() > 0
    pairs = driver_customer_stats(spark, TINY).select("driver_id", "customer_id").distinct()
    share = df.join(pairs, ["driver_id", "customer_id"]).count() / n
    assert 0.2 < share < 0.45  # ~30% drawn from pairs with stats (plus chance hits)
    low = (TINY.start + timedelta(days=1)).replace(tzinfo=None)
    assert df.where(F.col("event_timestamp") < F.lit(low)).count() == 0


def test_skewed_variant_puts_a_share_of_rows_on_one_driver(spark: SparkSession) -> None:
    skewed = TINY.skewed(key_share=0.4, feature_share=0.2)
    entities = entity_rows(spark, skewed)
    hot_share = entities.where("driver_id = 0").count() / entities.count()
    assert 0.35 < hot_share < 0.5
    stats = driver_hourly_stats(spark, skewed)
    regular_per_driver = TINY.days * 24
    assert stats.where("driver_id = 0").count() > regular_per_driver + 0.2 * TINY.driver_rows * 0.9
    assert stats.groupBy("driver_id", "event_timestamp", "created").count().where("count > 1").count() == 0


def test_size_names() -> None:
    assert size_by_name("M") == SIZES["M"]
    assert size_by_name("S_skew").hot_key_share > 0
    assert SIZES["M"].entity_rows == 1_000_000 and 2_500_000 < SIZES["M"].driver_rows < 2_700_000
    with pytest.raises(ValueError, match="unknown size 'XL'; known sizes: XS, S, M, L"):
        size_by_name("XL")


def test_write_dataset_reuses_a_complete_folder(spark: SparkSession, tmp_path: Path) -> None:
    first = write_dataset(spark, TINY, str(tmp_path))
    assert first["rows"]["customer_profile"] == TINY.customers * TINY.days
    assert spark.read.parquet(first["paths"]["orders"]).count() == first["rows"]["orders"]
    marker = Path(first["paths"]["orders"]) / "_SUCCESS"
    mtime = marker.stat().st_mtime_ns
    assert write_dataset(spark, TINY, str(tmp_path)) == first
    assert marker.stat().st_mtime_ns == mtime  # not rewritten
    other = write_dataset(spark, BenchSize("T", drivers=3, customers=5, days=2, entity_rows=10, pairs=2),
                          str(tmp_path))
    assert other["rows"]["customer_profile"] == 10
    assert json.loads((tmp_path / "manifest.json").read_text()) == other


def test_append_with_cases_replaces_only_those_training_results() -> None:
    from benchmarks.bench import _merge, parse_args

    def rec(bench: str, size: str, system: str) -> dict:
        return {"bench": bench, "size": size, "system": system, "run": 0, "seconds": 1.0}

    old = {"records": [rec("training", "M", "featurespark_tiny"), rec("training", "M", "feast"),
                       rec("materialize", "M", "feast"), rec("training", "S", "featurespark_tiny")],
           "latency": [{"size": "M"}], "comparisons": {"M": {}}, "datasets": {"M": {}}, "failures": {}}
    merged = _merge(json.loads(json.dumps(old)), ["M", "L"], parse_args(["--cases", "featurespark_tiny,feast",
                                                                        "--online-sizes", "XS", "--append"]))
    kept = {(r["bench"], r["size"], r["system"]) for r in merged["records"]}
    # M's re-measured training cases go; its materialize results, lookups and comparisons stay
    assert kept == {("materialize", "M", "feast"), ("training", "S", "featurespark_tiny")}
    assert merged["latency"] == [{"size": "M"}] and "M" in merged["comparisons"] and "M" not in merged["datasets"]
    assert merged["appended"][-1]["git_commit"] and merged["appended"][-1]["cpu"]  # which code, on which machine
    # the same cases, with M's online benchmarks measured again (the default --online-sizes): replaced, not doubled
    online = _merge(json.loads(json.dumps(old)), ["M"], parse_args(["--cases", "featurespark_tiny", "--append"]))
    assert {(r["bench"], r["size"], r["system"]) for r in online["records"]} == {
        ("training", "M", "feast"), ("training", "S", "featurespark_tiny")}
    assert online["latency"] == [] and "M" in online["comparisons"]
    whole = _merge(json.loads(json.dumps(old)), ["M"], parse_args(["--append"]))  # no --cases: all of M goes
    assert {r["size"] for r in whole["records"]} == {"S"} and whole["latency"] == []


def test_sort_floor_shuffles_every_view_s_rows(spark: SparkSession, tmp_path: Path) -> None:
    from benchmarks.systems import VIEWS
    from benchmarks.training import sort_floor_frame

    paths = write_dataset(spark, TINY, str(tmp_path))["paths"]
    frame = sort_floor_frame(spark, paths)
    read = "\n".join(frame.inputFiles())  # the files of the optimized plan's scans
    for view in VIEWS:  # each view's files are read: its rows are shuffled and sorted with the entity rows
        assert f"/{Path(paths[view.table]).name}/" in read, view.table
    assert frame.count() == spark.read.parquet(paths["orders"]).count()


def test_results_of_different_commands_are_not_compared_as_side_by_side() -> None:
    from benchmarks.report import measured_by

    results = {"appended": [{"sizes": ["M", "L"], "cases": ["featurespark_auto", "sort_floor"]},
                            {"sizes": ["M"], "cases": ["featurespark_tiny"]},
                            {"sizes": ["M"], "cases": ["featurespark_auto"]},
                            {"sizes": ["M_skew"]}]}
    assert measured_by(results, "S") == 0  # never measured again: the first command's
    assert measured_by(results, "L", "featurespark_auto") == 1
    assert measured_by(results, "M", "featurespark_auto") == 3  # L's partner was measured again without L
    assert measured_by(results, "M", "sort_floor") == 1
    assert measured_by(results, "M_skew", "featurespark_auto") == 4  # no cases: every case of the size
    assert measured_by(results, "M") == 3


def test_ratios_of_results_from_different_commands_are_marked_in_the_table() -> None:
    from benchmarks.report import render

    results = json.loads((Path(__file__).resolve().parents[1] / "benchmarks/results/results.json").read_text())

    def row(res: dict, size: str, system: str) -> str:
        text = render(res, [], "benchmarks/results")
        return next(line for line in text.splitlines() if line.startswith(f"| {size} | {system} |"))

    one_command = {**results, "appended": []}
    assert "†" not in row(one_command, "M", "featurespark_auto")
    # M's sort floor re-measured by a later command: only the ratios that divide by it are marked
    later_floor = {**results, "appended": [{"sizes": ["M"], "cases": ["sort_floor"], "date": "d",
                                            "load_average_at_start": [1.0, 1.0, 1.0]}]}
    cells = [c.strip() for c in row(later_floor, "M", "featurespark_auto").split("|")[1:-1]]
    assert cells[5].endswith("x †") and "†" not in cells[6], cells  # this / sort floor, this / join floor
    # ... and the target that compares them is not called met or not met
    target = next(line for line in render(later_floor, [], "benchmarks/results").splitlines()
                  if line.startswith("| M featurespark_auto within 1.3x of the sort floor |")).split("|")[-2].strip()
    assert target.startswith("n/a (not side by side"), target
