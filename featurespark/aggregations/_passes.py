"""The window passes over the union of query and event rows, after its one shuffle.

All passes share the partitioning ``(k0..kn, SPLIT)``, so Spark shuffles once and sorts within
partitions once per distinct ordering:

1. distinct gaps (approx_count_distinct only), per aggregated column: ``lag``/``lead`` of the time over
   ``(keys, value hash)``, ordered by time;
2. descending pass (first, min and max over finite windows): growing frames ``RANGE BETWEEN UNBOUNDED
   PRECEDING AND w FOLLOWING`` over time descending, i.e. the rows at or after ``t - w``;
3. last_k of the second and later aggregated columns (rare): ``lag(struct(ts, x), j) IGNORE NULLS``
   for ``j = 1..k`` over rows ordered by (time, queries before events, value), one sort per column;
4. ascending pass, ordered by ``ORDER = 2 * time + mark`` (queries before events at one instant, in
   one key, as range frames need): growing frames ``RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING``
   (rows before ``t``) and ``... AND 2w + 1 PRECEDING`` (rows before ``t - w``), and the last_k lags of
   the first last_k column. The rows are sorted by (ORDER, that column's value) first, so that the lags
   see events at one instant in ascending value order (the tie rule) while the frames, which treat
   rows of equal ORDER as peers, need no sort of their own: one window operator for all of them.

Growing frames are evaluated incrementally by Spark (each row enters the aggregate once), unlike
sliding frames, which re-aggregate their buffer for every row.
"""
from __future__ import annotations

import logging
from typing import Optional

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql.window import WindowSpec
from pyspark.sql import functions as F

from featurespark.aggregations._inputs import Inputs, lag_payload, role_gate
from featurespark.aggregations._names import (
    HOT,
    MARK,
    ORDER,
    PAYLOAD,
    QUERY_ROW,
    SPLIT,
    TIME,
    key_col,
    slot_col,
)
from featurespark.aggregations._validate import AggregationPlan
from featurespark.aggregations.hot_keys import reference_value, value_hash
from featurespark.pit._common import col, tie_value

logger = logging.getLogger(__name__)


def partition_columns(plan: AggregationPlan) -> list[str]:
    """The columns every pass is partitioned by: the keys and ``SPLIT`` (hot-key bucket or null-key salt)."""
    return [*[key_col(j) for j in range(len(plan.key_types))], SPLIT]


def run_passes(union: DataFrame, plan: AggregationPlan, inputs: Inputs, *, roles: bool, hot: bool) -> DataFrame:
    """Compute every output at the query rows of ``union``; return the entity columns and the outputs.

    Parameters
    ----------
    union : DataFrame
        Query rows and event rows (and carry rows of hot keys) in the internal layout.
    plan : AggregationPlan
        The resolved plan.
    inputs : Inputs
        The frame inputs of the plan.
    roles : bool
        Whether event rows carry ``ROLE`` (hot keys or as_known_at_query_time).
    hot : bool
        Whether hot-key rows (with ``HOT``, carry rows and precomputed gaps and references) are present.
    """
    part = partition_columns(plan)
    # One explicit shuffle by the partition columns: the passes below need nothing more, whereas letting
    # the first window choose would partition by (keys, value hash) when approx_count_distinct comes first.
    # The number of partitions is the session's spark.sql.shuffle.partitions (read, never set): adaptive
    # execution would coalesce by shuffled bytes, but the windows cost per row, and a few large partitions
    # leave cores idle behind the largest (measured: 10-25% slower on 2 cores).
    partitions = int(union.sparkSession.conf.get("spark.sql.shuffle.partitions", "200") or 200)
    frame = union.repartition(partitions, *[col(c) for c in part])
    frame = _distinct_gaps(frame, plan, part, roles, hot)
    frame = _descending(frame, inputs, part, roles, hot)
    lag_slots = _last_k_slots(plan)
    frame, lag_arrays = _newest(frame, plan, part, roles, lag_slots[1:])
    frame, merged_lags = _ascending_order(frame, plan, part, roles, lag_slots[:1])
    frame = _references(frame, plan, part, hot)
    frame = _ascending(frame, plan, inputs, part, roles, hot, merged_lags)
    lag_arrays.update({slot: F.array(*[col(name) for name in names]) for slot, (names, _) in merged_lags.items()})
    entity = col(PAYLOAD)
    return frame.where(col(MARK) == F.lit(QUERY_ROW)).select(
        *[entity.getField(c).alias(c) for c in plan.entity_columns],
        *inputs.output_columns(lag_arrays),
    )


