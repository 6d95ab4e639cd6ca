"""Training service: point-in-time correct training sets from registered views (``get_historical_features``).

For each requested view the source is read pinned to one version (a Delta version for Delta managed
tables and Delta sources, a snapshot id for Iceberg managed tables and sources) and pruned to the timestamps that can reach an entity row, measured with one aggregate over
the entity rows: ``[min entity_ts - ttl, max entity_ts]`` for a feature view, ``[min entity_ts -
longest window, max entity_ts]`` (no lower bound with a lifetime window) for an aggregation view.
Feature views are joined point-in-time onto the entity rows (``docs/point_in_time.md``); aggregation
views are computed by :func:`~featurespark.aggregations.window_aggregate_as_of` over their events
(``docs/aggregations.md``). The result stays a lazy DataFrame: the entity columns, then the features
in the order requested.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Mapping, Optional, Sequence, Union

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from featurespark._compat import dataframe_from_pandas, internal_plan
from featurespark.aggregations import Aggregation
from featurespark.config import Config
from featurespark.definitions import AggregationView, DeltaSource, FeatureView, HudiSource, IcebergSource, ManagedSource
from featurespark.definitions.views import AnyView
from featurespark.errors import InvalidArgumentError, SchemaMismatchError
from featurespark.offline.formats import current_version
from featurespark.offline.sources import read_source, source_location
from featurespark.offline.layout import ManagedTable
from featurespark.offline.table_format import table_format
from featurespark.offline.time_travel import resolve_version
from featurespark.offline.timestamps import normalize_pandas_timestamps, timestamp_column
from featurespark.options import Algorithm, check_option
from featurespark.pit import EntityTimeRange, PitView, entity_time_range, local_copy, point_in_time_join_many
from featurespark.registry.references import ViewSelection, resolve_references
from featurespark.registry.state import FEATURE_VIEW, view_kind
from featurespark.services.locations import read_table_of, redshift_for

logger = logging.getLogger(__name__)

__all__ = [
    "EntityInput", "FEATURE_TS_PREFIX", "HistoricalRetrieval", "SourceRead", "retrieve", "to_entity_frame",
]

EntityInput = Union[DataFrame, pd.DataFrame, str]

_QUERY = re.compile(r"^\s*(select|with)\b", re.IGNORECASE)
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}$")

#: Prefix of the internal columns carrying each view's matched feature timestamp.
FEATURE_TS_PREFIX = "_fs_feature_ts__"


@dataclass(frozen=True)
class SourceRead:
    """How one view's source was read, so a training set can be rebuilt exactly.

    Attributes
    ----------
    view : str
    kind : str
        Source kind (``managed``, ``delta``, ``parquet``, ``table``, ``query``).
    location : str
        Path, table name or query.
    version : int, str or None
        Version read: Delta version, Iceberg snapshot id or Hudi commit instant (None for sources without
        versions).
    window : tuple
        ``(lower, upper)`` feature (or event) timestamps kept by pruning, ISO strings or None.
    view_kind : str
        ``feature_view`` or ``aggregation_view``.
    """

    view: str
    kind: str
    location: str
    version: Optional[Union[int, str]]
    window: tuple[Optional[str], Optional[str]]
    view_kind: str = FEATURE_VIEW


@dataclass(frozen=True)
class HistoricalRetrieval:
    """A lazily built training set and how it was made."""

    df: DataFrame
    selections: tuple[ViewSelection, ...]
    sources: tuple[SourceRead, ...]
    entity_timestamp: str
    time_range: EntityTimeRange

    @property
    def feature_references(self) -> list[str]:
        """Every ``view:feature`` in output order."""
        return [ref for sel in self.selections for ref in sel.references]


def to_entity_frame(spark: SparkSession, entity: EntityInput, entity_timestamp: str) -> DataFrame:
    """Turn a Spark or pandas frame, a SQL query or a table name into entity rows.

    Naive pandas timestamps and ``timestamp_ntz`` columns are read as UTC; the entity timestamp
    must be a timestamp (dates and numbers are refused).
    """
    if isinstance(entity, pd.DataFrame):
        normalized = normalize_pandas_timestamps(entity, [entity_timestamp], where="entity rows")
        df = dataframe_from_pandas(spark, normalized)
    elif isinstance(entity, DataFrame):
        df = entity
    elif isinstance(entity, str) and _QUERY.match(entity):
        df = spark.sql(entity)  # the caller's own query text
    elif isinstance(entity, str) and _TABLE.match(entity.strip()):
        df = spark.table(entity.strip())
    else:
        raise InvalidArgumentError(
            "entity_df must be a Spark DataFrame, a pandas DataFrame, a SQL query (SELECT/WITH ...) or a table "
            f"name; found {type(entity).__name__} {str(entity)[:60]!r}."
        )
    if entity_timestamp not in df.columns:
        raise SchemaMismatchError(
            f"Entity rows have no timestamp column '{entity_timestamp}' (columns: {', '.join(df.columns)}). Pass "
            "entity_timestamp= with the name of the column holding each row's time."
        )
    data_type = df.schema[entity_timestamp].dataType
    if isinstance(data_type, T.TimestampNTZType):
        # A wall-clock time without zone: read as UTC, like every featurespark timestamp.
        df = df.withColumn(entity_timestamp, timestamp_column(entity_timestamp, data_type, None, where="Entity rows"))
    elif not isinstance(data_type, T.TimestampType):
        raise SchemaMismatchError(
            f"Entity rows: column '{entity_timestamp}' holds {data_type.simpleString()} values, but each entity row "
            "needs the instant it is labelled at as a timestamp. Convert the column first (for example "
            f"F.col('{entity_timestamp}').cast('timestamp') for ISO strings, F.timestamp_seconds(...) for epoch "
            "seconds, pd.to_datetime(...) in pandas); numbers and dates are not guessed."
        )
    return df


def retrieve(
    spark: SparkSession,
    config: Config,
    views: Mapping[str, AnyView],
    entity: EntityInput,
    features: Sequence[str],
    *,
    full_feature_names: bool = False,
    entity_timestamp: str = "event_timestamp",
    algorithm: Algorithm = "auto",
    source_versions: Optional[Mapping[str, Union[int, str]]] = None,
    with_feature_timestamps: bool = False,
    hot_key_buckets: Optional[int] = None,
    as_known_at_query_time: bool = False,
) -> HistoricalRetrieval:
    """Build a point-in-time correct training set from registered feature views and aggregation views.

    Parameters
    ----------
    spark : SparkSession
    config : Config
        Locates managed tables.
    views : mapping
        Registered feature views and aggregation views by name.
    entity : DataFrame, pandas.DataFrame or str
        Entity rows, a SQL query or a table name.
    features : sequence of str
        ``"view:feature"`` or ``"view"`` references, of feature views and aggregation views mixed.
    full_feature_names : bool
        Name outputs ``view__feature``.
    entity_timestamp : str
        Timestamp column of the entity rows.
    algorithm : {"auto", "range", "asof"}
        See :func:`featurespark.pit.point_in_time_join_many` (feature views).
    source_versions : mapping, optional
        Version to read per view (from an earlier manifest) instead of the latest: Delta version, Iceberg
        snapshot id or Hudi commit instant.
    with_feature_timestamps : bool
        Also return ``_fs_feature_ts__<view>`` per feature view: the event timestamp of the matched row
        (for statistics).
    hot_key_buckets : int, optional
        Time buckets per key for skewed data; None (default) chooses from the measured skew, 0 never splits.
    as_known_at_query_time : bool
        Aggregation views count an event for an entity row at ``t`` only if it was also created by ``t``
        (their source needs a ``created_timestamp_field``); see ``docs/aggregations.md``.

    Returns
    -------
    HistoricalRetrieval

    Raises
    ------
    InvalidArgumentError
        Bad references or options, or ``as_known_at_query_time`` for an aggregation view without a
        created timestamp.
    """
    with internal_plan():  # featurespark's own expressions: no call sites to record (see _compat)
        check_option(algorithm, Algorithm, "algorithm")
        selections = resolve_references(features, views, full_feature_names=full_feature_names)
        _check_as_known(selections, as_known_at_query_time)
        # A few entity rows (a notebook's pandas frame) are scanned several times below: held in the plan once.
        entity_df = local_copy(to_entity_frame(spark, entity, entity_timestamp))
        skew_keys = [tuple(sel.view.entity_columns.values()) for sel in selections
                     if isinstance(sel.view, FeatureView) and hot_key_buckets is None]
        time_range = entity_time_range(entity_df, entity_timestamp, key_sets=skew_keys)
        pinned = dict(source_versions or {})
        pit_views, aggregated, reads, columns = [], [], [], list(entity_df.columns)
        for sel in selections:
            view = sel.view
            managed = read_table_of(config, view)
            location = source_location(view, managed)
            version = _version_to_read(spark, view, location, pinned.get(view.name), managed)
            source = read_source(spark, view, managed=managed, version=version, redshift=redshift_for(config, view))
            reach = view.ttl if isinstance(view, FeatureView) else _longest_window(view, sel.features)
            source = source.where(time_range.feature_filter(view.timestamp_field, reach))
            lower, upper = time_range.feature_window(reach)
            reads.append(SourceRead(view.name, view.source.kind, location, version, (_iso(lower), _iso(upper)),
                                    view_kind(view)))
            columns += sel.output_names
            if isinstance(view, AggregationView):
                aggregated.append((view, sel, source))
                continue
            feature_cols = list(sel.features)
            outputs = dict(zip(sel.features, sel.output_names))
            if with_feature_timestamps:
                ts_col = FEATURE_TS_PREFIX + view.name
                source = source.withColumn(ts_col, F.col(view.timestamp_field))
                feature_cols.append(ts_col)
                outputs[ts_col] = ts_col
                columns.append(ts_col)
            pit_views.append(
                PitView(
                    feature_df=source,
                    keys=_keys(view),
                    feature_timestamp=view.timestamp_field,
                    created_timestamp=view.created_timestamp_field,
                    ttl=view.ttl,
                    features=feature_cols,
                    output_names=outputs,
                    name=view.name,
                )
            )
        df = entity_df
        if pit_views:
            df = point_in_time_join_many(df, pit_views, entity_timestamp=entity_timestamp, algorithm=algorithm,
                                         hot_key_buckets=hot_key_buckets, time_range=time_range)
        for agg_view, sel, events in aggregated:
            df = _aggregate(df, events, agg_view, sel, entity_timestamp=entity_timestamp, time_range=time_range,
                            as_known_at_query_time=as_known_at_query_time, hot_key_buckets=hot_key_buckets)
        # Entity columns may hold any characters (dots, backticks): quoted, so each names one top-level column.
        df = df.select(*[F.col("`" + c.replace("`", "``") + "`") for c in columns])
        return HistoricalRetrieval(df, tuple(selections), tuple(reads), entity_timestamp, time_range)


def _keys(view: AnyView) -> dict[str, str]:
    """``{entity column: view key}`` for the join (``join_key_map`` renames the entity side)."""
    return {entity_col: key for key, entity_col in view.entity_columns.items()}


def _longest_window(view: AggregationView, features: Sequence[str]) -> Optional[timedelta]:
    """How far before the earliest entity row events can count: the longest requested window (None: lifetime)."""
    windows = [w for agg in view.aggregations_for(features) for w in agg.parsed_windows()]
    if any(w.micros is None for w in windows):
        return None
    return timedelta(microseconds=max(w.micros for w in windows if w.micros is not None))


def _aggregate(df: DataFrame, events: DataFrame, view: AggregationView, sel: ViewSelection, *, entity_timestamp: str,
               time_range: EntityTimeRange, as_known_at_query_time: bool,
               hot_key_buckets: Optional[int]) -> DataFrame:
    """Add an aggregation view's requested features, named as the selection says, to the entity rows."""
    from featurespark.aggregations import DEFAULT_HOT_KEY_BUCKETS, DEFAULT_HOT_KEY_SHARE, window_aggregate_as_of

    aggregations = [
        Aggregation(a.column, a.function, list(a.windows), k=a.k, name=out)
        for a, out in zip(view.aggregations_for(sel.features), sel.output_names)
    ]
    return window_aggregate_as_of(
        df, events, keys=_keys(view), entity_timestamp=entity_timestamp, event_timestamp=view.timestamp_field,
        aggregations=aggregations,
        created_timestamp=view.created_timestamp_field if as_known_at_query_time else None,
        as_known_at_query_time=as_known_at_query_time,
        # hot_key_buckets keeps its meaning of the feature-view joins: None measures, 0 never splits.
        hot_key_share=None if hot_key_buckets == 0 else DEFAULT_HOT_KEY_SHARE,
        hot_key_buckets=hot_key_buckets or DEFAULT_HOT_KEY_BUCKETS,
        time_range=time_range,
    )


