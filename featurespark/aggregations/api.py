"""Public entry point: :func:`window_aggregate_as_of`.

See ``docs/aggregations.md`` for the semantics, the algorithm and its cost.
"""
from __future__ import annotations

import functools
import logging
from typing import Literal, Mapping, Optional, Sequence, Union

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from featurespark._compat import internal_plan
from featurespark.aggregations._inputs import Inputs
from featurespark.aggregations._names import HOT, SPLIT, TIME
from featurespark.aggregations._passes import run_passes
from featurespark.aggregations._rows import event_rows, query_rows, with_roles
from featurespark.aggregations._validate import resolve_plan
from featurespark.aggregations.hot_keys import (
    DEFAULT_HOT_KEY_BUCKETS,
    DEFAULT_HOT_KEY_SHARE,
    carry_rows,
    detect_hot_keys,
    hot_gaps,
    hot_key_threshold,
    hot_rows,
    top_rows,
)
from featurespark.aggregations.spec import Aggregation
from featurespark.errors import InvalidArgumentError, NullValueError
from featurespark.pit._common import col
from featurespark.pit.time_range import EntityTimeRange, entity_time_range

__all__ = [
    "window_aggregate_as_of",
]

logger = logging.getLogger(__name__)


def window_aggregate_as_of(
    entity_df: DataFrame,
    events_df: DataFrame,
    *,
    keys: Union[Sequence[str], Mapping[str, str]],
    entity_timestamp: str,
    event_timestamp: str,
    aggregations: Sequence[Aggregation],
    created_timestamp: Optional[str] = None,
    as_known_at_query_time: bool = False,
    hot_key_share: Union[float, Literal["auto"], None] = DEFAULT_HOT_KEY_SHARE,
    hot_key_buckets: int = DEFAULT_HOT_KEY_BUCKETS,
    time_range: Optional[EntityTimeRange] = None,
) -> DataFrame:
    """Aggregate events over time windows ending at each entity row's timestamp, point-in-time correct.

    For an entity row at time ``t`` and a window ``w``, each aggregate covers the events with the row's
    keys and ``t - w <= event_ts < t`` (``"lifetime"``: ``event_ts < t``): an event at exactly ``t`` is not
    included, so a label row never sees its own event. Null values are ignored; an empty window gives 0
    for ``count`` and ``approx_count_distinct`` and null for everything else. Every entity row yields one
    output row (duplicates stay duplicates); entity rows with a null key get the empty-window values.
    The cost is about one shuffle and a few sorts of the entity rows plus the events, for all windows at
    once (see ``docs/aggregations.md``).

    Parameters
    ----------
    entity_df : DataFrame
        Entity (label) rows: keys and a timestamp. Every column is returned.
    events_df : DataFrame
        Events: keys, an event timestamp, the aggregated columns, optionally a created timestamp.
    keys : list of str or mapping of str to str
        Key columns present in both frames, or ``{entity_column: event_column}``. Composite keys compare
        column by column.
    entity_timestamp : str
        Timestamp column of ``entity_df`` (``TIMESTAMP`` or ``TIMESTAMP_NTZ``).
    event_timestamp : str
        Event-time column of ``events_df`` (same kind).
    aggregations : sequence of Aggregation
        What to compute; one output column per (aggregation, window), named as the aggregation says.
    created_timestamp : str, optional
        When each event was written (needed by ``as_known_at_query_time``).
    as_known_at_query_time : bool, default False
        Count an event for an entity row at ``t`` only if it was created by ``t`` (``created_ts <= t``):
        the values the online system could have seen. Late events otherwise count by event time.
    hot_key_share : float, "auto" or None, default "auto"
        Keys holding more than this share of the events are split into time buckets so that one key is
        not left to one task (one aggregate job detects them). ``"auto"``: twice a task slot's share,
        ``min(0.5, 2 / sparkContext.defaultParallelism)``. ``0`` splits every key (for tests); None turns
        detection off (no job).
    hot_key_buckets : int, default 16
        Number of time buckets over the entity time range for hot keys.
    time_range : EntityTimeRange, optional
        :func:`~featurespark.pit.entity_time_range` of ``entity_df`` computed earlier; saves one job.

    Returns
    -------
    DataFrame
        The entity columns followed by the aggregate columns (lazy).

    Raises
    ------
    SchemaMismatchError
        A column is missing, keys cannot be compared, a timestamp column has the wrong type, or a
        function does not apply to its column's type.
    InvalidArgumentError
        Bad options, clashing output names, or a function ``as_known_at_query_time`` cannot compute.
    NullValueError
        Entity rows with a null timestamp (the message counts them).

    Notes
    -----
    Runs up to two Spark jobs at call time: the entity time range (unless ``time_range`` is given) and
    the hot-key detection (unless ``hot_key_share`` is None). Everything else is lazy.

    Examples
    --------
    >>> from datetime import datetime
    >>> trips = spark.createDataFrame(
    ...     [(1, datetime(2024, 1, 1, 9), 12.0), (1, datetime(2024, 1, 1, 10), 30.0),
    ...      (1, datetime(2024, 1, 1, 11), 8.0)], "driver_id int, ts timestamp, fare double")
    >>> orders = spark.createDataFrame([(1, datetime(2024, 1, 1, 11))], "driver_id int, order_ts timestamp")
    >>> out = orders.transform(
    ...     window_aggregate_as_of, trips, keys=["driver_id"], entity_timestamp="order_ts",
    ...     event_timestamp="ts", aggregations=[Aggregation("fare", "sum", windows=["1h", "lifetime"]),
    ...                                         Aggregation("fare", "count", windows=["30m"])])
    >>> out.first()
    Row(driver_id=1, order_ts=datetime.datetime(2024, 1, 1, 11, 0), fare_sum_1h=30.0, fare_sum_lifetime=42.0, fare_count_30m=0)
    """
    with internal_plan():  # featurespark's own expressions: no call sites to record (see _compat)
        plan = resolve_plan(
            entity_df, events_df, keys=keys, entity_timestamp=entity_timestamp, event_timestamp=event_timestamp,
            aggregations=aggregations, created_timestamp=created_timestamp,
            as_known_at_query_time=as_known_at_query_time,
        )
        _check_hot_options(hot_key_share, hot_key_buckets)
        if time_range is None:
            time_range = entity_time_range(entity_df, plan.entity_timestamp)
        elif not isinstance(time_range, EntityTimeRange) or time_range.ntz != plan.ntz:
            raise InvalidArgumentError(
                f"time_range must be entity_time_range(entity_df, {plan.entity_timestamp!r}) of this entity_df; "
                f"got {time_range!r}."
            )
        if time_range.null_count:
            raise NullValueError(
                f"entity_df has {time_range.null_count} row(s) with a null entity timestamp "
                f"{plan.entity_timestamp!r} (of {time_range.row_count}); every entity row needs a time to aggregate "
                f"up to. Drop them (entity_df.dropna(subset=[{plan.entity_timestamp!r}])) or fill them first."
            )

        inputs = Inputs(plan)
        queries = query_rows(entity_df, plan)
        events = event_rows(events_df, plan, time_range)
        hot = None
        share = hot_key_threshold(hot_key_share, entity_df.sparkSession)
        if share is not None and time_range.min_micros is not None and time_range.max_micros is not None:
            hot = detect_hot_keys(events, plan, share=share, buckets=hot_key_buckets,
                                  min_micros=time_range.min_micros, max_micros=time_range.max_micros)
        roles = hot is not None or plan.as_known
        if hot is None:
            parts = [queries, with_roles(events, plan, roles)]
        else:
            is_hot = hot.is_hot(plan.key_types)
            hot_events = hot.with_refs(events.where(is_hot), len(plan.key_types))
            if any(plan.uses(s.index, "approx_count_distinct") for s in plan.slots):
                hot_events = hot_gaps(hot_events, plan)
            copies = sorted({j for inp in inputs for kind, j in inp.frames if kind != "entry" and j is not None})
            rows = hot_rows(hot_events, plan, hot, copies)
            parts = [
                queries.withColumns({
                    HOT: F.coalesce(is_hot, F.lit(False)),
                    SPLIT: F.when(is_hot, hot.bucket_of(col(TIME))).otherwise(col(SPLIT)),
                }),
                with_roles(events.where(~is_hot), plan, roles),
                rows.where(hot.inside(col(SPLIT))),
            ]
            for extra in (carry_rows(rows, plan, hot, inputs), top_rows(rows, plan, hot)):
                if extra is not None:
                    parts.append(extra)
        union = functools.reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), parts)
        logger.info(
            "window aggregates: %d output(s) over %d window length(s), %d frame input(s), hot keys %s, as known %s",
            len(plan.outputs), len(plan.windows), len(inputs), 0 if hot is None else len(hot.keys), plan.as_known,
        )
        return run_passes(union, plan, inputs, roles=roles, hot=hot is not None)


def _check_hot_options(share: object, buckets: object) -> None:
    if share is not None and share != "auto" and (
        isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share < 1
    ):
        raise InvalidArgumentError(
            f"hot_key_share must be a number in [0, 1) (the share of the events above which a key is split "
            f"into time buckets), 'auto' (from the number of task slots) or None to turn detection off; "
            f"got {share!r}."
        )
    if isinstance(buckets, bool) or not isinstance(buckets, int) or buckets < 1:
        raise InvalidArgumentError(
            f"hot_key_buckets must be a positive int (time buckets per hot key); got {buckets!r}."
        )
