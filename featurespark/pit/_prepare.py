"""Bring entity and feature rows into the internal layout the join algorithms share.

Feature side (one frame per view, see :func:`feature_candidates`):

* ``k0..kn`` - join keys cast to the compared type;
* ``TIME`` - when the row becomes visible: its feature timestamp, or with
  ``filter_by_created_timestamp`` the later of feature and created timestamp;
* ``FTS`` / ``CTS`` - feature / created timestamp in microseconds;
* ``val_col(slot)`` - ``struct(t: fts, c: cts, _0.._n: feature values)``: the candidate, carried as one
  struct so a view's values always come from one row. When every feature type can be ordered, the
  struct is its own rank: Spark compares structs field by field, so the greatest ``(t, c, _0.._n)`` is
  the greatest ``(fts, cts, tie)`` and the values travel once;
* ``ord_col(slot)`` - ``struct(fts, cts, tie)``, only for a view with a feature Spark cannot order (a
  map): the tie compares such a value's JSON text, and the greatest ``ord_col`` wins.

:func:`ranked_by` names the column that ranks a view's candidates, :func:`carried` the columns a join
carries, :func:`best_candidate` the aggregates that keep the winner.

Entity side: the caller's columns plus ``ETS`` (microseconds), the keys cast to the compared types
(``k0..kn``; the as-of join uses a key column that needs no cast as it is, see
:func:`in_place_key_names`) and ``SALT``.

A small entity frame (at most :data:`KEY_FILTER_MAX_ROWS` rows) also sends its distinct keys to every
large feature scan (:func:`wanted_keys`, a broadcast left semi join), so a call for a few entities
shuffles and sorts the feature rows of those keys only, not every row of the entity time range. A
feature frame Spark estimates at under :data:`KEY_FILTER_MIN_FEATURE_BYTES`, or cannot estimate, is not
filtered: shuffling all of a small frame costs less than the extra job that computes and broadcasts
the keys.
"""
from __future__ import annotations

import logging
from typing import Callable, Optional, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DataType, StructType

from featurespark.pit._common import (
    CTS,
    FTS,
    RESERVED_PREFIX,
    SALT,
    TIME,
    any_null,
    col,
    is_hashable,
    is_orderable,
    key_col,
    ord_col,
    same_type,
    tie_value,
    timestamp_literal,
    to_micros,
    val_col,
    value_field,
)
from featurespark.pit._validate import ResolvedView
from featurespark.pit.time_range import LOCAL_COPY_MAX_ROWS, EntityTimeRange, estimated_bytes

logger = logging.getLogger(__name__)

#: Entity frames with at most this many rows filter the feature rows by their keys before the shuffle.
KEY_FILTER_MAX_ROWS = LOCAL_COPY_MAX_ROWS  # the frames get_historical_features holds in the plan
#: ... and only feature frames Spark estimates at no less than this many bytes are filtered (0: every frame).
KEY_FILTER_MIN_FEATURE_BYTES = 1024 * 1024


def _worth_filtering(frame: DataFrame) -> bool:
    # Unknown sizes are frames built from driver data or RDDs: shuffled whole, as without the filter.
    if KEY_FILTER_MIN_FEATURE_BYTES <= 0:
        return True
    size = estimated_bytes(frame)
    return size is not None and size >= KEY_FILTER_MIN_FEATURE_BYTES


def _cast(column: Column, source: DataType, target: DataType) -> Column:
    return column if same_type(source, target) else column.cast(target)


def feature_candidates(
    view: ResolvedView,
    key_types: Sequence[DataType],
    slot: int,
    time_range: EntityTimeRange,
    key_name: Callable[[int], str] = key_col,
    wanted: Optional[DataFrame] = None,
) -> DataFrame:
    """Feature rows that can be candidates for some entity row, in the internal layout.

    Rows with a null feature timestamp or a null key are dropped (they are never candidates), and so
    are rows outside the entity time window ``[min - ttl, max]``; that filter is written on the raw
    timestamp column so Spark pushes it to the scan. With ``filter_by_created_timestamp`` rows with a
    null created timestamp, or one after the latest entity timestamp, are dropped too. With ``wanted``
    (from :func:`wanted_keys`) only rows of those keys are kept, if Spark estimates the view's frame at
    no less than :data:`KEY_FILTER_MIN_FEATURE_BYTES` (:func:`estimated_bytes`).
    """
    fts_raw = col(view.feature_timestamp)
    keep = time_range._filter_micros(fts_raw, view.ttl_micros) & fts_raw.isNotNull()
    keep = keep & ~any_null([col(k) for k in view.feature_keys])
    if view.filter_by_created and view.created_timestamp is not None:
        cts_raw = col(view.created_timestamp)
        keep = keep & cts_raw.isNotNull()
        upper = None if time_range.max_micros is None else timestamp_literal(time_range.max_micros, time_range.ntz)
        if upper is not None:
            keep = keep & (cts_raw <= upper)

    feature_name = [f"{RESERVED_PREFIX}f{j}" for j in range(len(view.features))]
    if view.created_timestamp is not None and view.created_timestamp_type is not None:
        cts = to_micros(col(view.created_timestamp), view.created_timestamp_type)
    else:
        cts = F.lit(None).cast("long")
    narrow = view.feature_df.where(keep).select(
        *[
            _cast(col(k), src, dst).alias(key_name(j))
            for j, (k, src, dst) in enumerate(zip(view.feature_keys, view.feature_key_types, key_types))
        ],
        to_micros(fts_raw, view.feature_timestamp_type).alias(FTS),
        cts.alias(CTS),
        *[col(f).alias(name) for f, name in zip(view.features, feature_name)],
    )
    if wanted is not None and _worth_filtering(view.feature_df):
        names = [key_name(j) for j in range(len(key_types))]
        keys = wanted.select(*[col(key_col(j)).alias(name) for j, name in enumerate(names)])
        narrow = narrow.join(F.broadcast(keys), on=names, how="left_semi")

    # Flat, not a nested struct of values: a nested struct costs every row another null mask and offset.
    payload = F.struct(col(FTS).alias("t"), col(CTS).alias("c"),
                       *[col(name).alias(value_field(j)) for j, name in enumerate(feature_name)])
    ranks = []
    if not ranks_itself(view):
        tie = F.struct(
            *[
                tie_value(col(name), dtype).alias(value_field(j))
                for j, (name, dtype) in enumerate(zip(feature_name, view.feature_types))
            ]
        )
        ranks.append(F.struct(col(FTS).alias("fts"), col(CTS).alias("cts"), tie.alias("tie")).alias(ord_col(slot)))
    # Under filter_by_created_timestamp a row is a candidate once both its timestamps have passed.
    visible = F.greatest(col(FTS), col(CTS)) if view.filter_by_created else col(FTS)
    return narrow.select(
        *[key_name(j) for j in range(len(key_types))],
        visible.alias(TIME),
        FTS,
        CTS,
        *ranks,
        payload.alias(val_col(slot)),
    )


