"""Public point-in-time join entry points.

See ``docs/point_in_time.md`` for the semantics, the tie rule and how the algorithm is chosen.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Literal, Mapping, Optional, Sequence, Union

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from featurespark.errors import InvalidArgumentError, NullValueError
from featurespark.pit._common import EID, ETS, col, to_micros
from featurespark.pit._validate import (
    ResolvedView,
    case_sensitive,
    check_entity,
    check_outputs,
    resolve_view,
)
from featurespark.pit.asof_join import asof_join_pass
from featurespark.pit.range_join import range_join_step
from featurespark.pit.time_range import EntityTimeRange, entity_time_range
from featurespark.pit.view import PitView

logger = logging.getLogger(__name__)

Algorithm = Literal["auto", "range", "asof"]
ALGORITHMS: tuple[str, ...] = ("auto", "range", "asof")

#: ``algorithm="auto"`` uses the range join for a view with a TTL only up to this many entity rows.
AUTO_RANGE_MAX_ENTITY_ROWS = 100_000


def choose_algorithm(algorithm: str, ttl_micros: Optional[int], entity_rows: int) -> str:
    """Resolve ``"auto"`` for one view: ``"range"`` or ``"asof"``.

    ``"range"`` when the view has a TTL (zero included) and the entity frame has at most
    :data:`AUTO_RANGE_MAX_ENTITY_ROWS` rows; ``"asof"`` otherwise. An explicit choice is returned as is.
    """
    if algorithm != "auto":
        return algorithm
    if ttl_micros is not None and entity_rows <= AUTO_RANGE_MAX_ENTITY_ROWS:
        return "range"
    return "asof"


def point_in_time_join_many(
    entity_df: DataFrame,
    views: Sequence[PitView],
    *,
    entity_timestamp: str,
    algorithm: Algorithm = "auto",
    hot_key_buckets: Optional[int] = None,
    time_range: Optional[EntityTimeRange] = None,
) -> DataFrame:
    """Join several feature views point-in-time onto the entity rows.

    For each entity row and view, the view's row with equal keys, ``feature_ts`` in
    ``[entity_ts - ttl, entity_ts]`` and the greatest ``(feature_ts, created_ts, tie)`` supplies all
    of that view's values; no such row gives nulls. Every entity row yields exactly one output row.

    Parameters
    ----------
    entity_df : DataFrame
        Entity rows: join keys and a timestamp. Every column is returned, duplicates included.
    views : sequence of PitView
        The views to join. Views with the same entity key columns are joined in one as-of pass.
    entity_timestamp : str
        Timestamp column of ``entity_df`` (``TIMESTAMP`` or ``TIMESTAMP_NTZ``; views must use the same kind).
    algorithm : {"auto", "range", "asof"}, default "auto"
        ``"auto"`` picks per view: range join for a TTL-bounded view when ``entity_df`` has at most
        :data:`AUTO_RANGE_MAX_ENTITY_ROWS` rows, the sort-based as-of join otherwise.
    hot_key_buckets : int, optional
        For as-of joins, split each key's timeline into this many time buckets with an exact
        carry-in, so a key holding a large share of the rows is not sorted by one task.
    time_range : EntityTimeRange, optional
        A result of :func:`entity_time_range` for this ``entity_df`` computed earlier (for example to
        prune the feature sources); saves the aggregate job this function otherwise runs.

    Returns
    -------
    DataFrame
        The entity columns followed by each view's output columns (lazy).

    Raises
    ------
    SchemaMismatchError
        A column is missing, keys cannot be compared, or a timestamp column has the wrong type.
    InvalidArgumentError
        Bad options, or an output column clashes with an entity column or another output.
    NullValueError
        Entity rows with a null timestamp (the message counts them).

    Notes
    -----
    Runs one Spark job at call time, unless ``time_range`` is given: an aggregate over
    ``entity_df`` for the earliest and latest timestamp and the null and row counts. Everything else
    is lazy.

    Examples
    --------
    >>> out = point_in_time_join_many(  # doctest: +SKIP
    ...     orders, [PitView(driver_stats, keys={"driver": "driver_id"}, feature_timestamp="ts",
    ...                      ttl=timedelta(days=1), prefix="driver__")],
    ...     entity_timestamp="order_ts")
    """
    if algorithm not in ALGORITHMS:
        raise InvalidArgumentError(f"algorithm must be one of {', '.join(ALGORITHMS)}; got {algorithm!r}.")
    if hot_key_buckets is not None and (
        isinstance(hot_key_buckets, bool) or not isinstance(hot_key_buckets, int) or hot_key_buckets < 1
    ):
        raise InvalidArgumentError(
            f"hot_key_buckets must be a positive int (time buckets per key) or None; got {hot_key_buckets!r}."
        )
    if isinstance(views, PitView) or not isinstance(views, Sequence) or not views:
        raise InvalidArgumentError(f"views must be a non-empty list of PitView; got {views!r}.")

    for i, candidate in enumerate(views):
        if not isinstance(candidate, PitView):
            raise InvalidArgumentError(f"views[{i}] must be a PitView, got {type(candidate).__name__}.")
    sensitive = case_sensitive(entity_df)
    ets, ntz = check_entity(entity_df, entity_timestamp, sensitive)
    single = len(views) == 1 and views[0].name is None
    resolved = [
        resolve_view(view, _label(view, i, single), entity_df, ntz, sensitive) for i, view in enumerate(views)
    ]
    check_outputs(entity_df.columns, resolved, sensitive)

    if time_range is None:
        time_range = entity_time_range(entity_df, ets)
    elif time_range.ntz != ntz:
        raise InvalidArgumentError(
            "time_range was measured on a timestamp of another kind than entity_df's "
            f"{ets!r}; compute it with entity_time_range(entity_df, {ets!r})."
        )
    if time_range.null_count:
        raise NullValueError(
            f"entity_df has {time_range.null_count} row(s) with a null entity timestamp {ets!r} "
            f"(of {time_range.row_count}); every entity row needs a timestamp to be joined point-in-time. "
            f"Drop them (entity_df.dropna(subset=[{ets!r}])) or fill them first."
        )

    chosen = [choose_algorithm(algorithm, v.ttl_micros, time_range.row_count) for v in resolved]
    for view, algo in zip(resolved, chosen):
        if algo == "range" and view.ttl_micros is None:
            logger.warning(
                "range join of %s without a ttl compares each entity row with its key's whole history", view.label
            )
        logger.info("point-in-time join of %s: %s", view.label, algo)
        if algo == "range" and hot_key_buckets is not None:
            logger.info("hot_key_buckets does not apply to the range join of %s (it splits keys by ttl)", view.label)

    extra = [to_micros(col(ets), entity_df.schema[ets].dataType).alias(ETS)]
    if "range" in chosen:
        extra.append(F.monotonically_increasing_id().alias(EID))
    frame = entity_df.select("*", *extra)

    groups: dict[tuple[str, ...], list[ResolvedView]] = {}
    for view, algo in zip(resolved, chosen):
        if algo == "asof":
            groups.setdefault(view.entity_keys, []).append(view)
        else:
            frame = range_join_step(frame, view, time_range)
    for group in groups.values():
        frame = asof_join_pass(frame, group, time_range, hot_key_buckets)

    outputs = [out for view in resolved for out in view.outputs]
    return frame.select(*[col(c) for c in entity_df.columns], *[col(o) for o in outputs])


def point_in_time_join(
    entity_df: DataFrame,
    feature_df: DataFrame,
    *,
    keys: Union[Sequence[str], Mapping[str, str]],
    entity_timestamp: str,
    feature_timestamp: str,
    created_timestamp: Optional[str] = None,
    ttl: Optional[timedelta] = None,
    features: Optional[Sequence[str]] = None,
    filter_by_created_timestamp: bool = False,
    algorithm: Algorithm = "auto",
    prefix: Optional[str] = None,
    output_names: Optional[Mapping[str, str]] = None,
    hot_key_buckets: Optional[int] = None,
    time_range: Optional[EntityTimeRange] = None,
) -> DataFrame:
    """Join feature values point-in-time onto entity rows.

    For each entity row, the feature row with equal keys, ``feature_ts`` in
    ``[entity_ts - ttl, entity_ts]`` (both inclusive; no lower bound when ``ttl`` is None) and the
    greatest ``feature_ts``, then ``created_ts``, then tie-break value (see
    ``docs/point_in_time.md``) supplies all the feature values; no such row gives nulls. Every entity
    row yields exactly one output row with all its columns.

    Parameters
    ----------
    entity_df : DataFrame
        Entity rows: join keys and a timestamp.
    feature_df : DataFrame
        Feature rows: join keys, a feature timestamp, optionally a created timestamp, feature values.
    keys : list of str or mapping of str to str
        Key columns present in both frames, or ``{entity_column: feature_column}``.
    entity_timestamp : str
        Timestamp column of ``entity_df``.
    feature_timestamp : str
        Timestamp column of ``feature_df`` (same kind, ``TIMESTAMP`` or ``TIMESTAMP_NTZ``).
    created_timestamp : str, optional
        When each feature row was written; the later one wins between rows with equal feature timestamps.
    ttl : datetime.timedelta, optional
        Maximum age of a feature row relative to the entity timestamp; ``timedelta(0)`` means exact time only.
    features : list of str, optional
        Columns of ``feature_df`` to return; default all but keys and timestamps.
    filter_by_created_timestamp : bool, default False
        Only rows with ``created_ts <= entity_ts`` are candidates (values as known at that time).
    algorithm : {"auto", "range", "asof"}, default "auto"
        See :func:`point_in_time_join_many`.
    prefix : str, optional
        Prepended to each feature name to form its output column name.
    output_names : mapping of str to str, optional
        ``{feature: output column}``; overrides ``prefix`` for those features.
    hot_key_buckets : int, optional
        Split each key's timeline into this many time buckets in the as-of join (hot keys).
    time_range : EntityTimeRange, optional
        Precomputed :func:`entity_time_range` of ``entity_df``; saves the one aggregate job.

    Returns
    -------
    DataFrame
        ``entity_df``'s columns followed by the feature columns.

    Raises
    ------
    SchemaMismatchError
        A column is missing, keys cannot be compared, or a timestamp column has the wrong type.
    InvalidArgumentError
        Bad options (ttl, algorithm, ...), or an output column clashes with an entity column.
    NullValueError
        Entity rows with a null timestamp (the message counts them).

    Examples
    --------
    >>> from datetime import timedelta
    >>> labeled = orders.transform(  # doctest: +SKIP
    ...     point_in_time_join, feature_df=driver_stats, keys=["driver_id"],
    ...     entity_timestamp="order_ts", feature_timestamp="event_ts", ttl=timedelta(days=1))
    """
    view = PitView(
        feature_df=feature_df,
        keys=keys,
        feature_timestamp=feature_timestamp,
        created_timestamp=created_timestamp,
        ttl=ttl,
        features=features,
        prefix=prefix,
        output_names=output_names,
        filter_by_created_timestamp=filter_by_created_timestamp,
    )
    return point_in_time_join_many(
        entity_df,
        [view],
        entity_timestamp=entity_timestamp,
        algorithm=algorithm,
        hot_key_buckets=hot_key_buckets,
        time_range=time_range,
    )


def _label(view: PitView, index: int, single: bool) -> str:
    if single:
        return "feature_df"
    return f"views[{index}]" + (f" ({view.name!r})" if view.name else "")
