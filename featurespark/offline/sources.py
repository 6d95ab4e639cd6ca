"""Reading feature view sources and checking them against the view's definition."""
from __future__ import annotations

import logging
import re
from typing import Optional

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from featurespark.config import OfflineStoreConfig, join_path
from featurespark.definitions import (
    DeltaSource,
    FeatureView,
    ManagedSource,
    ParquetSource,
    QuerySource,
    TableSource,
)
from featurespark.definitions.types import from_spark_type, is_safe_cast
from featurespark.errors import SchemaMismatchError, SourceSchemaError
from featurespark.offline.timestamps import timestamp_column, with_utc_timestamps

logger = logging.getLogger(__name__)

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def managed_table_name(offline: OfflineStoreConfig, view: FeatureView) -> str:
    """Metastore name ``<database>.<view>`` of a managed view's Delta table."""
    return f"{offline.database}.{view.name}"


def managed_table_path(offline: OfflineStoreConfig, view: FeatureView) -> str:
    """Location ``<root>/<view>`` of a managed view's Delta table."""
    return join_path(offline.root, view.name)


def read_source(spark: SparkSession, view: FeatureView, offline: OfflineStoreConfig,
                *, version: Optional[int] = None) -> DataFrame:
    """Read a view's source as a lazy DataFrame.

    Parameters
    ----------
    spark : SparkSession
    view : FeatureView
    offline : OfflineStoreConfig
        Locates managed tables.
    version : int, optional
        Delta version to time-travel to (managed and Delta sources only).

    Returns
    -------
    DataFrame
        The source rows, columns as stored (no projection).
    """
    df = _read_raw(spark, view, offline, version=version)
    needs_conversion = view.source.timestamp_encoding is not None or any(
        isinstance(df.schema[c].dataType, T.TimestampNTZType) for c in timestamp_columns(view) if c in df.columns
    )
    if not needs_conversion:
        return df
    encoding = view.source.timestamp_encoding
    return with_utc_timestamps(df, {c: encoding for c in timestamp_columns(view)}, where=f"source of '{view.name}'")


def _read_raw(spark: SparkSession, view: FeatureView, offline: OfflineStoreConfig,
              *, version: Optional[int]) -> DataFrame:
    src = view.source
    if isinstance(src, ManagedSource):
        reader = spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.load(managed_table_path(offline, view))
    if isinstance(src, DeltaSource):
        reader = spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.load(src.path)
    if version is not None:
        raise SourceSchemaError(
            f"FeatureView '{view.name}': its {src.kind} source has no versions to time-travel to; "
            "only managed and Delta sources do."
        )
    if isinstance(src, ParquetSource):
        return spark.read.parquet(src.path)
    if isinstance(src, TableSource):
        return spark.table(src.table)
    if isinstance(src, QuerySource):
        # The query is the user's own SQL text from their definition, not built by featurespark.
        return spark.sql(src.query)
    raise SourceSchemaError(f"FeatureView '{view.name}': unsupported source {src!r}.")  # pragma: no cover


def source_schema_problems(view: FeatureView, schema: T.StructType) -> list[str]:
    """List what in ``schema`` does not fit the view: missing columns and incompatible types.

    Types are compatible when the source type equals the declared one or widens safely
    into it (int32 to int64, float32 to float64). Timestamp columns must be timestamps.
    """
    columns = {f.name: f.dataType for f in schema.fields}
    problems = []
    wanted = [(k.name, k.dtype, "join key") for k in view.join_key_fields] + [
        (f.name, f.dtype, "feature") for f in view.schema
    ]
    for name, dtype, role in wanted:
        if name not in columns:
            problems.append(f"{role} '{name}' is missing (source columns: {', '.join(columns)})")
            continue
        found = from_spark_type(columns[name])
        if found is None or not is_safe_cast(found, dtype):
            problems.append(f"{role} '{name}' has type {columns[name].simpleString()} but {dtype} is declared; "
                            "cast it in a QuerySource or change the declared type")
    for ts in timestamp_columns(view):
        if ts not in columns:
            problems.append(f"timestamp column '{ts}' is missing (source columns: {', '.join(columns)})")
            continue
        try:
            timestamp_column(ts, columns[ts], view.source.timestamp_encoding, where="source")
        except SchemaMismatchError:
            problems.append(
                f"timestamp column '{ts}' has type {columns[ts].simpleString()} but timestamp is declared; "
                "convert it to a timestamp (or set the source's timestamp_encoding for epoch numbers or dates)"
            )
    return problems


