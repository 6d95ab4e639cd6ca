"""Sort-based as-of join: one union and one window pass for all views sharing an entity key set.

Entity rows and the candidate rows of every view are unioned, partitioned by the join keys and
ordered by time (feature rows before entity rows at equal times). A running ``max_by`` over
``ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW`` carries, per view, the best row seen so far as
ONE struct; each entity row then reads its view's best row and applies the TTL check.

Why a running ``max_by`` rather than ``last(..., ignorenulls=True)``: the rows are ordered by the
time they become *visible*, which is the feature timestamp, or under
``filter_by_created_timestamp`` the later of feature and created timestamp. A row created late
(a backfill of an old event) becomes visible after rows with newer feature timestamps, so the last
visible row is not necessarily the one with the greatest ``(feature_ts, created_ts, tie)``. The
running maximum over the visible rows is exactly the winner among the candidates, in both modes.
The TTL check afterwards is exact too: the winner has the greatest feature timestamp among the
visible rows, so if it is older than ``entity_ts - ttl`` every other visible row is as well.

Cost: one shuffle and sort of the entity rows plus the pruned feature rows of all the group's views.
A key holding a large share of the rows is sorted by a single task; see :mod:`.hot_keys`.
"""
from __future__ import annotations

import functools
import logging
from typing import Optional, Sequence

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from featurespark.pit import hot_keys
from featurespark.pit._common import (
    BUCKET,
    ENTITY_ROW,
    ETS,
    FEATURE_ROW,
    MARK,
    SALT,
    TIME,
    col,
    key_col,
    ord_col,
    val_col,
)
from featurespark.pit._prepare import entity_side, feature_candidates, view_outputs, wanted_keys
from featurespark.pit._validate import ResolvedView, group_key_types
from featurespark.pit.time_range import EntityTimeRange

logger = logging.getLogger(__name__)

__all__ = ["asof_join_pass"]


def asof_join_pass(
    frame: DataFrame,
    views: Sequence[ResolvedView],
    time_range: EntityTimeRange,
    hot_key_buckets: Optional[int] = None,
    key_source: Optional[DataFrame] = None,
) -> DataFrame:
    """Join every view of ``views`` (all with the same entity keys) onto ``frame`` in one pass.

    Parameters
    ----------
    frame : DataFrame
        Entity rows with the internal ``ETS`` column; every column is kept.
    views : sequence of ResolvedView
        Views sharing ``entity_keys``.
    time_range : EntityTimeRange
        Entity time range, for pruning feature rows.
    hot_key_buckets : int, optional
        Split each key's timeline into about this many buckets (see :mod:`.hot_keys`).
    key_source : DataFrame, optional
        The entity rows before any earlier join step (default ``frame``): a small frame's keys filter
        the feature rows (:func:`~featurespark.pit._prepare.wanted_keys`).

    Returns
    -------
    DataFrame
        ``frame``'s columns followed by the views' output columns, one row per input row.
    """
    key_types = group_key_types(views)
    nkeys = len(key_types)
    keys = [key_col(j) for j in range(nkeys)]
    entities = entity_side(frame, views[0].entity_keys, key_types).withColumns(
        {TIME: col(ETS), MARK: F.lit(ENTITY_ROW)}
    )
    wanted = wanted_keys(frame if key_source is None else key_source, views[0].entity_keys, key_types, time_range)
    features = [
        feature_candidates(view, key_types, slot, time_range, wanted=wanted)
        .select(*keys, TIME, ord_col(slot), val_col(slot))
        .withColumns({MARK: F.lit(FEATURE_ROW), SALT: F.lit(0).cast("long")})
        for slot, view in enumerate(views)
    ]
    partition = [*keys, SALT]
    parts = [entities, *features]
    if hot_key_buckets is not None and time_range.min_micros is not None and time_range.max_micros is not None:
        entities, features, carry = hot_keys.split_by_time(
            entities, features, nkeys, len(views), time_range.min_micros, time_range.max_micros, hot_key_buckets
        )
        parts = [entities, *features, carry]
        partition.append(BUCKET)

    union = functools.reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), parts)
    window = (
        Window.partitionBy(*[col(c) for c in partition])
        .orderBy(col(TIME).asc_nulls_first(), col(MARK).asc())
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    best = [f"{val_col(slot)}_best" for slot in range(len(views))]
    scanned = union.select(
        *[col(c) for c in frame.columns],
        col(MARK),
        *[F.max_by(col(val_col(s)), col(ord_col(s))).over(window).alias(best[s]) for s in range(len(views))],
    )
    outputs = [c for slot, view in enumerate(views) for c in view_outputs(col(best[slot]), view, col(ETS))]
    logger.debug("as-of pass over keys %s for %d view(s)", views[0].entity_keys, len(views))
    return scanned.where(col(MARK) == F.lit(ENTITY_ROW)).select(*[col(c) for c in frame.columns], *outputs)
