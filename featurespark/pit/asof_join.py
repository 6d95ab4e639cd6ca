"""Sort-based as-of join: one union and one window pass for all views sharing an entity key set.

Entity rows and the candidate rows of every view are unioned, partitioned by the join keys and
ordered by time (feature rows before entity rows at equal times). A running maximum over
``ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW`` carries, per view, the best row seen so far as
ONE struct (``max`` of the value struct, or ``max_by`` of an order struct for a view with a map
feature; see :mod:`._prepare`); each entity row then reads its view's best row and applies the TTL check.

Why a running maximum rather than ``last(..., ignorenulls=True)``: the rows are ordered by the
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
    val_col,
)
from featurespark.pit._prepare import (
    best_candidate,
    carried,
    entity_side,
    feature_candidates,
    in_place_key_names,
    view_outputs,
    wanted_keys,
)
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
    # Entity key columns already of the compared type are the partition keys as they are; the feature rows
    # take their names. Only a key that needs a cast gets a copy (k0..kn): less to shuffle and sort.
    keys = in_place_key_names(frame.schema, views[0].entity_keys, key_types)
    entities = entity_side(frame, views[0].entity_keys, key_types, names=keys).withColumn(MARK, F.lit(ENTITY_ROW))
    wanted = wanted_keys(frame if key_source is None else key_source, views[0].entity_keys, key_types, time_range)
    # ETS orders the union: an entity row's timestamp, a feature row's visible time.
    features = [
        feature_candidates(view, key_types, slot, time_range, key_name=lambda j: keys[j], wanted=wanted)
        .select(*keys, col(TIME).alias(ETS), *carried(view, slot))
        .withColumns({MARK: F.lit(FEATURE_ROW), SALT: F.lit(0).cast("long")})
        for slot, view in enumerate(views)
    ]
    partition = [*keys, SALT]
    parts = [entities, *features]
    if hot_key_buckets is not None and time_range.min_micros is not None and time_range.max_micros is not None:
        entities, features, carry = hot_keys.split_by_time(
            entities, features, keys, views, time_range.min_micros, time_range.max_micros, hot_key_buckets
        )
        parts = [entities, *features, carry]
        partition.append(BUCKET)

    union = functools.reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), parts)
    window = (
        Window.partitionBy(*[col(c) for c in partition])
        .orderBy(col(ETS).asc_nulls_first(), col(MARK).asc())
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    best = [f"{val_col(slot)}_best" for slot in range(len(views))]
    scanned = union.select(
        *[col(c) for c in frame.columns],
        col(MARK),
        *[best_candidate(view, s)[val_col(s)].over(window).alias(best[s]) for s, view in enumerate(views)],
    )
    outputs = [c for slot, view in enumerate(views) for c in view_outputs(col(best[slot]), view, col(ETS))]
    logger.debug("as-of pass over keys %s for %d view(s)", views[0].entity_keys, len(views))
    return scanned.where(col(MARK) == F.lit(ENTITY_ROW)).select(*[col(c) for c in frame.columns], *outputs)
