"""Aggregation views online (service): materialize tiled items, look values up, measure consistency.

The service turns an :class:`~featurespark.definitions.AggregationView` and the config into the
explicit parameters of :mod:`featurespark.online.tiles` (``horizon`` and ``tile_sizes`` default to the
view's). ``FeatureStore.materialize`` reaches it through :mod:`featurespark.services.materialize`,
``FeatureStore.consistency`` and ``featurespark consistency`` call :func:`consistency`; online lookups of
registered views go through :class:`~featurespark.services.serving.FeatureServer` (no Spark).

- :func:`materialize_aggregation_view`: rebuild the items of every key with events as of ``end``;
- :func:`get_online_aggregates`: window values of entity rows at a lookup time (no Spark);
- :func:`consistency`: sample keys and times, compare the online values with an offline recompute.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping, Optional, Sequence, Union

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from featurespark.aggregations import window_aggregate_as_of
from featurespark.config import Config, online_region
from featurespark.definitions import AggregationView
from featurespark.errors import InvalidArgumentError, StaleItemError
from featurespark.offline.sources import read_source
from featurespark.online.items import to_epoch_micros
from featurespark.online.materialize import OnlineWriteSummary
from featurespark.online.reader import OnlineReader
from featurespark.online.tiles import TiledLayout, evaluate, tile_rows, write_tiles
from featurespark.options import OnlineWriteMode
from featurespark.services.locations import online_table_name, read_table_of, redshift_for

logger = logging.getLogger(__name__)

__all__ = [
    "ConsistencyReport", "FeatureConsistency", "aggregation_layout", "aggregation_table_name", "consistency",
    "get_online_aggregates", "materialize_aggregation_view", "read_aggregation_events",
]

#: Float tolerance of :func:`consistency` (the offline engine's documented error is far below it).
REL_TOL, ABS_TOL = 1e-9, 1e-7
_TIME, _ROW = "__fs_consistency_t", "__fs_consistency_row"


def aggregation_layout(
    view: AggregationView, *, horizon: Optional[timedelta] = None, tile_sizes: Optional[Mapping[str, timedelta]] = None
) -> TiledLayout:
    """The tiled item layout of a view (join keys, event column types, aggregations); ``horizon`` and
    ``tile_sizes`` default to the view's own (see :meth:`AggregationView.online_layout`).

    Examples
    --------
    >>> from featurespark import Aggregation, AggregationView, Entity, Field, ParquetSource
    >>> view = AggregationView(name="trips", entities=[Entity("driver", join_keys={"driver_id": "int64"})],
    ...     source=ParquetSource(path="/tmp/trips", timestamp_field="ts"), event_schema=[Field("fare", "float64")],
    ...     aggregations=[Aggregation("fare", "sum", windows=["1h", "7d"])])
    >>> aggregation_layout(view, horizon=timedelta(hours=1)).output_names
    ('fare_sum_1h', 'fare_sum_7d')
    """
    return view.online_layout(horizon=horizon, tile_sizes=tile_sizes)


def aggregation_table_name(config: Config, view: AggregationView) -> str:
    """DynamoDB table of a view's aggregation items (``online_store.table_name_template``)."""
    return online_table_name(config, view)


def read_aggregation_events(spark: SparkSession, config: Config, view: AggregationView) -> DataFrame:
    """The view's events: its source's join keys, timestamps and aggregated columns."""
    source = read_source(spark, view, managed=read_table_of(config, view), redshift=redshift_for(config, view))
    return source.select(*[F.col(f"`{c}`") for c in view.source_columns])


def materialize_aggregation_view(
    spark: SparkSession,
    config: Config,
    view: AggregationView,
    start: Optional[datetime],
    end: datetime,
    *,
    horizon: Optional[timedelta] = None,
    tile_sizes: Optional[Mapping[str, timedelta]] = None,
    events: Optional[DataFrame] = None,
    write_mode: OnlineWriteMode = "monotonic",
    threads: int = 4,
    max_items_per_second: Optional[float] = None,
) -> OnlineWriteSummary:
    """Rebuild and write the aggregation items of a view as of ``end``.

    Every key with events in the longest window before ``end`` (every key, with lifetime features) gets
    an item rebuilt from the source (so rerunning a range adds nothing twice); lookups stay exact until
    ``end + horizon``.

    Parameters
    ----------
    spark : SparkSession
    config : Config
        For the table name, region and endpoint.
    view : AggregationView
        The view.
    start : datetime or None
        End of the previous materialization (naive means UTC); a gap ``end - start`` longer than the
        horizon is logged as a warning (lookups in between could not be answered exactly). None for a
        first run.
    end : datetime
        Items cover the events before ``end``.
    horizon : timedelta, optional
        Time until the next materialization (see :class:`~featurespark.online.tiles.TiledLayout`); default
        the view's.
    tile_sizes : mapping of str to timedelta, optional
        Tile size per window label; default the view's.
    events : DataFrame, optional
        The events (default: the view's source).
    write_mode, threads, max_items_per_second
        See :func:`featurespark.online.tiles.write_tiles`.

    Returns
    -------
    OnlineWriteSummary

    Raises
    ------
    InvalidArgumentError
        If ``start`` is after ``end``.
    ItemTooLargeError, OnlineStoreError
        See :func:`featurespark.online.tiles.write_tiles`.
    """
    end_us = to_epoch_micros(end, what="end")
    start_us = end_us if start is None else to_epoch_micros(start, what="start")
    if start_us > end_us:
        raise InvalidArgumentError(f"start {start} is after end {end}; materialize ranges go forward in time.")
    layout = aggregation_layout(view, horizon=horizon, tile_sizes=tile_sizes)
    if end_us - start_us > layout.horizon_micros:
        logger.warning(
            "Materializing %s from %s to %s: the gap is longer than the horizon (%s), so lookups before this run "
            "could not all be answered exactly; materialize at least every %s.", view.name, start, end,
            timedelta(microseconds=layout.horizon_micros), timedelta(microseconds=layout.horizon_micros),
        )
    data = events if events is not None else read_aggregation_events(spark, config, view)
    rows = tile_rows(data, layout=layout, event_timestamp=view.timestamp_field, end=end_us)
    return write_tiles(
        rows, layout=layout, end=end_us, table_name=aggregation_table_name(config, view), region=online_region(config),
        endpoint_url=config.online_store.endpoint_url, write_mode=write_mode, threads=threads,
        max_items_per_second=max_items_per_second,
    )


