"""The window passes over the union of query and event rows, after its one shuffle.

All passes share the partitioning ``(k0..kn, SPLIT)``, so Spark shuffles once and sorts within
partitions once per distinct ordering:

1. distinct gaps (approx_count_distinct only), per aggregated column: ``lag``/``lead`` of the time over
   ``(keys, value hash)``, ordered by time;
2. descending pass (first, min and max over finite windows): growing frames ``RANGE BETWEEN UNBOUNDED
   PRECEDING AND w FOLLOWING`` over time descending, i.e. the rows at or after ``t - w``;
3. last_k, per aggregated column: ``lag(struct(ts, x), j) IGNORE NULLS`` for ``j = 1..k`` over rows
   ordered by (time, queries before events, value);
4. ascending pass: growing frames ``RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING`` (rows before
   ``t``) and ``... AND w + 1 PRECEDING`` (rows before ``t - w``) over time ascending. It reuses the order of
   pass 3 (a prefix of it), so it adds no sort when last_k is present.

Growing frames are evaluated incrementally by Spark (each row enters the aggregate once), unlike
sliding frames, which re-aggregate their buffer for every row.
"""
from __future__ import annotations

import logging
from typing import Optional

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from featurespark.aggregations._inputs import Inputs, lag_payload, role_gate
from featurespark.aggregations._names import (
    HOT,
    MARK,
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
    frame, lag_arrays = _newest(frame, plan, part, roles)
    frame = _references(frame, plan, part, hot)
    frame = _ascending(frame, plan, inputs, part, roles, hot)
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


def _newest(frame: DataFrame, plan: AggregationPlan, part: list[str], roles: bool) -> tuple[DataFrame, dict[int, Column]]:
    arrays: dict[int, Column] = {}
    for slot in plan.slots:
        ks = [o.k for o in plan.outputs if o.slot == slot.index and o.function == "last_k" and o.k is not None]
        if not ks:
            continue
        payload, tie = slot_col(slot.index, "lk"), slot_col(slot.index, "tie")
        frame = frame.withColumns({
            payload: lag_payload(slot, role_gate("lag", None, roles)),
            tie: tie_value(col(slot_col(slot.index, "x")), slot.dtype),
        })
        # Queries before events at one instant (an entity row never sees an event at its own time); events
        # at one instant in ascending value order, so the greater value counts as the newer (tie rule).
        window = Window.partitionBy(*[col(c) for c in part]).orderBy(col(TIME), col(MARK), col(tie))
        # PySpark's F.lag has no ignoreNulls argument (Scala's has, since 3.2), so the function call is
        # parsed from SQL; only the engine's own column name and an integer go into the text, never a
        # caller's identifier. Spark's IGNORE NULLS lag reads its input once per partition (linear).
        lags = [F.expr(f"lag(`{payload}`, {n}) IGNORE NULLS").over(window) for n in range(1, max(ks) + 1)]
        names = [slot_col(slot.index, f"lag{n}_") for n in range(1, max(ks) + 1)]
        frame = frame.select("*", *[lag.alias(name) for lag, name in zip(lags, names)])
        arrays[slot.index] = F.array(*[col(name) for name in names])
    return frame, arrays


def _references(frame: DataFrame, plan: AggregationPlan, part: list[str], hot: bool) -> DataFrame:
    slots = [s for s in plan.slots if plan.uses(s.index, "variance", "stddev")]
    if not slots:
        return frame
    # The same order as the ascending pass, so that it needs no sort of its own.
    whole = Window.partitionBy(*[col(c) for c in part]).orderBy(col(TIME)).rowsBetween(
        Window.unboundedPreceding, Window.unboundedFollowing)
    updates = {}
    for slot in slots:
        ref = slot_col(slot.index, "ref")
        value = reference_value(slot).over(whole)
        updates[ref] = F.coalesce(col(ref), value) if hot else value
    return frame.withColumns(updates)


def _ascending(frame: DataFrame, plan: AggregationPlan, inputs: Inputs, part: list[str], roles: bool, hot: bool) -> DataFrame:
    window = Window.partitionBy(*[col(c) for c in part]).orderBy(col(TIME))
    columns = []
    for kind in ("entry", "exit"):
        for inp, frame_ref in inputs.frame_inputs(kind):
            j = frame_ref[1]
            # Rows strictly before t (entry) or strictly before t - w (exit): integer microseconds.
            end = -1 if j is None else -(plan.windows[j] + 1)
            over = window.rangeBetween(Window.unboundedPreceding, end)
            gate = role_gate(kind, j, roles)
            columns.append(inputs.aggregate(inp, frame_ref, gate, hot).over(over).alias(inp.read_name(frame_ref)))
    if not columns:
        return frame
    return frame.select("*", *columns)

