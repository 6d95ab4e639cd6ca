"""The time range of the entity rows: one aggregate used to prune feature reads.

Feature rows newer than the latest entity timestamp, or older than the earliest entity timestamp
minus the TTL, can never be joined. :func:`entity_time_range` measures the entity rows once, and
:meth:`EntityTimeRange.feature_filter` turns the result into a predicate on a feature source's raw
timestamp column, which Spark pushes down to the scan (Delta/Parquet file skipping).
:func:`local_copy` holds a small entity frame's rows in the plan before that, so the time range and
every later scan of the rows are cheap.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Mapping, Optional, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from featurespark._typing import ColumnOrName
from featurespark.pit._common import any_null, col, micros_to_datetime, timestamp_literal, to_micros
from featurespark.pit._validate import case_sensitive, check_entity, ttl_to_micros

logger = logging.getLogger(__name__)

__all__ = ["LOCAL_COPY_MAX_BYTES", "LOCAL_COPY_MAX_ROWS", "SKEW_HISTOGRAM_BINS", "SKEW_SAMPLE_RATE",
           "EntityTimeRange", "entity_time_range", "estimated_bytes", "local_copy"]


@dataclass(frozen=True)
class EntityTimeRange:
    """Earliest and latest entity timestamp, with null and row counts.

    Attributes
    ----------
    min_micros, max_micros : int or None
        Earliest / latest entity timestamp in microseconds since 1970-01-01 (the wall clock read as
        UTC for ``TIMESTAMP_NTZ``); None when there is no non-null timestamp.
    null_count : int
        Entity rows whose timestamp is null.
    row_count : int
        All entity rows.
    ntz : bool
        Whether the entity timestamp column is ``TIMESTAMP_NTZ``.
    key_shares : mapping
        For each key set measured (``key_sets`` of :func:`entity_time_range`), the estimated share of
        the rows held by its most frequent value: how skewed the keys are.
    """

    min_micros: Optional[int]
    max_micros: Optional[int]
    null_count: int
    row_count: int
    ntz: bool = False
    key_shares: Mapping[tuple[str, ...], float] = field(default_factory=dict)

    def hot_share(self, keys: Sequence[str]) -> Optional[float]:
        """Estimated share of the rows held by the most frequent value of ``keys`` (None: not measured)."""
        return self.key_shares.get(tuple(keys))

    @property
    def min_ts(self) -> Optional[datetime]:
        """Earliest entity timestamp (UTC-aware for TIMESTAMP, naive for TIMESTAMP_NTZ)."""
        return micros_to_datetime(self.min_micros, self.ntz)

    @property
    def max_ts(self) -> Optional[datetime]:
        """Latest entity timestamp (UTC-aware for TIMESTAMP, naive for TIMESTAMP_NTZ)."""
        return micros_to_datetime(self.max_micros, self.ntz)

    def window_micros(self, ttl_micros: Optional[int]) -> tuple[Optional[int], Optional[int]]:
        """Feature-timestamp window ``[min - ttl, max]`` in microseconds (None: no bound)."""
        if self.max_micros is None or self.min_micros is None:
            return None, None
        lower = None if ttl_micros is None else self.min_micros - ttl_micros
        return lower, self.max_micros

    def feature_window(self, ttl: Optional[timedelta]) -> tuple[Optional[datetime], Optional[datetime]]:
        """Feature timestamps that can be joined: ``[min_ts - ttl, max_ts]``, both ends inclusive.

        Parameters
        ----------
        ttl : datetime.timedelta or None
            The largest TTL of the views reading the source; None for no lower bound.

        Returns
        -------
        tuple of (datetime or None, datetime or None)
            Lower and upper bound; None where unbounded (both None when there are no entity rows).
        """
        lower, upper = self.window_micros(ttl_to_micros(ttl, "feature_window"))
        return micros_to_datetime(lower, self.ntz), micros_to_datetime(upper, self.ntz)

    def feature_filter(self, column: ColumnOrName, ttl: Optional[timedelta]) -> Column:
        """A pushdown-friendly predicate keeping feature rows inside :meth:`feature_window`.

        Parameters
        ----------
        column : str or Column
            The feature timestamp column of the source (same kind as the entity timestamp).
        ttl : datetime.timedelta or None
            The largest TTL of the views reading the source; None for no lower bound.

        Returns
        -------
        Column
            A boolean column; ``lit(False)`` when there are no entity rows.

        Examples
        --------
        >>> entity_df = spark.sql("SELECT TIMESTAMP'2026-01-10 00:00:00' AS event_timestamp")
        >>> source = spark.sql("SELECT explode(array(TIMESTAMP'2026-01-01', TIMESTAMP'2026-01-09')) AS ts")
        >>> rng = entity_time_range(entity_df, "event_timestamp")
        >>> source.where(rng.feature_filter("ts", timedelta(days=2))).count()
        1
        """
        target = col(column) if isinstance(column, str) else column
        return self._filter_micros(target, ttl_to_micros(ttl, "feature_filter"))

    def _filter_micros(self, column: Column, ttl_micros: Optional[int]) -> Column:
        if self.row_count == 0 or self.max_micros is None:
            return F.lit(False)
        lower, upper = self.window_micros(ttl_micros)
        predicate: Column = F.lit(True)
        for bound, is_lower in ((lower, True), (upper, False)):
            literal = None if bound is None else timestamp_literal(bound, self.ntz)
            if literal is not None:
                predicate = predicate & ((column >= literal) if is_lower else (column <= literal))
        return predicate


#: About one row in this many takes part in the key-skew estimate (a random sample).
SKEW_SAMPLE_RATE = 16
_SKEW_SAMPLE_SEED = 20261128
#: Bins of the approximate histogram of key hashes the skew estimate reads its top share from.
SKEW_HISTOGRAM_BINS = 32


def entity_time_range(
    entity_df: DataFrame, entity_timestamp: str, *, key_sets: Sequence[Sequence[str]] = ()
) -> EntityTimeRange:
    """Measure the entity timestamps (and, optionally, how skewed the keys are) with one aggregate job.

    A frame whose rows the plan holds (a local relation, as :func:`local_copy` makes, with at most
    :data:`LOCAL_COPY_MAX_ROWS` rows) is measured on the driver without a job, and its key shares
    are exact.

    Parameters
    ----------
    entity_df : DataFrame
        The entity rows.
    entity_timestamp : str
        Their timestamp column (``TIMESTAMP`` or ``TIMESTAMP_NTZ``).
    key_sets : sequence of sequences of str, optional
        Key columns whose skew to estimate in the same job: the share of rows held by the most
        frequent key value, from an approximate histogram of the key hashes of a random sample of
        about one row in :data:`SKEW_SAMPLE_RATE` (rows with a null key are left out).

    Returns
    -------
    EntityTimeRange
        Earliest and latest timestamp, null count, row count and the key shares asked for.

    Raises
    ------
    SchemaMismatchError
        If the column is missing or is not a timestamp.

    Examples
    --------
    >>> entity_df = spark.sql("SELECT TIMESTAMP'2024-01-02 00:00:00' AS event_timestamp")
    >>> rng = entity_time_range(entity_df, "event_timestamp")
    >>> rng.row_count, rng.feature_window(timedelta(days=1))[0]
    (1, datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc))
    >>> skewed = spark.range(20000).selectExpr("IF(id % 10 < 3, 7, id) AS k", "TIMESTAMP'2024-01-02' AS event_timestamp")
    >>> share = entity_time_range(skewed, "event_timestamp", key_sets=[["k"]]).hot_share(["k"])
    >>> 0.2 < share < 0.45
    True
    """
    ets, ntz = check_entity(entity_df, entity_timestamp, case_sensitive(entity_df))
    micros = to_micros(col(ets), entity_df.schema[ets].dataType)
    unique_key_sets = list(dict.fromkeys(tuple(k) for k in key_sets))
    result = _local_time_range(entity_df, micros, unique_key_sets, ntz)
    if result is None:
        result = _time_range_job(entity_df, ets, micros, unique_key_sets, ntz)
    logger.info(
        "entity time range: %s .. %s, %d rows, %d null timestamps%s",
        result.min_ts,
        result.max_ts,
        result.row_count,
        result.null_count,
        "".join(f"; top key share of {', '.join(k)}: {v:.1%}" for k, v in result.key_shares.items()),
    )
    return result


def _local_time_range(entity_df: DataFrame, micros: Column, key_sets: Sequence[tuple[str, ...]],
                      ntz: bool) -> Optional[EntityTimeRange]:
    """The time range of a frame whose rows the plan holds (:func:`local_copy`), measured without a job.

    Spark evaluates a projection of a local relation on the driver, so the timestamps and key hashes
    are read back directly and measured here; the key shares are exact, not sampled. None for any
    other frame, or one with more than :data:`LOCAL_COPY_MAX_ROWS` rows.
    """
    try:
        if not entity_df.isLocal():
            return None
    except Exception:  # noqa: BLE001 - Spark Connect and exotic plans: measured by the aggregate job instead
        logger.debug("could not tell whether the entity frame is local", exc_info=True)
        return None
    hashes = []
    for keys in key_sets:
        key_cols = [col(k) for k in keys]
        hashes.append(F.when(~any_null(key_cols), F.xxhash64(*key_cols)))
    # To the driver on purpose: a local relation's rows are already there (Spark folds the projection and
    # the limit into it, no job runs), and at most LOCAL_COPY_MAX_ROWS + 1 of them.
    rows = entity_df.select(micros, *hashes).limit(LOCAL_COPY_MAX_ROWS + 1).collect()
    if len(rows) > LOCAL_COPY_MAX_ROWS:
        return None
    stamps = [r[0] for r in rows if r[0] is not None]
    shares = {}
    for i, keys in enumerate(key_sets, start=1):
        counts = Counter(r[i] for r in rows if r[i] is not None)
        total = sum(counts.values())
        shares[keys] = max(counts.values()) / total if total else 0.0
    return EntityTimeRange(
        min_micros=min(stamps, default=None),
        max_micros=max(stamps, default=None),
        null_count=len(rows) - len(stamps),
        row_count=len(rows),
        ntz=ntz,
        key_shares=shares,
    )


def _time_range_job(entity_df: DataFrame, ets: str, micros: Column, key_sets: Sequence[tuple[str, ...]],
                    ntz: bool) -> EntityTimeRange:
    """The time range (and sampled key shares) of any frame, from one aggregate job."""
    skew: dict[tuple[str, ...], tuple[str, str]] = {}
    sampled: list[Column] = []
    skew_aggs: list[Column] = []
    for i, keys in enumerate(key_sets):
        key_cols = [col(k) for k in keys]
        # A random sample (drawn in a projection: aggregates take deterministic arguments only); a hash of
        # the row would take all or none of a hot key's rows that share an instant.
        picked = ~any_null(key_cols) & (F.rand(_SKEW_SAMPLE_SEED) * SKEW_SAMPLE_RATE < 1)
        sampled.append(F.when(picked, F.xxhash64(*key_cols)).alias(f"k{i}"))
        skew[keys] = (f"h{i}", f"s{i}")
        skew_aggs += [F.histogram_numeric(F.col(f"k{i}"), F.lit(SKEW_HISTOGRAM_BINS)).alias(f"h{i}"),
                      F.count(f"k{i}").alias(f"s{i}")]
    row = entity_df.select(micros.alias("t"), col(ets).alias("ts"), *sampled).agg(
        F.min("t").alias("lo"),
        F.max("t").alias("hi"),
        F.count(F.lit(1)).alias("rows"),
        F.count("ts").alias("stamped"),
        *skew_aggs,
    ).first()
    if row is None:  # a global aggregate yields one row; stay total anyway
        return EntityTimeRange(None, None, 0, 0, ntz)
    shares = {}
    for keys, (hist, sampled_count) in skew.items():
        bins, n = row[hist] or [], int(row[sampled_count] or 0)
        shares[keys] = max((float(b["y"]) for b in bins), default=0.0) / n if n else 0.0
    return EntityTimeRange(
        min_micros=row["lo"],
        max_micros=row["hi"],
        null_count=int(row["rows"]) - int(row["stamped"]),
        row_count=int(row["rows"]),
        ntz=ntz,
        key_shares=shares,
    )


def estimated_bytes(frame: DataFrame) -> Optional[int]:
    """Spark's size estimate of ``frame`` in bytes, or None when Spark does not know it.

    Read from the optimized plan's statistics, without running a job: for file and table scans it is
    the size of the files read. Frames built from Python data or an RDD have no estimate (Spark reports
    ``spark.sql.defaultSizeInBytes``), nor have frames on Spark Connect.

    Examples
    --------
    >>> estimated_bytes(spark.range(1_000))
    8000
    >>> estimated_bytes(spark.createDataFrame([(1,)], "a int")) is None
    True
    >>> estimated_bytes(spark.createDataFrame([(1, "x")], "a int, b string").select("a")) is None
    True
    """
    try:
        plan = frame._jdf.queryExecution().optimizedPlan()
        unknown = int(frame.sparkSession._jsparkSession.sessionState().conf().defaultSizeInBytes())
        # A projection scales an unknown leaf's size down, below the "unknown" marker: ask the leaves.
        leaves = plan.collectLeaves()
        if any(int(str(leaves.apply(i).stats().sizeInBytes())) >= unknown for i in range(leaves.size())):
            return None
        size = int(str(plan.stats().sizeInBytes()))
    # Broad on purpose: the estimate only tunes a plan, so any failure to get it (no JVM handle on Spark
    # Connect, a Py4J error from a plan Spark cannot size) means "unknown", never a failed call.
    except Exception:
        logger.debug("no size estimate for a frame", exc_info=True)
        return None
    return None if size >= unknown else size


#: Entity frames Spark estimates at no more than this many bytes (or cannot estimate) are tried by
#: :func:`local_copy`...
LOCAL_COPY_MAX_BYTES = 1024 * 1024
#: ... and copied if they have at most this many rows (the small frames of the PIT key filter).
LOCAL_COPY_MAX_ROWS = 10_000


def local_copy(frame: DataFrame, max_rows: int = LOCAL_COPY_MAX_ROWS) -> DataFrame:
    """``frame``'s rows held in the query plan (a local relation) if it has at most ``max_rows``, else ``frame``.

    A training-set call scans its entity rows several times (the time-range job, the key filter, the
    join). For a handful of rows built from Python data each scan costs more than the rows: Spark
    converts them again and, not knowing their size, plans them as if large. Collecting them once
    (at most ``max_rows + 1`` rows, on the JVM side) and planning them as a local relation makes every
    later scan nearly free, and fixes the rows that the call's time range was measured on. Only frames
    Spark estimates at no more than :data:`LOCAL_COPY_MAX_BYTES`, or cannot estimate (Python data,
    RDDs), are tried; a larger frame is returned as is without running anything. So is every frame
    on Spark Connect.

    Examples
    --------
    >>> rows = spark.createDataFrame([(1, "a"), (2, None)], "id int, s string")
    >>> local_copy(rows, 10).collect() == rows.collect()
    True
    >>> local_copy(rows, 1) is rows
    True
    """
    size = estimated_bytes(frame)
    if size is not None and size > LOCAL_COPY_MAX_BYTES:
        return frame
    try:
        jdf = frame._jdf.toDF()  # a Dataset of rows (spark.range gives one of longs)
        # One task reads the partitions in turn and stops after max_rows + 1 rows: one job, where a
        # plain limit scans one partition first and the rest in further jobs.
        rows = jdf.coalesce(1).limit(max_rows + 1).collectAsList()
        if rows.size() > max_rows:
            return frame
        local = frame.sparkSession._jsparkSession.createDataFrame(rows, jdf.schema())
    except AttributeError:  # Spark Connect: no JVM handles
        return frame
    return DataFrame(local, frame.sparkSession)