def _not_hot(hot: bool) -> Optional[Column]:
    return ~F.coalesce(col(HOT), F.lit(False)) if hot else None


def _distinct_gaps(frame: DataFrame, plan: AggregationPlan, part: list[str], roles: bool, hot: bool) -> DataFrame:
    for slot in plan.slots:
        if not plan.uses(slot.index, "approx_count_distinct"):
            continue
        gate = role_gate("entry", None, roles)
        cold = _not_hot(hot)
        if cold is not None:
            gate = cold if gate is None else gate & cold
        hashed_name = slot_col(slot.index, "h")
        frame = frame.withColumn(hashed_name, value_hash(slot, gate))
        hashed = col(hashed_name)
        window = Window.partitionBy(*[col(c) for c in part], hashed).orderBy(col(TIME))
        prev_gap = F.when(hashed.isNotNull(), col(TIME) - F.lag(col(TIME)).over(window))
        next_gap = F.when(hashed.isNotNull(), F.lead(col(TIME)).over(window) - col(TIME))
        pg, ng = slot_col(slot.index, "pg"), slot_col(slot.index, "ng")
        if hot:  # hot keys' gaps were computed before the split (hot_keys.hot_gaps)
            prev_gap, next_gap = F.coalesce(col(pg), prev_gap), F.coalesce(col(ng), next_gap)
        frame = frame.withColumns({pg: prev_gap, ng: next_gap})
    return frame


def _descending(frame: DataFrame, inputs: Inputs, part: list[str], roles: bool, hot: bool) -> DataFrame:
    reads = inputs.frame_inputs("desc")
    if not reads:
        return frame
    window = Window.partitionBy(*[col(c) for c in part]).orderBy(col(TIME).desc())
    columns = []
    for inp, frame_ref in reads:
        j = frame_ref[1]
        assert j is not None
        # In descending order "w FOLLOWING" is the rows at or after t - w.
        over = window.rangeBetween(Window.unboundedPreceding, inputs.plan.windows[j])
        gate = role_gate("desc", j, roles)
        columns.append(inputs.aggregate(inp, frame_ref, gate, hot).over(over).alias(inp.read_name(frame_ref)))
    return frame.select("*", *columns)


def _last_k_slots(plan: AggregationPlan) -> list[tuple[int, int]]:
    """(slot, greatest k) of every aggregated column with a last_k output, in slot order."""
    result = []
    for slot in plan.slots:
        ks = [o.k for o in plan.outputs if o.slot == slot.index and o.function == "last_k" and o.k is not None]
        if ks:
            result.append((slot.index, max(ks)))
    return result


def _lags(plan: AggregationPlan, slot: int, k: int, roles: bool,
          window: WindowSpec) -> tuple[dict[str, Column], list[str], list[Column]]:
    """The payload and tie columns of one last_k column, and its ``k`` lags over ``window``.

    PySpark's F.lag has no ignoreNulls argument (Scala's has, since 3.2), so the function call is parsed
    from SQL; only the engine's own column name and an integer go into the text, never a caller's
    identifier. Spark's IGNORE NULLS lag reads its input once per partition (linear).
    """
    info = plan.slots[slot]
    payload, tie = slot_col(slot, "lk"), slot_col(slot, "tie")
    columns = {
        payload: lag_payload(info, role_gate("lag", None, roles)),
        tie: tie_value(col(slot_col(slot, "x")), info.dtype),
    }
    names = [slot_col(slot, f"lag{n}_") for n in range(1, k + 1)]
    lags = [F.expr(f"lag(`{payload}`, {n}) IGNORE NULLS").over(window).alias(name)
            for n, name in enumerate(names, start=1)]
    return columns, names, lags


