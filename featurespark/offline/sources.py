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
from featurespark.errors import SourceSchemaError

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
    for ts in (view.timestamp_field, view.created_timestamp_field):
        if ts is not None:
            wanted.append((ts, "timestamp", "timestamp column"))
    for name, dtype, role in wanted:
        if name not in columns:
            problems.append(f"{role} '{name}' is missing (source columns: {', '.join(columns)})")
            continue
        found = from_spark_type(columns[name])
        if found is None or not is_safe_cast(found, dtype):
            hint = "; cast it in a QuerySource or change the declared type" if role != "timestamp column" else (
                "; convert it to a timestamp (e.g. from epoch seconds with timestamp_seconds) in a QuerySource"
            )
            problems.append(
                f"{role} '{name}' has type {columns[name].simpleString()} but {dtype} is declared{hint}"
            )
    return problems


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

    ensure_database(spark, offline.database)
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


def ensure_database(spark: SparkSession, database: str) -> None:
    """Create a metastore database if it does not exist."""
    if not _IDENTIFIER.match(database):
        raise SourceSchemaError(f"offline_store.database {database!r} is not a valid database name.")
    if not spark.catalog.databaseExists(database):
        # There is no DataFrame API for CREATE DATABASE; the name is validated above and quoted.
        spark.sql(f"CREATE DATABASE IF NOT EXISTS `{database}`")


def to_utc_timestamp_columns(df: DataFrame, columns: list[str]) -> DataFrame:
    """Cast timestamp-without-time-zone columns to timestamps (read in the session time zone)."""
    ntz = [c for c in columns if isinstance(df.schema[c].dataType, T.TimestampNTZType)]
    if not ntz:
        return df
    return df.withColumns({c: F.col(c).cast(T.TimestampType()) for c in ntz})