def _check_as_known(selections: Sequence[ViewSelection], as_known_at_query_time: bool) -> None:
    if not as_known_at_query_time:
        return
    lacking = [s.view.name for s in selections
               if isinstance(s.view, AggregationView) and s.view.created_timestamp_field is None]
    if lacking:
        raise InvalidArgumentError(
            f"as_known_at_query_time needs the created time of each event, but the source of aggregation view(s) "
            f"{', '.join(lacking)} has no created_timestamp_field. Set it on the source, or leave "
            "as_known_at_query_time off."
        )


def _version_to_read(spark: SparkSession, view: AnyView, location: str, pinned: Optional[Union[int, str]],
                     managed: Optional[ManagedTable]) -> Optional[Union[int, str]]:
    if managed is not None:  # a managed view: a Delta version or an Iceberg snapshot id
        return table_format(managed.format).resolve_version(spark, managed.ref,
                                                            version=None if pinned is None else int(pinned))
    if isinstance(view.source, (ManagedSource, DeltaSource)):
        return resolve_version(spark, location, version=None if pinned is None else int(pinned))
    if isinstance(view.source, (IcebergSource, HudiSource)):
        return pinned if pinned is not None else current_version(spark, view.source)
    if pinned is not None:
        raise InvalidArgumentError(
            f"A version was given for view '{view.name}', but its {view.source.kind} source has no versions."
        )
    return None


def _iso(value: object) -> Optional[str]:
    return None if value is None else value.isoformat()  # type: ignore[attr-defined]
