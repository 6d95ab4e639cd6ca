"""Validation of incoming feature rows against a view's schema.

Two levels:

- **schema** (:func:`conform_to_view`): every join key, timestamp and feature column must exist
  with a type that is the declared one or widens safely into it (int32 to int64, float32 to
  float64); such widenings are cast, anything else is refused before a row is written.
- **rows** (:func:`with_reject_reason`): null join keys and null event timestamps make a row
  invalid; the reason is kept in a column so the caller can fail or quarantine, never drop.
"""
from __future__ import annotations

import logging

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from featurespark.definitions import FeatureView
from featurespark.definitions.types import from_spark_type, is_safe_cast
from featurespark.errors import SchemaMismatchError
from featurespark.offline.sources import timestamp_columns
from featurespark.offline.tables import managed_table_schema
from featurespark.offline.timestamps import timestamp_column

logger = logging.getLogger(__name__)

__all__ = ["REJECT_REASON", "conform_to_view", "with_reject_reason"]

#: Column holding why a row was rejected (null for valid rows).
REJECT_REASON = "_reject_reason"


def conform_to_view(df: DataFrame, view: FeatureView, *, where: str = "batch") -> DataFrame:
    """Select the view's columns in table order, casting safe widenings and timestamps to UTC.

    Parameters
    ----------
    df : DataFrame
        Incoming rows.
    view : FeatureView
        The view the rows are for.
    where : str
        Description of the batch for messages.

    Returns
    -------
    DataFrame
        Exactly the columns of the view's managed table. Extra columns are left out (and logged).

    Raises
    ------
    SchemaMismatchError
        Listing every missing column and unsafe type at once.

    Examples
    --------
    >>> from featurespark.definitions import Entity, Field
    >>> view = FeatureView(name="stats", entities=[Entity("driver", join_keys={"driver_id": "int64"})],
    ...                    schema=[Field("rate", "float64")])
    >>> batch = spark.createDataFrame([(1, "2026-01-01 00:00:00", 0.5, "x")],
    ...                               "driver_id int, event_timestamp string, rate float, note string")
    >>> batch.withColumn("event_timestamp", batch.event_timestamp.cast("timestamp")).transform(
    ...     conform_to_view, view=view).schema.simpleString()
    'struct<driver_id:bigint,event_timestamp:timestamp,rate:double>'
    >>> conform_to_view(batch.drop("rate"), view)
    Traceback (most recent call last):
    ...
    featurespark.errors.SchemaMismatchError: batch does not fit feature view 'stats':
      - column 'event_timestamp' has type string, which cannot be read as a timestamp. ...
    """
    columns = {f.name: f.dataType for f in df.schema.fields}
    problems: list[str] = []
    selected: list[Column] = []
    timestamps = set(timestamp_columns(view))
    for target in managed_table_schema(view).fields:
        name = target.name
        if name not in columns:
            problems.append(f"column '{name}' is missing")
            continue
        if name in timestamps:
            try:
                expr = timestamp_column(name, columns[name], view.source.timestamp_encoding, where=where)
            except SchemaMismatchError as exc:
                problems.append(str(exc).split(": ", 1)[-1])
                continue
            selected.append(expr.cast(target.dataType).alias(name))
            continue
        declared = from_spark_type(target.dataType)
        found = from_spark_type(columns[name])
        if found is None or declared is None or not is_safe_cast(found, declared):
            hint = ""
            if found == "float64" and declared in ("int32", "int64"):
                hint = " (pandas turns integer columns with missing values into float64: use the 'Int64' dtype)"
            problems.append(f"column '{name}' has type {columns[name].simpleString()} but the view declares "
                            f"{declared}; only identical types or safe widenings are accepted{hint}")
            continue
        selected.append(F.col(name).cast(target.dataType).alias(name))
    if problems:
        raise SchemaMismatchError(
            f"{where} does not fit feature view '{view.name}':\n  - " + "\n  - ".join(problems)
            + f"\nExpected columns: {', '.join(f.name for f in managed_table_schema(view).fields)}."
        )
    extra = sorted(set(columns) - {f.name for f in managed_table_schema(view).fields})
    if extra:
        logger.info("%s: columns %s are not in view '%s' and are not stored", where, extra, view.name)
    return df.select(*selected)


def with_reject_reason(df: DataFrame, view: FeatureView) -> DataFrame:
    """Add :data:`REJECT_REASON`: why a row is invalid (null join key, null event timestamp), else null."""
    checks = [F.when(F.col(k).isNull(), F.lit(f"null join key '{k}'")) for k in view.join_keys]
    checks.append(F.when(F.col(view.timestamp_field).isNull(),
                         F.lit(f"null event timestamp '{view.timestamp_field}'")))
    reason = F.concat_ws("; ", *checks)
    return df.withColumn(REJECT_REASON, F.when(reason != "", reason))
