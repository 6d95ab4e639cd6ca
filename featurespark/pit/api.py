"""Public point-in-time join entry points.

See ``docs/point_in_time.md`` for the semantics, the tie rule and how the algorithm is chosen.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Mapping, Optional, Sequence, Union

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from featurespark._compat import internal_plan
from featurespark.errors import InvalidArgumentError, NullValueError
from featurespark.options import Algorithm, check_option
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

__all__ = ["AUTO_RANGE_MAX_ENTITY_ROWS", "choose_algorithm", "point_in_time_join", "point_in_time_join_many"]


#: ``algorithm="auto"`` uses the range join for a view with a TTL only up to this many entity rows.
AUTO_RANGE_MAX_ENTITY_ROWS = 100_000


def choose_algorithm(algorithm: str, ttl_micros: Optional[int], entity_rows: int, *, hot: bool = False) -> str:
    """Resolve ``"auto"`` for one view: ``"range"`` or ``"asof"``.

    ``"range"`` when the view has a TTL (zero included), the entity frame has at most
    :data:`AUTO_RANGE_MAX_ENTITY_ROWS` rows and its keys are not skewed (``hot``: a range join pairs
    every entity row of a hot key with every candidate row of that key, which explodes); ``"asof"``
    otherwise. An explicit choice is returned as is.

    Examples
    --------
    >>> choose_algorithm("auto", 3_600_000_000, 1_000), choose_algorithm("auto", 3_600_000_000, 1_000, hot=True)
    ('range', 'asof')
    """
    if algorithm != "auto":
        return algorithm
    if ttl_micros is not None and entity_rows <= AUTO_RANGE_MAX_ENTITY_ROWS and not hot:
        return "range"
    return "asof"


#: A key set whose most frequent value holds at least this share of the entity rows is split by time.
HOT_KEY_SHARE = 0.1
#: Below this many entity rows keys are never split automatically (one task sorts them quickly).
HOT_KEY_MIN_ROWS = 10_000
#: At most this many time buckets per key are chosen automatically.
MAX_AUTO_BUCKETS = 256


def hot_key_buckets_for(requested: Optional[int], time_range: EntityTimeRange, keys: Sequence[str],
                        partitions: int) -> int:
    """Time buckets per key for one key set: ``requested`` if given, else chosen from the measured skew.

    Automatically (``requested`` None), a key set whose top value holds a share ``s`` of at least
    :data:`HOT_KEY_SHARE` of at least :data:`HOT_KEY_MIN_ROWS` rows gets ``ceil(s * partitions)`` buckets
    (at least 2, at most :data:`MAX_AUTO_BUCKETS`), so the hot key's rows are split into parts about
    the size of an average shuffle partition. 0 means no split.

    Examples
    --------
    >>> rng = EntityTimeRange(0, 10, 0, 1_000_000, key_shares={("driver_id",): 0.3})
    >>> hot_key_buckets_for(None, rng, ["driver_id"], 200), hot_key_buckets_for(None, rng, ["other"], 200)
    (60, 0)
    >>> hot_key_buckets_for(8, rng, ["other"], 200), hot_key_buckets_for(0, rng, ["driver_id"], 200)
    (8, 0)
    """
    if requested is not None:
        return requested
    share = time_range.hot_share(keys)
    if share is None or share < HOT_KEY_SHARE or time_range.row_count < HOT_KEY_MIN_ROWS:
        return 0
    return max(2, min(MAX_AUTO_BUCKETS, math.ceil(share * partitions)))


def _shuffle_partitions(df: DataFrame) -> int:
    try:
        return max(1, int(df.sparkSession.conf.get("spark.sql.shuffle.partitions") or 200))
    except ValueError:  # "auto" on some platforms
        return 200


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
        carry-in, so a key holding a large share of the rows is not sorted by one task. None (the
        default) measures the keys' skew in the time-range job and splits skewed key sets
        automatically (:func:`hot_key_buckets_for`); 0 never splits.
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
    >>> orders = spark.createDataFrame([(7, "2026-01-02 12:00:00")], "driver int, order_ts string") \\
    ...     .selectExpr("driver", "CAST(order_ts AS TIMESTAMP) AS order_ts")
    >>> stats = spark.createDataFrame([(7, "2026-01-02 11:00:00", 0.5), (7, "2026-01-02 13:00:00", 0.9)],
    ...                               "driver_id int, ts string, rate double") \\
    ...     .selectExpr("driver_id", "CAST(ts AS TIMESTAMP) AS ts", "rate")
    >>> out = point_in_time_join_many(
    ...     orders, [PitView(stats, keys={"driver": "driver_id"}, feature_timestamp="ts",
    ...                      ttl=timedelta(days=1), prefix="driver__", name="stats")],
    ...     entity_timestamp="order_ts")
    >>> out.select("driver", "driver__rate").collect()
    [Row(driver=7, driver__rate=0.5)]
    """
    with internal_plan():  # featurespark's own expressions: no call sites to record (see _compat)
        check_option(algorithm, Algorithm, "algorithm")
        if hot_key_buckets is not None and (
            isinstance(hot_key_buckets, bool) or not isinstance(hot_key_buckets, int) or hot_key_buckets < 0
        ):
            raise InvalidArgumentError(
                "hot_key_buckets must be None (automatic), 0 (never split keys) or a positive int (time buckets "
                f"per key); got {hot_key_buckets!r}."
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

        earlier = _earlier_join(entity_df)
        if earlier is not None and earlier.can_take(resolved, entity_timestamp, algorithm, hot_key_buckets, time_range):
            # entity_df is the result of an earlier point-in-time join whose entity rows carry every key these
            # views need: plan all views as one join of the original entity rows, which shares the entity
            # time range and, for views with the same keys, the shuffle and sort (chained calls cost no more
            # than point_in_time_join_many).
            logger.info("point-in-time join: planning %d view(s) together with the %d of the join it follows",
                        len(views), len(earlier.views))
            return point_in_time_join_many(
                earlier.entity_df, [*earlier.views, *views], entity_timestamp=entity_timestamp, algorithm=algorithm,
                hot_key_buckets=hot_key_buckets, time_range=earlier.time_range,
            )

        if time_range is None:
            skew_keys = [v.entity_keys for v in resolved] if hot_key_buckets is None else []
            time_range = entity_time_range(entity_df, ets, key_sets=skew_keys)
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

        buckets = {v.entity_keys: hot_key_buckets_for(hot_key_buckets, time_range, v.entity_keys,
                                                       _shuffle_partitions(entity_df)) for v in resolved}
        chosen = [choose_algorithm(algorithm, v.ttl_micros, time_range.row_count, hot=bool(buckets[v.entity_keys]))
                  for v in resolved]
        for view, algo in zip(resolved, chosen):
            if algo == "range" and view.ttl_micros is None:
                logger.warning(
                    "range join of %s without a ttl compares each entity row with its key's whole history", view.label
                )
            logger.info("point-in-time join of %s: %s%s", view.label, algo,
                        f" with {buckets[view.entity_keys]} time buckets per key" if algo == "asof"
                        and buckets[view.entity_keys] else "")
            if algo == "range" and hot_key_buckets:
                logger.info("hot_key_buckets does not apply to the range join of %s (it splits keys by ttl)",
                            view.label)

        extra = [to_micros(col(ets), entity_df.schema[ets].dataType).alias(ETS)]
        if "range" in chosen:
            extra.append(F.monotonically_increasing_id().alias(EID))
        frame = entity_df.select("*", *extra)
        entity_rows = frame  # small frames filter feature rows by these rows' keys (see _prepare.wanted_keys)

        groups: dict[tuple[str, ...], list[ResolvedView]] = {}
        for view, algo in zip(resolved, chosen):
            if algo == "asof":
                groups.setdefault(view.entity_keys, []).append(view)
            else:
                frame = range_join_step(frame, view, time_range, key_source=entity_rows)
        for keys, group in groups.items():
            frame = asof_join_pass(frame, group, time_range, buckets[keys] or None, key_source=entity_rows)

        outputs = [out for view in resolved for out in view.outputs]
        result = frame.select(*[col(c) for c in entity_df.columns], *[col(o) for o in outputs])
        _remember_join(result, _EarlierJoin(entity_df, tuple(views), entity_timestamp, algorithm, hot_key_buckets,
                                            time_range))
        return result


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
        Split each key's timeline into this many time buckets in the as-of join (hot keys); None
        (default) decides from the measured skew, 0 never splits.
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
    >>> orders = spark.sql("SELECT 7 AS driver_id, TIMESTAMP'2026-01-02 12:00:00' AS order_ts")
    >>> stats = spark.sql("SELECT 7 AS driver_id, TIMESTAMP'2026-01-01 11:00:00' AS event_ts, 0.5 AS rate")
    >>> labeled = orders.transform(
    ...     point_in_time_join, feature_df=stats, keys=["driver_id"],
    ...     entity_timestamp="order_ts", feature_timestamp="event_ts", ttl=timedelta(days=1))
    >>> labeled.select("rate").first().rate is None  # 25 hours old: outside the TTL
    True
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


#: Attribute of a point-in-time join's result that remembers how it was made (see :class:`_EarlierJoin`).
_EARLIER_JOIN = "_featurespark_pit_join"


@dataclass(frozen=True)
class _EarlierJoin:
    """How a point-in-time join's result was made, so a join chained onto it can be planned with it."""

    entity_df: DataFrame
    views: tuple[PitView, ...]
    entity_timestamp: str
    algorithm: str
    hot_key_buckets: Optional[int]
    time_range: EntityTimeRange

    def can_take(self, views: Sequence[ResolvedView], entity_timestamp: str, algorithm: str,
                 hot_key_buckets: Optional[int], time_range: Optional[EntityTimeRange]) -> bool:
        """Whether joining ``views`` onto the earlier result equals joining all views onto its entity rows:
        the same timestamp and options, and keys that are columns of the original entity rows (not
        features the earlier join added)."""
        columns = set(self.entity_df.columns)
        return (
            entity_timestamp == self.entity_timestamp
            and algorithm == self.algorithm
            and hot_key_buckets == self.hot_key_buckets
            and (time_range is None or time_range == self.time_range)
            and all(key in columns for view in views for key in view.entity_keys)
        )


def _remember_join(result: DataFrame, how: _EarlierJoin) -> None:
    try:
        setattr(result, _EARLIER_JOIN, how)
    except AttributeError:  # a DataFrame class that takes no attributes: chained joins are planned one by one
        pass


def _earlier_join(entity_df: DataFrame) -> Optional[_EarlierJoin]:
    # vars(), not getattr(): DataFrame.__getattr__ would look the name up as a column.
    found = vars(entity_df).get(_EARLIER_JOIN) if hasattr(entity_df, "__dict__") else None
    return found if isinstance(found, _EarlierJoin) else None


def _label(view: PitView, index: int, single: bool) -> str:
    if single:
        return "feature_df"
    return f"views[{index}]" + (f" ({view.name!r})" if view.name else "")
