"""Reading the sources of feature views and aggregation views and checking them against the definition."""
from __future__ import annotations

import logging
from typing import Optional, Union

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from featurespark.definitions import (
    DeltaSource,
    FeatureView,
    HudiSource,
    IcebergSource,
    JdbcSource,
    ManagedSource,
    ParquetSource,
    QuerySource,
    TableSource,
)
from featurespark.definitions.types import from_spark_type, is_safe_cast
from featurespark.definitions.views import AnyView
from featurespark.errors import InvalidArgumentError, SchemaMismatchError, SourceSchemaError
from featurespark.offline.formats import read_hudi, read_iceberg
from featurespark.offline.jdbc import RedshiftConnection, read_jdbc
from featurespark.offline.layout import ManagedTable
from featurespark.offline.table_format import table_format
from featurespark.offline.timestamps import timestamp_column, with_utc_timestamps

logger = logging.getLogger(__name__)

__all__ = [
    "check_source_schema", "read_source", "source_location", "source_schema_problems", "timestamp_columns",
]

def read_source(spark: SparkSession, view: AnyView, *, managed: Optional[ManagedTable] = None,
                version: Optional[Union[int, str]] = None,
                redshift: Optional[RedshiftConnection] = None) -> DataFrame:
    """Read a view's source as a lazy DataFrame.

    Parameters
    ----------
    spark : SparkSession
    view : FeatureView or AggregationView
    managed : ManagedTable, optional
        Where the view's table is (see :func:`managed_table`); required for a ``ManagedSource``.
    version : int or str, optional
        Version to time-travel to: a Delta version (Delta managed tables and Delta sources), an Iceberg
        snapshot id (Iceberg managed tables and Iceberg sources) or a Hudi commit instant (see
        :mod:`featurespark.offline.formats`).
    redshift : RedshiftConnection, optional
        URL, S3 temp dir and IAM role of a ``RedshiftSource`` (from the ``redshift`` config section).

    Returns
    -------
    DataFrame
        The source rows, columns as stored (no projection).
    """
    df = _read_raw(spark, view, managed, version=version, redshift=redshift)
    needs_conversion = view.source.timestamp_encoding is not None or any(
        isinstance(df.schema[c].dataType, T.TimestampNTZType) for c in timestamp_columns(view) if c in df.columns
    )
    if not needs_conversion:
        return df
    encoding = view.source.timestamp_encoding
    return with_utc_timestamps(df, {c: encoding for c in timestamp_columns(view)}, where=f"source of '{view.name}'")


def _read_raw(spark: SparkSession, view: AnyView, managed: Optional[ManagedTable],
              *, version: Optional[Union[int, str]], redshift: Optional[RedshiftConnection]) -> DataFrame:
    src = view.source
    if isinstance(src, ManagedSource) and managed is not None:
        return table_format(managed.format).read(spark, managed.ref, None if version is None else int(version))
    if isinstance(src, (ManagedSource, DeltaSource)):
        reader = spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.load(source_location(view, managed))
    if isinstance(src, IcebergSource):
        return read_iceberg(spark, src, snapshot_id=None if version is None else int(version))
    if isinstance(src, HudiSource):
        return read_hudi(spark, src, instant=None if version is None else str(version))
    if version is not None:
        raise SourceSchemaError(
            f"{type(view).__name__} '{view.name}': its {src.kind} source has no versions to time-travel to; "
            "only managed, Delta, Iceberg and Hudi sources do."
        )
    if isinstance(src, JdbcSource):
        return read_jdbc(spark, src, redshift=redshift)
    if isinstance(src, ParquetSource):
        try:
            return spark.read.parquet(src.path)
        except Exception as exc:  # noqa: BLE001 - Spark raises AnalysisException / SparkException by version
            if "TIMESTAMP(NANOS" in str(exc):
                raise SourceSchemaError(
                    f"{type(view).__name__} '{view.name}': {src.path} holds timestamps in nanoseconds (INT64 TIMESTAMP(NANOS)), "
                    "pandas' and pyarrow's default, which Spark cannot read. Write the files with microseconds "
                    "(df.to_parquet(path, coerce_timestamps='us', allow_truncated_timestamps=True), or "
                    "pyarrow.parquet.write_table(..., coerce_timestamps='us')), or read them with pandas and pass "
                    "the frame to FeatureStore.write_features."
                ) from exc
            raise
    if isinstance(src, TableSource):
        return spark.table(src.table)
    if isinstance(src, QuerySource):
        # The query is the user's own SQL text from their definition, not built by featurespark.
        return spark.sql(src.query)
    raise SourceSchemaError(f"{type(view).__name__} '{view.name}': unsupported source {src!r}.")  # pragma: no cover


def source_schema_problems(view: AnyView, schema: T.StructType) -> list[str]:
    """List what in ``schema`` does not fit the view: missing columns and incompatible types.

    Types are compatible when the source type equals the declared one or widens safely
    into it (int32 to int64, float32 to float64). Timestamp columns must be timestamps. The declared
    columns are a feature view's join keys and features, or an aggregation view's join keys and
    aggregated event columns (``event_schema``).
    """
    columns = {f.name: f.dataType for f in schema.fields}
    problems = []
    declared = [(f, "feature") for f in view.schema] if isinstance(view, FeatureView) else [
        (f, "event column") for f in view.event_schema
    ]
    wanted = [(k.name, k.dtype, "join key") for k in view.join_key_fields] + [
        (f.name, f.dtype, role) for f, role in declared
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


def timestamp_columns(view: AnyView) -> list[str]:
    """The event and (if any) created timestamp columns of a view."""
    return [t for t in (view.timestamp_field, view.created_timestamp_field) if t]


def check_source_schema(view: AnyView, df: DataFrame) -> None:
    """Raise :class:`SourceSchemaError` listing every mismatch between a view and its source."""
    problems = source_schema_problems(view, df.schema)
    if problems:
        raise SourceSchemaError(
            f"{type(view).__name__} '{view.name}' does not match its source ({view.source.describe()}):\n  - "
            + "\n  - ".join(problems)
        )




def source_location(view: AnyView, managed: Optional[ManagedTable] = None) -> str:
    """Where a view reads from: the Delta path of a managed or Delta source, the path of a Parquet
    source, the table name or the query text.

    Raises
    ------
    InvalidArgumentError
        For a ``ManagedSource`` without ``managed``.
    """
    src = view.source
    if isinstance(src, ManagedSource):
        if managed is None:
            raise InvalidArgumentError(
                f"{type(view).__name__} '{view.name}' has a ManagedSource: pass managed=managed_table(root, database, "
                f"'{view.name}') to say where its Delta table is."
            )
        return managed.path
    if isinstance(src, (DeltaSource, ParquetSource)):
        return src.path
    if isinstance(src, (IcebergSource, HudiSource)):
        return src.table or src.path or ""
    if isinstance(src, JdbcSource):
        return src.describe()
    if isinstance(src, TableSource):
        return src.table
    if isinstance(src, QuerySource):
        return src.query
    raise SourceSchemaError(f"{type(view).__name__} '{view.name}': unsupported source {src!r}.")  # pragma: no cover
