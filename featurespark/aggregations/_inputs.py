"""What each event row contributes to the running aggregates, and how outputs are read back.

The engine computes every window at once with *growing frames* over rows ordered by time (see
docs/aggregations.md, "Algorithm"). An :class:`Input` is one per-row contribution (a value, or a
(value, order) pair for ``max_by``/``min_by``) aggregated by one Spark aggregate over one or more frames:

* ``("entry", None)``: rows with ``time < t`` (events before the entity row's time ``t``);
* ``("exit", j)``: rows with ``time < t - w_j`` (events that left window ``j``);
* ``("desc", j)``: rows with ``time >= t - w_j``, in a descending pass (events not yet out of window ``j``).

Which event rows a frame reads is gated by the row's *role* when the engine uses roles (hot keys
split into time buckets, or ``as_known_at_query_time``): see :data:`ROLE_ALL` and its neighbours. Carry
rows of hot keys hold pre-aggregated contributions in a summary column per input (``S_<name>``), read
in place of the per-row value.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Iterator, Optional

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType, DoubleType

from featurespark.aggregations._names import CTS, RESERVED_PREFIX, ROLE, TIME, TS, read_col, slot_col
from featurespark.aggregations._validate import Output, AggregationPlan, Slot, sum_type
from featurespark.pit._common import col, tie_value

logger = logging.getLogger(__name__)

#: Role of an event row that every frame reads (keys not split into buckets, events not late).
ROLE_ALL = -1
#: Role of a row read only by "entry" frames and last_k: where a late event becomes visible, or a hot key's event.
ROLE_ENTRY = -2
#: Role of a late event's row at its event time, read by every "exit" and "desc" frame.
ROLE_EXIT = -3
#: Role of a hot key's newest events of an earlier bucket, read by last_k only.
ROLE_TOPK = -4
# A role j >= 0 marks a hot key's copy of an event for window j: read by the "exit" and "desc" frames of j.

_ENTRY = "entry"
_EXIT = "exit"
_DESC = "desc"

FrameRef = tuple[str, Optional[int]]


def summary_col(name: str) -> str:
    """Column of a carry row holding the pre-aggregated contribution ``name``."""
    return f"{RESERVED_PREFIX}S_{name}"


def summary_order_col(name: str) -> str:
    """Column of a carry row holding the ordering value of a ``max_by``/``min_by`` contribution."""
    return f"{RESERVED_PREFIX}S_{name}_o"


@dataclass(eq=False)
class Input:
    """One per-row contribution and the frames that aggregate it."""

    name: str
    value: Column
    agg: str  # "sum", "max", "min", "max_by" or "min_by"
    order: Optional[Column] = None
    frames: list[FrameRef] = field(default_factory=list)

    def read_name(self, frame: FrameRef) -> str:
        """Column holding this input's aggregate over ``frame``."""
        kind, j = frame
        return read_col(f"{self.name}_{kind[0]}{'' if j is None else j}")