def get_online_aggregates(
    config: Config,
    view: AggregationView,
    entity_rows: Sequence[Mapping[str, Any]],
    *,
    horizon: Optional[timedelta] = None,
    tile_sizes: Optional[Mapping[str, timedelta]] = None,
    at: Optional[Union[datetime, Sequence[datetime]]] = None,
    reader: Optional[OnlineReader] = None,
) -> list[dict[str, Any]]:
    """Window values of entity rows at ``at`` (default now), from the view's items; no Spark needed.

    Raises
    ------
    StaleItemError
        If an item cannot answer exactly (materialize again).
    EntityKeyError, OnlineStoreError
        For bad entity rows or DynamoDB failures.
    """
    from featurespark.online.tiles import get_aggregates

    layout = aggregation_layout(view, horizon=horizon, tile_sizes=tile_sizes)
    own = reader is None
    online = reader or OnlineReader(region=online_region(config), endpoint_url=config.online_store.endpoint_url)
    try:
        return get_aggregates(online, aggregation_table_name(config, view), layout, entity_rows, at=at)
    finally:
        if own:
            online.close()


@dataclass
class FeatureConsistency:
    """Online against offline values of one feature over the sampled (key, time) rows.

    Attributes
    ----------
    compared : int
        Rows compared.
    matches : int
        Rows where both agree (floats within ``REL_TOL``/``ABS_TOL``; NaN equals NaN).
    missing : int
        Rows with an offline value and no online value (null, or the item could not answer).
    extra : int
        Rows with an online value and no offline value.
    mean_abs_diff, max_abs_diff : float
        Over the numeric rows where both have a value.
    """

    compared: int = 0
    matches: int = 0
    missing: int = 0
    extra: int = 0
    mean_abs_diff: float = 0.0
    max_abs_diff: float = 0.0
    _diffs: list[float] = field(default_factory=list, repr=False)

    @property
    def match_rate(self) -> float:
        """Share of rows that agree (1.0 when nothing was compared)."""
        return self.matches / self.compared if self.compared else 1.0


@dataclass
class ConsistencyReport:
    """Per-feature agreement of online and offline values for one view.

    Attributes
    ----------
    view : str
        The view.
    rows : int
        Sampled (key, time) rows.
    stale : int
        Rows whose item could not answer exactly (counted as missing for every feature).
    features : dict of str to FeatureConsistency
        Per feature.
    """

    view: str
    rows: int
    stale: int
    features: dict[str, FeatureConsistency]

    @property
    def all_match(self) -> bool:
        """Whether every feature matched on every row."""
        return all(f.matches == f.compared for f in self.features.values())

    @property
    def summary(self) -> str:
        """One line: whether every feature agreed on every row, else which did not.

        Examples
        --------
        >>> ConsistencyReport("trips", 4, 0, {"n_1h": FeatureConsistency(4, 4), "s_1h": FeatureConsistency(4, 3)}).summary
        'MISMATCH: 1 of 2 features of trips disagree on some of 4 rows (s_1h); 0 rows stale'
        """
        if self.all_match:
            return f"OK: all {len(self.features)} features of {self.view} agree on all {self.rows} rows"
        bad = [name for name, f in self.features.items() if f.matches != f.compared]
        return (f"MISMATCH: {len(bad)} of {len(self.features)} features of {self.view} disagree on some of "
                f"{self.rows} rows ({', '.join(bad)}); {self.stale} rows stale")

    def __str__(self) -> str:
        lines = [f"Consistency of {self.view}: {self.rows} rows, {self.stale} stale"]
        for name, f in self.features.items():
            lines.append(f"  {name}: match {f.match_rate:.2%}, mean |diff| {f.mean_abs_diff:.3g}, max |diff| "
                         f"{f.max_abs_diff:.3g}, missing {f.missing}, extra {f.extra}")
        return "\n".join(lines)