def timestamp_columns(view: FeatureView) -> list[str]:
    """The event and (if any) created timestamp columns of a view."""
    return [t for t in (view.timestamp_field, view.created_timestamp_field) if t]


def check_source_schema(view: FeatureView, df: DataFrame) -> None:
    """Raise :class:`SourceSchemaError` listing every mismatch between a view and its source."""
    problems = source_schema_problems(view, df.schema)
    if problems:
        raise SourceSchemaError(
            f"FeatureView '{view.name}' does not match its source ({view.source.describe()}):\n  - "
            + "\n  - ".join(problems)
        )


def managed_table_schema(view: FeatureView) -> T.StructType:
    """Columns of a managed view's Delta table, without the partition column."""
    fields = [T.StructField(k.name, k.spark_type, True) for k in view.join_key_fields]
    fields.append(T.StructField(view.timestamp_field, T.TimestampType(), True))
    if view.created_timestamp_field:
        fields.append(T.StructField(view.created_timestamp_field, T.TimestampType(), True))
    fields.extend(T.StructField(f.name, f.spark_type, True) for f in view.schema)
    return T.StructType(fields)


#: Partition column of managed tables, generated from the event timestamp (UTC date) so
#: filters on the event timestamp prune partitions.
PARTITION_COLUMN = "_event_date"


def ensure_managed_table(spark: SparkSession, view: FeatureView, offline: OfflineStoreConfig) -> bool:
    """Create a managed view's Delta table and metastore entry if missing.

    The table is ``<database>.<view>`` at ``<root>/<view>``, partitioned by a generated
    ``_event_date`` column. Returns True when it was created.
    """
    from delta.tables import DeltaTable

    ensure_database(spark, offline.database, location=offline.database_location)
    path = managed_table_path(offline, view)
    existed = bool(DeltaTable.isDeltaTable(spark, path))
    builder = DeltaTable.createIfNotExists(spark).tableName(managed_table_name(offline, view)).location(path)
    builder = builder.addColumns(managed_table_schema(view)).addColumn(
        PARTITION_COLUMN,
        T.DateType(),
        # Delta's generated-column API takes an SQL expression; the column name was validated
        # by check_name on the definition, and backticks keep it an identifier.
        generatedAlwaysAs=f"CAST(`{view.timestamp_field}` AS DATE)",
    ).partitionedBy(PARTITION_COLUMN)
    builder.execute()
    if not existed:
        logger.info("Created managed table %s at %s", managed_table_name(offline, view), path)
    check_source_schema(view, spark.read.format("delta").load(path))
    return not existed


def ensure_database(spark: SparkSession, database: str, location: Optional[str] = None) -> None:
    """Create a metastore database if it does not exist, at ``location`` when given.

    Without a location, Glue (and Hive) would place the database at the cluster's default warehouse,
    on a transient EMR cluster an HDFS path that dies with it.
    """
    if not _IDENTIFIER.match(database):
        raise SourceSchemaError(f"offline_store.database {database!r} is not a valid database name.")
    if location is not None and ("'" in location or "\\" in location):
        raise SourceSchemaError(f"Database location {location!r} (under offline_store.root) holds a quote or a "
                                "backslash; choose a root without them.")
    if not spark.catalog.databaseExists(database):
        # There is no DataFrame API for CREATE DATABASE; the name and location are validated above.
        where = f" LOCATION '{location}'" if location is not None else ""
        spark.sql(f"CREATE DATABASE IF NOT EXISTS `{database}`{where}")
