"""Training service: point-in-time correct training sets from registered views (``get_historical_features``).

For each requested view the source is read pinned to one Delta version (managed views and Delta
sources), pruned to the feature timestamps that can join (``[min entity_ts - ttl, max entity_ts]``,
measured with one aggregate over the entity rows), and joined point-in-time onto the entity rows
(see ``docs/point_in_time.md``). The result stays a lazy DataFrame.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence, Union

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from featurespark._compat import dataframe_from_pandas
from featurespark.config import Config
from featurespark.definitions import DeltaSource, FeatureView, HudiSource, IcebergSource, ManagedSource
from featurespark.errors import InvalidArgumentError, SchemaMismatchError
from featurespark.offline.formats import current_version
from featurespark.offline.sources import read_source, source_location
from featurespark.offline.time_travel import resolve_version
from featurespark.offline.timestamps import normalize_pandas_timestamps, timestamp_column
from featurespark.options import Algorithm, check_option
from featurespark.pit import EntityTimeRange, PitView, entity_time_range, point_in_time_join_many
from featurespark.registry.references import ViewSelection, resolve_references
from featurespark.services.locations import managed_table_of, redshift_for

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
        ``(lower, upper)`` feature timestamps kept by pruning, ISO strings or None.
    """

    view: str
    kind: str
    location: str
    version: Optional[Union[int, str]]
    window: tuple[Optional[str], Optional[str]]


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
    views: Mapping[str, FeatureView],
    entity: EntityInput,
    features: Sequence[str],
    *,
    full_feature_names: bool = False,
    entity_timestamp: str = "event_timestamp",
    algorithm: Algorithm = "auto",
    source_versions: Optional[Mapping[str, Union[int, str]]] = None,
    with_feature_timestamps: bool = False,
    hot_key_buckets: Optional[int] = None,
) -> HistoricalRetrieval:
    """Build a point-in-time correct training set from registered views.

    Parameters
    ----------
    spark : SparkSession
    config : Config
        Locates managed tables.
    views : mapping
        Registered feature views by name.
    entity : DataFrame, pandas.DataFrame or str
        Entity rows, a SQL query or a table name.
    features : sequence of str
        ``"view:feature"`` or ``"view"`` references.
    full_feature_names : bool
        Name outputs ``view__feature``.
    entity_timestamp : str
        Timestamp column of the entity rows.
    algorithm : {"auto", "range", "asof"}
        See :func:`featurespark.pit.point_in_time_join_many`.
    source_versions : mapping, optional
        Version to read per view (from an earlier manifest) instead of the latest: Delta version, Iceberg
        snapshot id or Hudi commit instant.
    with_feature_timestamps : bool
        Also return ``_fs_feature_ts__<view>``: the event timestamp of the matched row (for statistics).
    hot_key_buckets : int, optional
        Time buckets per key for skewed data; None (default) chooses from the measured skew, 0 never splits.

    Returns
    -------
    HistoricalRetrieval
    """
    check_option(algorithm, Algorithm, "algorithm")
    selections = resolve_references(features, views, full_feature_names=full_feature_names)
    entity_df = to_entity_frame(spark, entity, entity_timestamp)
    skew_keys = [tuple(sel.view.entity_columns.values()) for sel in selections] if hot_key_buckets is None else []
    time_range = entity_time_range(entity_df, entity_timestamp, key_sets=skew_keys)
    pinned = dict(source_versions or {})
    pit_views, reads = [], []
    for sel in selections:
        view = sel.view
        managed = managed_table_of(config, view) if isinstance(view.source, ManagedSource) else None
        version = _version_to_read(spark, view, source_location(view, managed), pinned.get(view.name))
        source = read_source(spark, view, managed=managed, version=version, redshift=redshift_for(config, view))
        source = source.where(time_range.feature_filter(view.timestamp_field, view.ttl))
        lower, upper = time_range.feature_window(view.ttl)
        reads.append(SourceRead(view.name, view.source.kind, source_location(view, managed), version,
                                (_iso(lower), _iso(upper))))
        feature_cols = list(sel.features)
        outputs = dict(zip(sel.features, sel.output_names))
        if with_feature_timestamps:
            ts_col = FEATURE_TS_PREFIX + view.name
            source = source.withColumn(ts_col, F.col(view.timestamp_field))
            feature_cols.append(ts_col)
            outputs[ts_col] = ts_col
        pit_views.append(
            PitView(
                feature_df=source,
                keys={entity_col: key for key, entity_col in view.entity_columns.items()},
                feature_timestamp=view.timestamp_field,
                created_timestamp=view.created_timestamp_field,
                ttl=view.ttl,
                features=feature_cols,
                output_names=outputs,
                name=view.name,
            )
        )
    df = point_in_time_join_many(entity_df, pit_views, entity_timestamp=entity_timestamp,
                                 algorithm=algorithm, hot_key_buckets=hot_key_buckets, time_range=time_range)
    return HistoricalRetrieval(df, tuple(selections), tuple(reads), entity_timestamp, time_range)


def _version_to_read(spark: SparkSession, view: FeatureView, location: str,
                     pinned: Optional[Union[int, str]]) -> Optional[Union[int, str]]:
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
