"""Split each key's timeline into time buckets so a hot key does not sort in one task.

The plain as-of pass partitions by the join keys, so all rows of one key - however many - are
sorted by one task. With ``hot_key_buckets=n`` the entity time range ``[min, max]`` is cut into
``n`` buckets of equal width (whole microseconds) and the as-of window partitions by
``(keys, bucket)`` instead. A bucket's rows alone cannot see the feature rows of earlier buckets, so
each bucket gets an exact *carry-in* row:

1. per ``(key, bucket)`` the best feature row (``max`` of the ordering struct, ``max_by`` of the
   value struct) - an aggregation, combined map-side, so a hot key costs no single-task sort;
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
    FEATURE_ROW,
    HAS_ENTITY,
    MARK,
    SALT,
    TIME,
    any_null,
    col,
    key_col,
    ord_col,
    val_col,
)

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
    nkeys: int,
    nviews: int,
    min_micros: int,
    max_micros: int,
    buckets: int,
) -> tuple[DataFrame, list[DataFrame], DataFrame]:
    """Add ``BUCKET`` to the union parts of an as-of pass and build the carry-in rows.

    Parameters
    ----------
    entities : DataFrame
        Entity side of the union (``k0..kn``, ``TIME``, ``MARK``, ``SALT`` and entity columns).
    features : sequence of DataFrame
        Feature sides (``k0..kn``, ``TIME``, ``MARK``, ``SALT``, ``ord_col(i)``, ``val_col(i)``).
    nkeys, nviews : int
        Number of join keys and of views (slots ``0..nviews-1``).
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
    keys = [key_col(j) for j in range(nkeys)]
    entities = entities.withColumn(BUCKET, _bucket_of(col(TIME), min_micros, width))
    features = [f.withColumn(BUCKET, _bucket_of(col(TIME), min_micros, width)) for f in features]

    marks = entities.where(~any_null([col(k) for k in keys])).select(*keys, BUCKET, MARK)
    table = functools.reduce(
        lambda a, b: a.unionByName(b, allowMissingColumns=True),
        [marks, *[f.select(*keys, BUCKET, MARK, ord_col(s), val_col(s)) for s, f in enumerate(features)]],
    )
    per_bucket = table.groupBy(*keys, BUCKET).agg(
        F.max(MARK).alias(HAS_ENTITY),
        *[F.max(ord_col(s)).alias(ord_col(s)) for s in range(nviews)],
        *[F.max_by(val_col(s), ord_col(s)).alias(val_col(s)) for s in range(nviews)],
    )
    earlier = Window.partitionBy(*keys).orderBy(BUCKET).rowsBetween(Window.unboundedPreceding, -1)
    carry = (
        per_bucket.select(
            *keys,
            BUCKET,
            HAS_ENTITY,
            *[F.max(ord_col(s)).over(earlier).alias(ord_col(s)) for s in range(nviews)],
            *[F.max_by(val_col(s), ord_col(s)).over(earlier).alias(val_col(s)) for s in range(nviews)],
        )
        .where((col(HAS_ENTITY) == F.lit(1)) & _any_set([col(ord_col(s)) for s in range(nviews)]))
        .select(
            *keys,
            BUCKET,
            F.lit(None).cast("long").alias(TIME),
            F.lit(FEATURE_ROW).alias(MARK),
            F.lit(0).cast("long").alias(SALT),
            *[ord_col(s) for s in range(nviews)],
            *[val_col(s) for s in range(nviews)],
        )
    )
    # Rows before the entity range matter only through the carry-in.
    main_features = [f.where(col(TIME) >= F.lit(min_micros)) for f in features]
    return entities, main_features, carry