def _present(value: Any) -> bool:
    return value is not None and value != []


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        x, y = float(a), float(b)
        if math.isnan(x) or math.isnan(y):
            return math.isnan(x) and math.isnan(y)
        return x == y or math.isclose(x, y, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    return bool(a == b)


def consistency(
    spark: SparkSession,
    config: Config,
    view: AggregationView,
    *,
    at: Sequence[datetime],
    horizon: Optional[timedelta] = None,
    tile_sizes: Optional[Mapping[str, timedelta]] = None,
    events: Optional[DataFrame] = None,
    sample_keys: int = 100,
    seed: int = 0,
    reader: Optional[OnlineReader] = None,
) -> ConsistencyReport:
    """Compare online lookups with an offline recompute at the same instants.

    Samples up to ``sample_keys`` keys of the events (a seeded random sample, collected: it is small),
    looks every key up online at every time of ``at``, recomputes the same features with
    :func:`~featurespark.aggregations.window_aggregate_as_of` for the same (key, time) rows, and counts per
    feature matches, missing and extra values and absolute differences.

    Parameters
    ----------
    spark : SparkSession
    config : Config
    view : AggregationView
    at : sequence of datetime
        Lookup times (naive means UTC).
    horizon, tile_sizes : optional
        The layout the items were written with (default: the view's).
    events : DataFrame, optional
        The events (default: the view's source).
    sample_keys : int, optional
        Keys to sample.
    seed : int, optional
        Seed of the key sample.
    reader : OnlineReader, optional
        Reader to use (default: one for the config, closed at the end).

    Returns
    -------
    ConsistencyReport

    Raises
    ------
    InvalidArgumentError
        For no lookup time or a non-positive sample size.
    """
    if not at:
        raise InvalidArgumentError("consistency needs at least one lookup time in at=.")
    if sample_keys < 1:
        raise InvalidArgumentError(f"sample_keys must be at least 1, got {sample_keys}.")
    layout = aggregation_layout(view, horizon=horizon, tile_sizes=tile_sizes)
    data = events if events is not None else read_aggregation_events(spark, config, view)
    keys = view.join_keys
    # The sample comes to the driver on purpose: at most sample_keys keys, looked up online from here.
    sampled = (data.select(*[F.col(f"`{k}`") for k in keys]).dropna().distinct()
               .orderBy(F.rand(seed)).limit(sample_keys).collect())
    times = [t if t.tzinfo is not None else t.replace(tzinfo=timezone.utc) for t in at]
    entity = [(*row, t) for row in sampled for t in times]
    key_fields = data.select(*[F.col(f"`{k}`") for k in keys]).schema.fields
    entity_df = spark.createDataFrame(
        [(n, *row) for n, row in enumerate(entity)],
        T.StructType([T.StructField(_ROW, T.LongType()), *key_fields, T.StructField(_TIME, T.TimestampType())]),
    )
    # sample_keys x len(at) rows, compared on the driver with the online values.
    offline_rows = entity_df.transform(
        window_aggregate_as_of, data, keys=keys, entity_timestamp=_TIME, event_timestamp=view.timestamp_field,
        aggregations=list(view.aggregations),
    ).drop(_TIME).collect()
    offline = {r[_ROW]: r.asDict(recursive=True) for r in offline_rows}

    own = reader is None
    online = reader or OnlineReader(region=online_region(config), endpoint_url=config.online_store.endpoint_url)
    try:
        entity_rows = [dict(zip(keys, row[:-1])) for row in entity]
        items = online.get_items(aggregation_table_name(config, view), dict(layout.keys), entity_rows)
    finally:
        if own:
            online.close()
    report = ConsistencyReport(view.name, len(entity), 0, {name: FeatureConsistency() for name in layout.output_names})
    decoded: dict[str, Any] = {}
    for n, (row, item) in enumerate(zip(entity, items)):
        expected = offline[n]
        got: dict[str, Any]
        try:
            if item is not None and item["pk"]["S"] not in decoded:
                decoded[item["pk"]["S"]] = layout.decode(item)
            got = evaluate(layout, decoded[item["pk"]["S"]] if item is not None else None, row[-1])
        except StaleItemError:
            report.stale += 1
            got = dict.fromkeys(layout.output_names)
        for name, stats in report.features.items():
            a, b = got[name], expected[name]
            stats.compared += 1
            if _same(a, b):
                stats.matches += 1
            elif _present(b) and not _present(a):
                stats.missing += 1
            elif _present(a) and not _present(b):
                stats.extra += 1
            if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
                diff = abs(float(a) - float(b))
                if not math.isnan(diff):
                    stats._diffs.append(diff)
    for stats in report.features.values():
        if stats._diffs:
            stats.mean_abs_diff = math.fsum(stats._diffs) / len(stats._diffs)
            stats.max_abs_diff = max(stats._diffs)
    logger.info("%s", report)
    return report