class Inputs:
    """The inputs of one plan, built once; also turns frame results into output columns."""

    def __init__(self, plan: AggregationPlan) -> None:
        self.plan = plan
        self._inputs: dict[str, Input] = {}
        for slot in plan.slots:
            self._add_slot(slot)

    # ------------------------------------------------------------------ building
    def __iter__(self) -> Iterator[Input]:
        return iter(self._inputs.values())

    def __len__(self) -> int:
        return len(self._inputs)

    def _add(self, name: str, value: Column, agg: str, frame: FrameRef, order: Optional[Column] = None) -> None:
        inp = self._inputs.setdefault(name, Input(name, value, agg, order))
        if frame not in inp.frames:
            inp.frames.append(frame)

    def _flag(self, j: Optional[int]) -> Optional[Column]:
        """``created <= ts + w_j``: under as_known_at_query_time an event later than that never enters window j."""
        if not self.plan.as_known or j is None:
            return None
        return col(CTS) <= col(TS) + F.lit(self.plan.windows[j])

    def _invertible(self, name: str, value: Column, windows: set[Optional[int]]) -> None:
        """A sum read at ``t`` (entry) and ``t - w`` (exit) for each window; flagged per window under as_known."""
        for j in sorted(windows, key=lambda w: -1 if w is None else w):
            flag = self._flag(j)
            if flag is None:
                self._add(name, value, "sum", (_ENTRY, None))
                if j is not None:
                    self._add(name, value, "sum", (_EXIT, j))
            else:
                flagged = f"{name}f{j}"
                self._add(flagged, F.when(flag, value), "sum", (_ENTRY, None))
                self._add(flagged, F.when(flag, value), "sum", (_EXIT, j))

    def _add_slot(self, slot: Slot) -> None:
        plan, i = self.plan, slot.index
        x = col(slot_col(i, "x"))
        ts = col(TS)
        present = x.isNotNull()
        finite = present & ~F.isnan(x) & (F.abs(x) != F.lit(float("inf"))) if slot.is_float else present
        counted = plan.windows_of(i, "count", "sum", "mean", "variance", "stddev")
        if counted:
            self._invertible(f"n{i}", F.when(present, F.lit(1)), counted)
        if any(j is not None for j in plan.windows_of(i, "approx_count_distinct")):
            # The distinct count over a window starts from the count of values before t (exact formula in
            # docs/aggregations.md); under as_known_at_query_time only "lifetime" is allowed, which needs no count.
            self._add(f"n{i}", F.when(present, F.lit(1)), "sum", (_ENTRY, None))
        summed = plan.windows_of(i, "sum", "mean")
        if summed:
            if slot.is_bigint:
                # Two exact bigint sums: the high 32 bits (signed) and the low 32 bits (unsigned).
                self._invertible(f"sh{i}", F.shiftright(x, 32), summed)
                self._invertible(f"sl{i}", x.bitwiseAND(F.lit(0xFFFFFFFF).cast("long")), summed)
            elif slot.is_decimal:
                self._invertible(f"s{i}", x.cast(running_decimal(slot)), summed)
            elif slot.is_float:
                self._invertible(f"s{i}", F.when(finite, x.cast("double")), summed)
            else:
                self._invertible(f"s{i}", x.cast("long"), summed)
        spread = plan.windows_of(i, "variance", "stddev")
        if spread:
            # Shifted by the per-key reference value REF (docs/aggregations.md, "Numeric error").
            shifted = x.cast("double") - col(slot_col(i, "ref"))
            self._invertible(f"vs{i}", F.when(finite, shifted), spread)
            self._invertible(f"vq{i}", F.when(finite, shifted * shifted), spread)
        if slot.is_float and plan.uses(i, "sum", "mean", "variance", "stddev"):
            # Event time of the newest NaN / +inf / -inf before t: inside the window iff >= t - w.
            for kind, test in (("nan", F.isnan(x)), ("pinf", x == F.lit(float("inf"))),
                               ("ninf", x == F.lit(float("-inf")))):
                self._add(f"{kind}{i}", F.when(present & test, ts), "max", (_ENTRY, None))

        payload = F.when(present, F.struct(ts.alias("ts"), x.alias("x")))
        order = F.when(present, F.struct(ts.alias("ts"), tie_value(x, slot.dtype).alias("tie")))
        if plan.uses(i, "last"):
            self._add(f"lp{i}", payload, "max_by", (_ENTRY, None), order)
        for j in sorted(plan.windows_of(i, "first"), key=lambda w: -1 if w is None else w):
            if j is None:
                self._add(f"fp{i}", payload, "min_by", (_ENTRY, None), order)
            else:
                self._add(f"fd{i}", payload, "min_by", (_DESC, j), order)
        for function, agg in (("min", "min"), ("max", "max")):
            for j in plan.windows_of(i, function):
                if j is None:
                    self._add(f"{function}{i}", x, agg, (_ENTRY, None))
                    continue
                start = ts - F.pmod(ts, F.lit(plan.windows[j]))
                # Van Herk / Gil-Werman: the window is a suffix of block m-1 plus a prefix of block m
                # (blocks of width w). Prefix: the greatest block seen before t, then its best value;
                # suffix: the smallest block seen at or after t - w, then its best value.
                later, earlier = (-start if agg == "min" else start), (start if agg == "min" else -start)
                self._add(f"p{function}{i}_{j}", F.when(present, F.struct(later.alias("b"), x.alias("v"))), agg,
                          (_ENTRY, None))
                self._add(f"s{function}{i}_{j}", F.when(present, F.struct(earlier.alias("b"), x.alias("v"))), agg,
                          (_DESC, j))
        for j in plan.windows_of(i, "approx_count_distinct"):
            prev_gap, next_gap = col(slot_col(i, "pg")), col(slot_col(i, "ng"))
            if j is None:
                self._add(f"dfo{i}", F.when(present & prev_gap.isNull(), F.lit(1)), "sum", (_ENTRY, None))
                continue
            w = F.lit(plan.windows[j])
            self._add(f"dpg{i}_{j}", F.when(present & (prev_gap < w), F.lit(1)), "sum", (_ENTRY, None))
            self._add(f"dng{i}_{j}", F.when(present & (next_gap.isNull() | (next_gap >= w)), F.lit(1)), "sum",
                      (_EXIT, j))

    # ------------------------------------------------------------------ reading
    def frame_inputs(self, kind: str) -> list[tuple[Input, FrameRef]]:
        """Every (input, frame) pair of one frame kind."""
        return [(inp, f) for inp in self._inputs.values() for f in inp.frames if f[0] == kind]

    def aggregate(self, inp: Input, frame: FrameRef, gate: Optional[Column], summaries: bool) -> Column:
        """The aggregate expression of ``inp`` over ``frame`` (to be used with ``.over(...)``)."""

        def fed(value: Column, summary: str) -> Column:
            if summaries:
                value = F.coalesce(col(summary), value)
            return value if gate is None else F.when(gate, value)

        value = fed(inp.value, summary_col(inp.name))
        if inp.agg in ("max_by", "min_by"):
            assert inp.order is not None
            order = fed(inp.order, summary_order_col(inp.name))
            return F.max_by(value, order) if inp.agg == "max_by" else F.min_by(value, order)
        return {"sum": F.sum, "max": F.max, "min": F.min}[inp.agg](value)

    def summary_aggregates(self) -> list[Column]:
        """Aggregates of a carry row over the rows it replaces (one group: one key, bucket and role)."""
        result = []
        for inp in self._inputs.values():
            if inp.agg in ("max_by", "min_by"):
                assert inp.order is not None
                pick = F.max_by if inp.agg == "max_by" else F.min_by
                best = F.max if inp.agg == "max_by" else F.min
                result.append(pick(inp.value, inp.order).alias(summary_col(inp.name)))
                result.append(best(inp.order).alias(summary_order_col(inp.name)))
            else:
                result.append({"sum": F.sum, "max": F.max, "min": F.min}[inp.agg](inp.value)
                              .alias(summary_col(inp.name)))
        return result

    def summary_columns(self) -> list[str]:
        """Names of the carry rows' summary columns."""
        names = []
        for inp in self._inputs.values():
            names.append(summary_col(inp.name))
            if inp.agg in ("max_by", "min_by"):
                names.append(summary_order_col(inp.name))
        return names

    def _read(self, name: str, kind: str, j: Optional[int]) -> Column:
        return col(self._inputs[name].read_name((kind, j)))

    def _delta(self, name: str, j: Optional[int], zero: Column) -> Column:
        """Sum over the window: entry read minus exit read (missing reads are empty sums)."""
        if self.plan.as_known and j is not None:
            name = f"{name}f{j}"
        entry = F.coalesce(self._read(name, _ENTRY, None), zero)
        if j is None:
            return entry
        return entry - F.coalesce(self._read(name, _EXIT, j), zero)

    def output_columns(self, lag_arrays: dict[int, Column]) -> list[Column]:
        """Output columns at query rows, in plan order.

        Parameters
        ----------
        lag_arrays : dict
            Per last_k slot, the array of its newest ``struct(ts, x)`` before ``t`` (newest first).
        """
        return [self._output(out, lag_arrays).alias(out.name) for out in self.plan.outputs]

    def _output(self, out: Output, lag_arrays: dict[int, Column]) -> Column:
        plan, i, j = self.plan, out.slot, out.window
        slot = plan.slots[i]
        t = col(TIME)
        w = None if j is None else plan.windows[j]
        zero = F.lit(0).cast("long")
        f = out.function
        if f == "count":
            return self._delta(f"n{i}", j, zero)
        if f == "approx_count_distinct":
            if j is None:
                return F.coalesce(self._read(f"dfo{i}", _ENTRY, None), zero)
            return (F.coalesce(self._read(f"n{i}", _ENTRY, None), zero)
                    - F.coalesce(self._read(f"dpg{i}_{j}", _ENTRY, None), zero)
                    - F.coalesce(self._read(f"dng{i}_{j}", _EXIT, j), zero))
        if f in ("sum", "mean", "variance", "stddev"):
            return self._moment(out, slot, j, w)
        if f == "last":
            last = self._read(f"lp{i}", _ENTRY, None)
            return last.getField("x") if w is None else F.when(last.getField("ts") >= t - F.lit(w), last.getField("x"))
        if f == "first":
            if j is None:
                return self._read(f"fp{i}", _ENTRY, None).getField("x")
            first = self._read(f"fd{i}", _DESC, j)
            return F.when(first.getField("ts") < t, first.getField("x"))
        if f in ("min", "max"):
            if j is None or w is None:
                return self._read(f"{f}{i}", _ENTRY, None)
            block = t - F.pmod(t, F.lit(w))
            prefix, suffix = self._read(f"p{f}{i}_{j}", _ENTRY, None), self._read(f"s{f}{i}_{j}", _DESC, j)
            later, earlier = (-block, block - F.lit(w)) if f == "min" else (block, F.lit(w) - block)
            parts = [F.when(prefix.getField("b") == later, prefix.getField("v")),
                     F.when(suffix.getField("b") == earlier, suffix.getField("v"))]
            return F.least(*parts) if f == "min" else F.greatest(*parts)
        if f == "last_k":
            assert out.k is not None
            newest: Column = lag_arrays[i]
            if w is None:
                newest = F.filter(newest, lambda e: e.isNotNull())
            else:
                lower = t - F.lit(w)
                newest = F.filter(newest, lambda e: e.isNotNull() & (e.getField("ts") >= lower))
            values = F.slice(F.transform(newest, lambda e: e.getField("x")), 1, out.k)
            return F.when(F.size(values) > 0, values)
        raise AssertionError(f"unknown function {f}")  # pragma: no cover - validated in spec.py

    def _moment(self, out: Output, slot: Slot, j: Optional[int], w: Optional[int]) -> Column:
        i = slot.index
        zero = F.lit(0).cast("long")
        n = self._delta(f"n{i}", j, zero)
        nonfinite: Optional[tuple[Column, Column, Column]] = None
        if slot.is_float:
            def inside(kind: str) -> Column:
                newest = self._read(f"{kind}{i}", _ENTRY, None)
                return newest.isNotNull() if w is None else newest >= col(TIME) - F.lit(w)
            nonfinite = (inside("nan"), inside("pinf"), inside("ninf"))
        nan, inf = F.lit(float("nan")), F.lit(float("inf"))
        if out.function in ("variance", "stddev"):
            shifted = self._delta(f"vs{i}", j, F.lit(0.0))
            squares = self._delta(f"vq{i}", j, F.lit(0.0))
            nd = n.cast("double")
            variance = F.greatest(F.lit(0.0), (squares - shifted * shifted / nd) / (nd - F.lit(1.0)))
            value = variance if out.function == "variance" else F.sqrt(variance)
            if nonfinite is not None:
                value = F.when(nonfinite[0] | nonfinite[1] | nonfinite[2], nan).otherwise(value)
            return F.when(n >= F.lit(2), value)
        if slot.is_bigint:
            high = self._delta(f"sh{i}", j, zero).cast(DecimalType(38, 0))
            low = self._delta(f"sl{i}", j, zero).cast(DecimalType(38, 0))
            total: Column = high * F.lit(2**32).cast(DecimalType(38, 0)) + low
        elif slot.is_decimal:
            total = self._delta(f"s{i}", j, F.lit(0).cast(running_decimal(slot)))
        elif slot.is_float:
            total = self._delta(f"s{i}", j, F.lit(0.0))
        else:
            total = self._delta(f"s{i}", j, zero)
        if out.function == "sum":
            value = total.cast(sum_type(slot.dtype))
        else:
            value = total.cast(DoubleType()) / n.cast(DoubleType())
        if nonfinite is not None:
            nan_in, pinf_in, ninf_in = nonfinite
            value = (F.when(nan_in | (pinf_in & ninf_in), nan).when(pinf_in, inf).when(ninf_in, -inf)
                     .otherwise(value))
        return F.when(n > F.lit(0), value)


