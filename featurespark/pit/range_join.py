"""Range join: join entity rows to every candidate feature row, then keep the best per entity row.

The join condition is the definition of a candidate: equal keys and
``entity_ts - ttl <= feature_ts <= entity_ts`` (and ``created_ts <= entity_ts`` under
``filter_by_created_timestamp``). A ``row_number`` over each entity row's candidates, ordered by
``struct(feature_ts, created_ts, tie)`` descending, keeps the winner. Cost: the join shuffles both
sides by its equi-keys; picking the winner needs a second shuffle only with TTL buckets (an entity row
then sits in two join partitions).

With a TTL the range condition is turned into an equi-join: feature rows are placed in buckets of
width ``ttl`` (bucket start ``fts - pmod(fts, ttl)``, exact integer arithmetic), and each entity row
is duplicated into its own bucket and the previous one - every candidate lies in one of the two.
Spark then hash-partitions by ``(keys, bucket)``, so a hot key is spread over its time buckets. A zero
TTL is an equi-join on ``(keys, timestamp)``. Without a TTL only the keys are equated, and each
entity row meets its key's whole history: quadratic per key, which is why ``algorithm="auto"`` never
picks this path for an unbounded TTL.

Each entity row carries a generated id (``monotonically_increasing_id``) and all of its columns
through the join, so duplicate entity rows stay separate and nothing is joined back by id.
"""
from __future__ import annotations

import logging
from typing import Optional

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from featurespark.pit._common import (
    BUCKET,
    CTS,
    EID,
    ETS,
    FTS,
    RANK,
    RESERVED_PREFIX,
    SALT,
    col,
    feature_key_col,
    key_col,
    val_col,
)
from featurespark.pit._prepare import entity_side, feature_candidates, ranked_by, view_outputs, wanted_keys
from featurespark.pit._validate import ResolvedView
from featurespark.pit.time_range import EntityTimeRange

logger = logging.getLogger(__name__)

__all__ = ["range_join_step"]

_FEATURE_SALT = RESERVED_PREFIX + "fsalt"
_FEATURE_BUCKET = RESERVED_PREFIX + "fbucket"


def _bucket_start(time: Column, width: int) -> Column:
    return time - F.pmod(time, F.lit(width).cast("long"))


def range_join_step(frame: DataFrame, view: ResolvedView, time_range: EntityTimeRange,
                    key_source: Optional[DataFrame] = None) -> DataFrame:
    """Join one view onto ``frame`` with a range join.

    Parameters
    ----------
    frame : DataFrame
        Entity rows with the internal ``ETS`` and ``EID`` columns; every column is kept.
    view : ResolvedView
        The view to join.
    time_range : EntityTimeRange
        Entity time range, for pruning feature rows.
    key_source : DataFrame, optional
        The entity rows before any earlier join step (default ``frame``): a small frame's keys filter
        the feature rows (:func:`~featurespark.pit._prepare.wanted_keys`).

    Returns
    -------
    DataFrame
        ``frame``'s columns followed by the view's output columns, one row per input row.
    """
    key_types = view.key_types()
    nkeys = len(key_types)
    entities = entity_side(frame, view.entity_keys, key_types)
    candidates = feature_candidates(view, key_types, 0, time_range, key_name=feature_key_col,
                                    wanted=wanted_keys(frame if key_source is None else key_source,
                                                       view.entity_keys, key_types, time_range)).withColumn(
        _FEATURE_SALT, F.lit(0).cast("long")
    )
    condition = [col(key_col(j)) == col(feature_key_col(j)) for j in range(nkeys)]
    condition.append(col(SALT) == col(_FEATURE_SALT))
    ttl = view.ttl_micros
    if ttl is not None and ttl > 0:
        start = _bucket_start(col(ETS), ttl)
        entities = entities.withColumn(BUCKET, F.explode(F.array(start, start - F.lit(ttl))))
        candidates = candidates.withColumn(_FEATURE_BUCKET, _bucket_start(col(FTS), ttl))
        condition.append(col(BUCKET) == col(_FEATURE_BUCKET))
    elif ttl == 0:
        condition.append(col(FTS) == col(ETS))
    condition.append(col(FTS) <= col(ETS))
    if ttl is not None:
        condition.append(col(FTS) >= col(ETS) - F.lit(ttl))
    if view.filter_by_created:
        condition.append(col(CTS) <= col(ETS))

    joined = entities.join(candidates, on=_all(condition), how="left")
    # EID alone identifies an entity row; the join's equi-keys are added so that, when each entity row
    # sits in one join partition (no TTL buckets), the join's partitioning already satisfies the window
    # and Spark needs no second shuffle.
    pick_by = [*[key_col(j) for j in range(nkeys)], SALT, *([ETS] if ttl == 0 else []), EID]
    best_first = Window.partitionBy(*[col(c) for c in pick_by]).orderBy(col(ranked_by(view, 0)).desc_nulls_last())
    ranked = joined.select(
        *[col(c) for c in frame.columns],
        col(val_col(0)),
        F.row_number().over(best_first).alias(RANK),
    )
    logger.debug("range join of %s (ttl %s us)", view.label, ttl)
    return ranked.where(col(RANK) == F.lit(1)).select(
        *[col(c) for c in frame.columns], *view_outputs(col(val_col(0)), view, col(ETS), ttl_checked=True)
    )


def _all(conditions: list[Column]) -> Column:
    result = conditions[0]
    for c in conditions[1:]:
        result = result & c
    return result