def _newest(frame: DataFrame, plan: AggregationPlan, part: list[str], roles: bool,
            slots: list[tuple[int, int]]) -> tuple[DataFrame, dict[int, Column]]:
    """last_k lags of the aggregated columns not served by the ascending pass: one sort each."""
    arrays: dict[int, Column] = {}
    for slot, k in slots:
        tie = col(slot_col(slot, "tie"))
        # Queries before events at one instant (an entity row never sees an event at its own time); events
        # at one instant in ascending value order, so the greater value counts as the newer (tie rule).
        window = Window.partitionBy(*[col(c) for c in part]).orderBy(col(TIME), col(MARK), tie)
        columns, names, lags = _lags(plan, slot, k, roles, window)
        frame = frame.withColumns(columns).select("*", *lags)
        arrays[slot] = F.array(*[col(name) for name in names])
    return frame, arrays


def _ascending_order(frame: DataFrame, plan: AggregationPlan, part: list[str], roles: bool,
                     slots: list[tuple[int, int]]) -> tuple[DataFrame, dict[int, tuple[list[str], list[Column]]]]:
    """Add ``ORDER``; with a last_k column, sort by (ORDER, its tie value) and return its lags to compute.

    ``ORDER = 2 * TIME + MARK`` keeps (time, queries before events) in one bigint: row times lie within
    +-2**61 (carry rows) and windows below 3.2e17 microseconds, so neither ORDER nor a frame bound
    overflows.
    """
    frame = frame.withColumn(ORDER, col(TIME) * F.lit(2) + col(MARK))
    if not slots:
        return frame, {}
    (slot, k), = slots
    window = Window.partitionBy(*[col(c) for c in part]).orderBy(col(ORDER))
    columns, names, lags = _lags(plan, slot, k, roles, window)
    # The window asks for (keys, ORDER) only, which this sort already satisfies, so Spark adds no sort of
    # its own and evaluates each partition in this order: the lags see events of one instant by ascending
    # value (the tie rule), while the range frames treat rows of equal ORDER as peers. The property tests
    # (tests/test_aggregations_properties.py) compare ties at one instant with the oracle.
    tie = col(slot_col(slot, "tie"))
    frame = frame.withColumns(columns).sortWithinPartitions(*[col(c) for c in part], col(ORDER), tie)
    return frame, {slot: (names, lags)}


def _references(frame: DataFrame, plan: AggregationPlan, part: list[str], hot: bool) -> DataFrame:
    slots = [s for s in plan.slots if plan.uses(s.index, "variance", "stddev")]
    if not slots:
        return frame
    # The same order as the ascending pass, so that it needs no sort of its own.
    whole = Window.partitionBy(*[col(c) for c in part]).orderBy(col(ORDER)).rowsBetween(
        Window.unboundedPreceding, Window.unboundedFollowing)
    updates = {}
    for slot in slots:
        ref = slot_col(slot.index, "ref")
        value = reference_value(slot).over(whole)
        updates[ref] = F.coalesce(col(ref), value) if hot else value
    return frame.withColumns(updates)


def _ascending(frame: DataFrame, plan: AggregationPlan, inputs: Inputs, part: list[str], roles: bool,
               hot: bool, merged_lags: dict[int, tuple[list[str], list[Column]]]) -> DataFrame:
    window = Window.partitionBy(*[col(c) for c in part]).orderBy(col(ORDER))
    columns = [lag for _, lags in merged_lags.values() for lag in lags]
    for kind in ("entry", "exit"):
        for inp, frame_ref in inputs.frame_inputs(kind):
            j = frame_ref[1]
            # Rows strictly before t (entry) or strictly before t - w (exit), in ORDER = 2 * TIME + MARK:
            # a query row at t has ORDER 2t, an event at time u has 2u + 1.
            end = -1 if j is None else -(2 * plan.windows[j] + 1)
            over = window.rangeBetween(Window.unboundedPreceding, end)
            gate = role_gate(kind, j, roles)
            columns.append(inputs.aggregate(inp, frame_ref, gate, hot).over(over).alias(inp.read_name(frame_ref)))
    if not columns:
        return frame
    return frame.select("*", *columns)