def lag_payload(slot: Slot, gate: Optional[Column]) -> Column:
    """What last_k lags over: ``struct(ts, x)`` of rows with a value (null otherwise)."""
    x = col(slot_col(slot.index, "x"))
    value = F.when(x.isNotNull(), F.struct(col(TS).alias("ts"), x.alias("x")))
    return value if gate is None else F.when(gate, value)


def role_gate(kind: str, j: Optional[int], roles: bool) -> Optional[Column]:
    """Which rows a frame reads, by role; None when every event row plays every role."""
    if not roles:
        return None
    role = col(ROLE)
    if kind == _ENTRY:
        return role.isin(ROLE_ALL, ROLE_ENTRY)
    if kind == "lag":
        return role.isin(ROLE_ALL, ROLE_ENTRY, ROLE_TOPK)
    assert j is not None
    return role.isin(ROLE_ALL, ROLE_EXIT, j)


def running_decimal(slot: Slot) -> DecimalType:
    """Type decimal values are summed in: Spark sums decimal(p, s) as decimal(min(38, p + 10), s).

    Inputs of up to 27 digits are summed as decimal(37, s), so that the difference of two running sums
    (precision 38) keeps every digit; wider inputs keep their type (see docs/aggregations.md).
    """
    assert isinstance(slot.dtype, DecimalType)
    return DecimalType(27 if slot.dtype.precision <= 27 else slot.dtype.precision, slot.dtype.scale)
