"""Entity and event rows in the engine's internal layout (before the one shuffle).

Query rows (one per entity row): ``k0..kn`` (keys cast to the compared types), ``TIME`` (entity time in
microseconds), ``MARK = QUERY_ROW``, ``SPLIT`` and ``PAYLOAD`` (every entity column in one struct, so
the event rows sharing the shuffle and sorts carry one null field instead of one per entity column).

Event rows: ``k0..kn``, ``TS`` (event time), ``CTS`` (created time, with as_known_at_query_time), one
value column per aggregated event column, then ``TIME``, ``MARK = EVENT_ROW``, ``SPLIT = 0`` and,
when roles are used, ``ROLE``. With as_known_at_query_time a *late* event (created more than a
microsecond after its event time) becomes two rows: one at the time it becomes visible, read by the
frames that count events in (role ENTRY), and one at its event time, read by the frames that count
events out (role EXIT); see docs/aggregations.md.
"""
from __future__ import annotations

import logging
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DataType

from featurespark.aggregations._inputs import ROLE_ALL, ROLE_ENTRY, ROLE_EXIT
from featurespark.aggregations._names import (
    CTS,
    EVENT_ROW,
    MARK,
    PART,
    PAYLOAD,
    QUERY_ROW,
    ROLE,
    SPLIT,
    TIME,
    TS,
    key_col,
    slot_col,
)
from featurespark.aggregations._validate import AggregationPlan
from featurespark.pit._common import any_null, col, is_hashable, same_type, timestamp_literal, to_micros
from featurespark.pit.time_range import EntityTimeRange

logger = logging.getLogger(__name__)


def _cast(column: Column, source: DataType, target: DataType) -> Column:
    return column if same_type(source, target) else column.cast(target)


def query_rows(entity_df: DataFrame, plan: AggregationPlan) -> DataFrame:
    """One row per entity row, duplicates included.

    ``SPLIT`` is 0 for rows whose keys are all set. Rows with a null key match no event, yet hash
    partitioning on the keys would send all of them to one task; a hash of the row spreads them out (a
    null key never meets a hot key, whose ``SPLIT`` is a bucket start, so the two uses cannot mix).
    """
    schema = entity_df.schema
    hashable = [col(f.name) for f in schema.fields if is_hashable(f.dataType)]
    salt = F.when(any_null([col(k) for k in plan.entity_keys]), F.xxhash64(*hashable)).otherwise(F.lit(0).cast("long"))
    return entity_df.select(
        *[_cast(col(k), src, dst).alias(key_col(j))
          for j, (k, src, dst) in enumerate(zip(plan.entity_keys, plan.entity_key_types, plan.key_types))],
        to_micros(col(plan.entity_timestamp), plan.entity_timestamp_type).alias(TIME),
        F.lit(QUERY_ROW).alias(MARK),
        salt.alias(SPLIT),
        F.struct(*[col(c) for c in plan.entity_columns]).alias(PAYLOAD),
    )


def event_rows(events_df: DataFrame, plan: AggregationPlan, time_range: EntityTimeRange) -> DataFrame:
    """Events that can fall into some window, with keys, times and values (no ``TIME``/``ROLE`` yet).

    Events with a null key or event time are never in a window, nor (with as_known_at_query_time)
    events with a null created time or one after the latest entity time. Events at or after the latest
    entity time, or (without lifetime windows) older than the earliest entity time minus the longest
    window, are outside every window. The time filters are written on the raw columns so Spark pushes
    them to the scan (Parquet/Delta file skipping).
    """
    ts_raw = col(plan.event_timestamp)
    keep = ts_raw.isNotNull() & ~any_null([col(k) for k in plan.event_keys])
    if time_range.max_micros is None or time_range.min_micros is None:
        keep = F.lit(False)
    else:
        upper = timestamp_literal(time_range.max_micros, time_range.ntz)
        if upper is not None:
            keep = keep & (ts_raw < upper)
        longest = plan.longest_window
        if not plan.has_lifetime and longest is not None:
            lower = timestamp_literal(time_range.min_micros - longest, time_range.ntz)
            if lower is not None:
                keep = keep & (ts_raw >= lower)
        if plan.as_known and plan.created_timestamp is not None:
            cts_raw = col(plan.created_timestamp)
            keep = keep & cts_raw.isNotNull()
            if upper is not None:
                keep = keep & (cts_raw <= upper)
    created: list[Column] = []
    if plan.as_known and plan.created_timestamp is not None and plan.created_timestamp_type is not None:
        created = [to_micros(col(plan.created_timestamp), plan.created_timestamp_type).alias(CTS)]
    return events_df.where(keep).select(
        *[_cast(col(k), src, dst).alias(key_col(j))
          for j, (k, src, dst) in enumerate(zip(plan.event_keys, plan.event_key_types, plan.key_types))],
        to_micros(ts_raw, plan.event_timestamp_type).alias(TS),
        *created,
        *[col(s.column).alias(slot_col(s.index, "x")) for s in plan.slots],
    )


def visible_time(plan: AggregationPlan) -> Column:
    """The last instant an event is still invisible: it counts for entity rows at ``t > visible_time``.

    Without as_known_at_query_time that is its event time (events at exactly ``t`` are out). With it, an
    event counts once ``event_ts < t`` and ``created_ts <= t``, that is for ``t > max(event_ts, created_ts - 1us)``.
    """
    if not plan.as_known:
        return col(TS)
    return F.greatest(col(TS), col(CTS) - F.lit(1))


def with_roles(events: DataFrame, plan: AggregationPlan, roles: bool) -> DataFrame:
    """Add ``TIME``, ``MARK``, ``SPLIT`` and (with roles) ``ROLE`` to event rows of keys not split in time.

    With as_known_at_query_time a late event becomes an ENTRY row at its visibility time and an EXIT
    row at its event time; every other event is one row of role ALL.
    """
    fixed = {MARK: F.lit(EVENT_ROW), SPLIT: F.lit(0).cast("long")}
    if not roles:
        return events.withColumns({TIME: col(TS), **fixed})
    if not plan.as_known:
        return events.withColumns({TIME: col(TS), ROLE: F.lit(ROLE_ALL), **fixed})
    visible = visible_time(plan)
    late = visible > col(TS)

    def row(time: Column, role: int) -> Column:
        return F.struct(time.alias("t"), F.lit(role).alias("r"))

    parts = F.when(late, F.array(row(visible, ROLE_ENTRY), row(col(TS), ROLE_EXIT))).otherwise(
        F.array(row(col(TS), ROLE_ALL)))
    exploded = events.select("*", F.explode(parts).alias(PART))
    part = col(PART)
    return exploded.withColumns({TIME: part.getField("t"), ROLE: part.getField("r"), **fixed}).drop(PART)
