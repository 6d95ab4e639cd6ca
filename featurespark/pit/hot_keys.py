"""Split each key's timeline into time buckets so a hot key does not sort in one task.

The plain as-of pass partitions by the join keys, so all rows of one key - however many - are
sorted by one task. With ``hot_key_buckets=n`` the entity time range ``[min, max]`` is cut into
``n`` buckets of equal width (whole microseconds) and the as-of window partitions by
``(keys, bucket)`` instead. A bucket's rows alone cannot see the feature rows of earlier buckets, so
each bucket gets an exact *carry-in* row:

1. per ``(key, bucket)`` the best feature row (the greatest candidate by its rank, see
   :func:`~featurespark.pit._prepare.best_candidate`) - an aggregation, combined map-side, so a hot
   key costs no single-task sort;
2. per key, a window over this small bucket table ordered by bucket with the frame
   ``ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING`` gives the best row of all earlier buckets;
3. that row enters the bucket's partition first (time null, sorted before every other row).

Feature rows older than the first entity timestamp reach the entity rows only through the carry-in
(they are folded into one "before" bucket and kept out of the main pass). The bucket table holds one
row per ``(key, bucket)`` that has feature or entity rows, at most ``n + 1`` per key.

Costs: the entity and feature inputs are each read twice (bucket table and main pass), so the
entity frame must be deterministic (cache it if it is not); plus one aggregation and one small
window. Worth it only when a few keys hold a large share of the rows.
"""
from __future__ import annotations

import functools
import logging
from typing import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from featurespark.pit._common import (
    BUCKET,
    ETS,
    FEATURE_ROW,
    HAS_ENTITY,
    MARK,
    SALT,
    any_null,
    col,
)
from featurespark.pit._prepare import best_candidate, carried, ranked_by
from featurespark.pit._validate import ResolvedView

logger = logging.getLogger(__name__)

__all__ = ["bucket_width", "split_by_time"]


def bucket_width(min_micros: int, max_micros: int, buckets: int) -> int:
    """Width in microseconds of ``buckets`` equal buckets covering ``[min_micros, max_micros]``."""
    span = max_micros - min_micros + 1
    return max(1, -(-span // buckets))


def _bucket_of(time: Column, origin: int, width: int) -> Column:
    """Start of the bucket holding ``time`` (relative to ``origin``); times before origin share -width."""
    rel = time - F.lit(origin)
    return F.greatest(F.lit(-width).cast("long"), rel - F.pmod(rel, F.lit(width).cast("long")))


def _any_set(columns: Sequence[Column]) -> Column:
    return functools.reduce(lambda a, b: a | b, [c.isNotNull() for c in columns])


def split_by_time(
    entities: DataFrame,
    features: Sequence[DataFrame],
    keys: Sequence[str],
    views: Sequence[ResolvedView],
    min_micros: int,
    max_micros: int,
    buckets: int,
) -> tuple[DataFrame, list[DataFrame], DataFrame]:
    """Add ``BUCKET`` to the union parts of an as-of pass and build the carry-in rows.

    Parameters
    ----------
    entities : DataFrame
        Entity side of the union (the keys, ``ETS``, ``MARK``, ``SALT`` and entity columns).
    features : sequence of DataFrame
        Feature sides (the keys, ``ETS`` holding the visible time, ``MARK``, ``SALT`` and the
        :func:`~featurespark.pit._prepare.carried` columns of slot ``i``).
    keys : sequence of str
        The partition key columns of both sides.
    views : sequence of ResolvedView
        The views, in slot order.
    min_micros, max_micros : int
        Entity time range.
    buckets : int
        Number of buckets over the entity time range.

    Returns
    -------
    tuple
        Entity side and feature sides with ``BUCKET``, and the carry-in rows.
    """
    width = bucket_width(min_micros, max_micros, buckets)
    logger.info("hot-key split: %d bucket(s) of %d us from %d", buckets, width, min_micros)
    entities = entities.withColumn(BUCKET, _bucket_of(col(ETS), min_micros, width))
    features = [f.withColumn(BUCKET, _bucket_of(col(ETS), min_micros, width)) for f in features]

    marks = entities.where(~any_null([col(k) for k in keys])).select(*keys, BUCKET, MARK)
    table = functools.reduce(
        lambda a, b: a.unionByName(b, allowMissingColumns=True),
        [marks, *[f.select(*keys, BUCKET, MARK, *carried(v, s)) for s, (f, v) in enumerate(zip(features, views))]],
    )
    best = [(name, agg) for s, v in enumerate(views) for name, agg in best_candidate(v, s).items()]
    per_bucket = table.groupBy(*keys, BUCKET).agg(
        F.max(MARK).alias(HAS_ENTITY), *[agg.alias(name) for name, agg in best]
    )
    earlier = Window.partitionBy(*keys).orderBy(BUCKET).rowsBetween(Window.unboundedPreceding, -1)
    carry = (
        per_bucket.select(*keys, BUCKET, HAS_ENTITY, *[agg.over(earlier).alias(name) for name, agg in best])
        .where((col(HAS_ENTITY) == F.lit(1)) & _any_set([col(ranked_by(v, s)) for s, v in enumerate(views)]))
        .select(
            *keys,
            BUCKET,
            F.lit(None).cast("long").alias(ETS),
            F.lit(FEATURE_ROW).alias(MARK),
            F.lit(0).cast("long").alias(SALT),
            *[name for name, _ in best],
        )
    )
    # Rows before the entity range matter only through the carry-in.
    main_features = [f.where(col(ETS) >= F.lit(min_micros)) for f in features]
    return entities, main_features, carry
