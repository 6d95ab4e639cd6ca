"""Hot keys: split a key holding a large share of the events into time buckets, exactly.

Every window of the engine is read through *growing* frames at the entity row's time ``t`` (rows before
``t``, rows before ``t - w``, and in a descending pass rows at or after ``t - w``), partitioned by the keys.
A key with a large share of the events would leave all of them to one task. For such a key:

1. **Detection** (:func:`detect_hot_keys`): one aggregate job counts the events per key; keys holding
   more than the threshold share of the events are hot (:func:`hot_key_threshold`: by default twice a
   task slot's share). The keys (at most :data:`MAX_HOT_KEYS`) come back to the driver and enter the
   plan as an ``IN`` over literals (a hash lookup, pushed down to the scans); for variance a per-key
   reference value is joined, broadcast, to the hot keys' events.
2. **Buckets**: the entity time range is cut into ``n`` buckets of equal width. A hot key's entity rows
   go to the bucket of their time. Each event becomes an *entry* row in the bucket of its visible time
   (read by the frames "before t") and, for each finite window ``w_j``, a *copy* in the bucket of
   ``event_ts + w_j`` (read by the frames "before t - w_j" and "at or after t - w_j" of that window only):
   whatever the window length, each event is written ``1 + (number of windows)`` times, never once per
   bucket it is relevant to.
3. **Carry rows** (:func:`carry_rows`): per (key, bucket, role), the contributions of the bucket's rows
   summed / maximised / minimised once (an aggregation, combined map-side) and replicated into every
   other bucket: as a *carry-in* row (time before every real time) into later buckets, as a *carry-out*
   row (time after every real time) into earlier buckets. A frame "before t" then sees exactly the rows
   of its own bucket before ``t`` plus the carry-ins of all earlier buckets; a descending frame "at or
   after t - w" sees its bucket's rows plus the carry-outs of later buckets.
4. **last_k** (:func:`top_rows`): the ``k`` newest events of each earlier bucket enter a bucket as plain
   rows, so the lag over the bucket's rows reaches the newest events before ``t`` across buckets.
5. **approx_count_distinct**: the gap to the previous / next event with the same value is computed
   before the split, by a window partitioned by (key, value) (:func:`hot_gaps`), so it spans buckets.

The events of hot keys are read several times (rows, carry rows, newest rows), so ``events_df`` should
be deterministic (cache it otherwise). Costs: the detection job, ``1 + windows`` rows per hot event, an
aggregation of the hot rows (and for last_k a window over them), and ``O(n^2)`` carry rows per hot key and role.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal, Optional, Sequence

from pyspark.sql import Column, DataFrame, Row, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DataType, DoubleType, StructField, StructType

from featurespark.aggregations._inputs import ROLE_ENTRY, ROLE_TOPK, Inputs
from featurespark.aggregations._names import (
    SPLIT,
    CARRY_IN_TIME,
    CARRY_OUT_TIME,
    EVENT_ROW,
    HOT,
    MARK,
    PART,
    RESERVED_PREFIX,
    ROLE,
    TIME,
    TS,
    key_col,
    slot_col,
)
from featurespark.aggregations._rows import visible_time
from featurespark.aggregations._validate import AggregationPlan, Slot
from featurespark.pit._common import col, tie_value
from featurespark.pit.hot_keys import bucket_width

__all__ = [
    "DEFAULT_HOT_KEY_BUCKETS",
    "DEFAULT_HOT_KEY_SHARE",
    "MAX_HOT_KEYS",
    "HotKeys",
    "detect_hot_keys",
    "hot_key_threshold",
]

logger = logging.getLogger(__name__)

#: Default of ``hot_key_share``: a threshold from the number of task slots (:func:`hot_key_threshold`).
DEFAULT_HOT_KEY_SHARE: Literal["auto"] = "auto"
#: At most this many keys are split (the largest): their values travel in the query plan as literals.
MAX_HOT_KEYS = 1000
#: Default number of time buckets of a hot key.
DEFAULT_HOT_KEY_BUCKETS = 16

_COUNT = RESERVED_PREFIX + "n"
_TOTAL = RESERVED_PREFIX + "total"
_SRC = RESERVED_PREFIX + "src"
_RANK = RESERVED_PREFIX + "rank"


@dataclass(frozen=True)
class HotKeys:
    """Hot keys found by :func:`detect_hot_keys` and how their time line is cut.

    Attributes
    ----------
    keys : tuple of tuple
        The hot keys' values (in the compared key types), at most :data:`MAX_HOT_KEYS`.
    refs : DataFrame or None
        For variance: one row per hot key, ``k0..kn`` and the reference value ``ref<i>`` of each variance
        slot (joined, broadcast, to the hot keys' events only).
    origin, width, buckets : int
        Bucket ``b`` covers ``[origin + b * width, origin + (b + 1) * width)`` microseconds, ``0 <= b < buckets``.
    """

    keys: tuple[tuple[Any, ...], ...]
    refs: Optional[DataFrame]
    origin: int
    width: int
    buckets: int

    def is_hot(self, key_types: Sequence[DataType]) -> Column:
        """Whether a row's keys ``k0..kn`` are hot: an IN over literals, which Spark turns into a hash lookup
        (``InSet``) and pushes down to Parquet/Delta scans; null when a key is null."""
        if len(key_types) == 1:
            return col(key_col(0)).isin(*[F.lit(k[0]).cast(key_types[0]) for k in self.keys])
        fields = [f"_{j}" for j in range(len(key_types))]
        row = F.struct(*[col(key_col(j)).alias(f) for j, f in enumerate(fields)])
        return row.isin(*[
            F.struct(*[F.lit(v).cast(t).alias(f) for v, t, f in zip(k, key_types, fields)]) for k in self.keys
        ])

    def with_refs(self, events: DataFrame, nkeys: int) -> DataFrame:
        """Hot events with their key's reference values (variance), by a broadcast join; unchanged otherwise."""
        if self.refs is None:
            return events
        return events.join(F.broadcast(self.refs), on=[key_col(j) for j in range(nkeys)], how="inner")

    def bucket_of(self, time: Column) -> Column:
        """Start of the bucket holding ``time``, clamped to one bucket before the first and after the last."""
        rel = time - F.lit(self.origin)
        start = rel - F.pmod(rel, F.lit(self.width).cast("long"))
        low, high = -self.width, self.buckets * self.width
        return F.least(F.greatest(start, F.lit(low).cast("long")), F.lit(high).cast("long")) + F.lit(self.origin)

    def starts(self) -> Column:
        """Array of the starts of the ``buckets`` buckets."""
        first = self.origin
        last = self.origin + (self.buckets - 1) * self.width
        return F.sequence(F.lit(first).cast("long"), F.lit(last).cast("long"), F.lit(self.width).cast("long"))

    def inside(self, bucket: Column) -> Column:
        """Whether a bucket start is one of the real buckets (not the clamped before/after ones)."""
        return (bucket >= F.lit(self.origin)) & (bucket < F.lit(self.origin + self.buckets * self.width))


def _variance_slots(plan: AggregationPlan) -> list[Slot]:
    return [s for s in plan.slots if plan.uses(s.index, "variance", "stddev")]


def finite_value(slot: Slot) -> Column:
    """The slot's value as a double where it is finite (null for NaN and infinities)."""
    x = col(slot_col(slot.index, "x"))
    if slot.is_float:
        return F.when(~F.isnan(x) & (F.abs(x) != F.lit(float("inf"))), x.cast("double"))
    return x.cast("double")


def reference_value(slot: Slot) -> Column:
    """Aggregate giving a key's reference value: its earliest finite value (smallest among ties)."""
    value = finite_value(slot)
    return F.min_by(value, F.when(value.isNotNull(), F.struct(col(TS), value)))


def detect_hot_keys(
    events: DataFrame,
    plan: AggregationPlan,
    *,
    share: float,
    buckets: int,
    min_micros: int,
    max_micros: int,
) -> Optional[HotKeys]:
    """Find the keys holding more than ``share`` of ``events`` (one aggregate job); None if there are none.

    Parameters
    ----------
    events : DataFrame
        Event rows in the internal layout (:func:`~featurespark.aggregations._rows.event_rows`).
    plan : AggregationPlan
        The resolved plan (key types, variance slots).
    share : float
        Threshold in ``[0, 1)``; ``0`` makes every key with events hot (used by tests to force the split).
    buckets : int
        Number of time buckets over the entity time range.
    min_micros, max_micros : int
        Entity time range.

    Returns
    -------
    HotKeys or None
    """
    keys = [key_col(j) for j in range(len(plan.key_types))]
    refs = _variance_slots(plan)
    counts = events.groupBy(*keys).agg(
        F.count(F.lit(1)).alias(_COUNT),
        *[reference_value(s).alias(slot_col(s.index, "ref")) for s in refs],
    )
    total = F.sum(col(_COUNT)).over(Window.partitionBy())
    # At most MAX_HOT_KEYS rows reach the driver (they become literals of the split plan). The total uses a
    # window without partitions: one task sees one count per key, fine for key counts in the millions.
    rows: list[Row] = (
        counts.select("*", total.alias(_TOTAL))
        .where(col(_COUNT) > F.lit(share) * col(_TOTAL))
        .orderBy(col(_COUNT).desc())
        .limit(MAX_HOT_KEYS)
        .collect()
    )
    if not rows:
        logger.info("hot keys: none above %.4f of the events", share)
        return None
    width = bucket_width(min_micros, max_micros, buckets)
    logger.info("hot keys: %d above %.4f of the events (largest share %.4f); %d bucket(s) of %d us", len(rows), share,
                rows[0][_COUNT] / rows[0][_TOTAL], buckets, width)
    ref_table = None
    if refs:
        schema = StructType(
            [StructField(k, t) for k, t in zip(keys, plan.key_types)]
            + [StructField(slot_col(s.index, "ref"), DoubleType()) for s in refs]
        )
        data = [tuple(r[k] for k in keys) + tuple(r[slot_col(s.index, "ref")] for s in refs) for r in rows]
        ref_table = events.sparkSession.createDataFrame(data, schema)
    return HotKeys(keys=tuple(tuple(r[k] for k in keys) for r in rows), refs=ref_table, origin=min_micros,
                   width=width, buckets=buckets)


def hot_key_threshold(share: object, spark: SparkSession) -> Optional[float]:
    """The share above which a key is hot: ``share`` itself, or for ``"auto"`` ``min(0.5, 2 / slots)``.

    ``slots`` is the number of parallel task slots (``sparkContext.defaultParallelism``; the shuffle
    partitions where there is no SparkContext, as with Spark Connect). A key holding more than twice a
    slot's share of the events would make its task the slowest of the stage; on two cores only a key with
    more than half of the events is split.
    """
    if share != "auto":
        return None if share is None else float(share)  # type: ignore[arg-type]
    try:
        slots = int(spark.sparkContext.defaultParallelism)
    except Exception:  # noqa: BLE001 - Spark Connect has no SparkContext; the conf is the next best guess
        slots = int(spark.conf.get("spark.sql.shuffle.partitions", "200") or 200)
    return min(0.5, 2.0 / max(1, slots))


def hot_gaps(events: DataFrame, plan: AggregationPlan) -> DataFrame:
    """Add the gaps to the previous / next event with the same value (approx_count_distinct) to hot events.

    A window partitioned by (key, value hash) spans all buckets of the key and spreads a hot key's
    events over tasks by value.
    """
    keys = [key_col(j) for j in range(len(plan.key_types))]
    visible = visible_time(plan)
    for slot in plan.slots:
        if not plan.uses(slot.index, "approx_count_distinct"):
            continue
        hashed = value_hash(slot)
        window = Window.partitionBy(*keys, hashed).orderBy(visible)
        events = events.withColumns({
            slot_col(slot.index, "pg"): F.when(hashed.isNotNull(), visible - F.lag(visible).over(window)),
            slot_col(slot.index, "ng"): F.when(hashed.isNotNull(), F.lead(visible).over(window) - visible),
        })
    return events


def value_hash(slot: Slot, gate: Optional[Column] = None) -> Column:
    """The 64-bit hash approx_count_distinct counts: xxhash64 (seed 42) of the value, floats normalised.

    ``-0.0`` counts as ``0.0`` and every NaN as one value, as Spark's own distinct counts do.
    """
    x = col(slot_col(slot.index, "x"))
    if slot.is_float:
        x = F.when(F.isnan(x), F.lit(float("nan")).cast(slot.dtype)).when(x == F.lit(0), F.lit(0).cast(slot.dtype)) \
            .otherwise(x)
    present = col(slot_col(slot.index, "x")).isNotNull()
    if gate is not None:
        present = present & gate
    return F.when(present, F.xxhash64(x))


def hot_rows(events: DataFrame, plan: AggregationPlan, hot: HotKeys, windows: Sequence[int]) -> DataFrame:
    """Each hot event as an entry row (bucket of its visible time) and one copy per window in ``windows``.

    The copy for window ``j`` keeps the event time as its row time but sits in the bucket of
    ``event_ts + w_j``, where it stops counting for window ``j``. ``SPLIT`` may be one bucket before the
    first or after the last: such rows only feed carry rows.
    """
    visible = visible_time(plan)

    def part(time: Column, role: int, bucket_time: Column) -> Column:
        return F.struct(time.alias("t"), F.lit(role).alias("r"), hot.bucket_of(bucket_time).alias("b"))

    parts = [part(visible, ROLE_ENTRY, visible)]
    parts += [part(col(TS), j, col(TS) + F.lit(plan.windows[j])) for j in windows]
    exploded = events.select("*", F.explode(F.array(*parts)).alias(PART))
    p = col(PART)
    return exploded.withColumns({
        TIME: p.getField("t"), ROLE: p.getField("r"), SPLIT: p.getField("b"), MARK: F.lit(EVENT_ROW),
        HOT: F.lit(True),
    }).drop(PART)


def carry_rows(rows: DataFrame, plan: AggregationPlan, hot: HotKeys, inputs: Inputs) -> Optional[DataFrame]:
    """Carry-in and carry-out rows: per (key, bucket, role) the summary of the bucket's rows, in every other bucket.

    None when no frame reads anything (last_k alone needs only :func:`top_rows`).
    """
    if not len(inputs):
        return None
    keys = [key_col(j) for j in range(len(plan.key_types))]
    summaries = rows.groupBy(*keys, col(SPLIT).alias(_SRC), ROLE).agg(*inputs.summary_aggregates())
    target = F.explode(hot.starts()).alias(SPLIT)
    spread = summaries.select("*", target).where(col(SPLIT) != col(_SRC))
    return spread.withColumns({
        TIME: F.when(col(SPLIT) > col(_SRC), F.lit(CARRY_IN_TIME)).otherwise(F.lit(CARRY_OUT_TIME)).cast("long"),
        MARK: F.lit(EVENT_ROW),
    }).drop(_SRC)


def top_rows(rows: DataFrame, plan: AggregationPlan, hot: HotKeys) -> Optional[DataFrame]:
    """For last_k: the k newest events of each bucket (entry rows), as plain rows of every later bucket."""
    keys = [key_col(j) for j in range(len(plan.key_types))]
    parts = []
    for slot in plan.slots:
        ks = [o.k for o in plan.outputs if o.slot == slot.index and o.function == "last_k" and o.k is not None]
        if not ks:
            continue
        x = col(slot_col(slot.index, "x"))
        newest = Window.partitionBy(*keys, SPLIT).orderBy(col(TS).desc(), tie_value(x, slot.dtype).desc())
        ranked = rows.where((col(ROLE) == F.lit(ROLE_ENTRY)) & x.isNotNull()).select(
            *keys, col(SPLIT).alias(_SRC), TS, x.alias(slot_col(slot.index, "x")),
            F.row_number().over(newest).alias(_RANK),
        ).where(col(_RANK) <= F.lit(max(ks))).drop(_RANK)
        spread = ranked.select("*", F.explode(hot.starts()).alias(SPLIT)).where(col(SPLIT) > col(_SRC))
        parts.append(spread.withColumns({
            TIME: col(TS), MARK: F.lit(EVENT_ROW), ROLE: F.lit(ROLE_TOPK),
        }).drop(_SRC))
    if not parts:
        return None
    result = parts[0]
    for other in parts[1:]:
        result = result.unionByName(other, allowMissingColumns=True)
    return result