def ranks_itself(view: ResolvedView) -> bool:
    """Whether a view's value struct ranks its candidates: Spark can order every feature type."""
    return all(is_orderable(t) for t in view.feature_types)


def ranked_by(view: ResolvedView, slot: int) -> str:
    """The column whose greatest value marks the winning candidate of the view in ``slot``."""
    return val_col(slot) if ranks_itself(view) else ord_col(slot)


def carried(view: ResolvedView, slot: int) -> list[str]:
    """The columns that carry the candidates of the view in ``slot`` through a join."""
    return [val_col(slot)] if ranks_itself(view) else [ord_col(slot), val_col(slot)]


def best_candidate(view: ResolvedView, slot: int) -> dict[str, Column]:
    """Aggregates keeping the winning candidate, by carried column (use them ``.over`` a window too)."""
    rank = ranked_by(view, slot)
    best = {rank: F.max(col(rank))}
    if rank != val_col(slot):
        best[val_col(slot)] = F.max_by(col(val_col(slot)), col(rank))
    return best


def entity_side(frame: DataFrame, entity_keys: Sequence[str], key_types: Sequence[DataType],
                names: Optional[Sequence[str]] = None) -> DataFrame:
    """Add the join keys cast to the compared types and ``SALT`` to the entity frame.

    The keys are named ``names`` (default ``k0..kn``); a name equal to its entity column (see
    :func:`in_place_key_names`) adds nothing, the column is used as it is. ``SALT`` is 0 for rows whose
    keys are all set. Rows with a null key can never match, yet hash partitioning on the keys would
    send all of them to one task; a hash of the row spreads them out.
    """
    schema = frame.schema
    names = [key_col(j) for j in range(len(entity_keys))] if names is None else names
    keys = [
        _cast(col(k), schema[k].dataType, t).alias(name)
        for k, t, name in zip(entity_keys, key_types, names)
        if name != k
    ]
    hashable = [col(f.name) for f in schema.fields if is_hashable(f.dataType)]
    salt = F.when(any_null([col(k) for k in entity_keys]), F.xxhash64(*hashable)).otherwise(F.lit(0).cast("long"))
    return frame.select("*", *keys, salt.alias(SALT))


def in_place_key_names(schema: StructType, entity_keys: Sequence[str], key_types: Sequence[DataType]) -> list[str]:
    """Names of the compared keys: the entity column when it already has the compared type, else ``k<j>``."""
    return [k if same_type(schema[k].dataType, t) else key_col(j)
            for j, (k, t) in enumerate(zip(entity_keys, key_types))]


def wanted_keys(frame: DataFrame, entity_keys: Sequence[str], key_types: Sequence[DataType],
                time_range: EntityTimeRange) -> Optional[DataFrame]:
    """The distinct non-null keys ``k0..kn`` of a small entity frame, or None for a large one.

    ``frame`` should be the caller's entity rows before any join (a later step's frame would make
    Spark compute the earlier joins again for the keys). None when the frame has more than
    :data:`KEY_FILTER_MAX_ROWS` rows: then most feature rows are wanted anyway.
    """
    if time_range.row_count > KEY_FILTER_MAX_ROWS:
        return None
    keys = [key_col(j) for j in range(len(key_types))]
    entities = entity_side(frame.select(*[col(k) for k in entity_keys]), entity_keys, key_types)
    return entities.select(*keys).where(~any_null([col(k) for k in keys])).distinct()


def view_outputs(best: Column, view: ResolvedView, entity_time: Column, ttl_checked: bool = False) -> list[Column]:
    """Output columns of a view from the winning value struct ``best`` (null: no candidate).

    Unless ``ttl_checked``, a winner older than ``entity_time - ttl`` gives nulls: it is the latest
    visible row, so no other row can be inside the TTL either.
    """
    inside: Optional[Column] = None
    if view.ttl_micros is not None and not ttl_checked:
        inside = best.getField("t") >= entity_time - F.lit(view.ttl_micros)
    result = []
    for j, out in enumerate(view.outputs):
        value = best.getField(value_field(j))
        result.append((value if inside is None else F.when(inside, value)).alias(out))
    return result
