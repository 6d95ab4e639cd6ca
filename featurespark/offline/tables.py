"""Managed feature tables: their schema and partitioning, and creating them (through the table format).

Where they live is :mod:`featurespark.offline.layout`'s (no Spark needed to name them).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Optional

from pyspark.sql import SparkSession
from pyspark.sql import types as T

from featurespark.definitions import FeatureView
from featurespark.errors import SourceSchemaError
from featurespark.offline.iceberg import ensure_namespace
from featurespark.offline.layout import ManagedTable
from featurespark.offline.table_format import DAY_PARTITION_COLUMN
from featurespark.offline.table_format import table_format as table_format_of
from featurespark.options import OfflineFormat

logger = logging.getLogger(__name__)

__all__ = ["PARTITION_COLUMN", "ensure_database", "ensure_managed_table", "managed_table_schema", "prepare_namespace"]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: Partition column of managed Delta tables, generated from the event timestamp (UTC date) so
#: filters on the event timestamp prune partitions (Iceberg tables partition by days(timestamp), hidden).
PARTITION_COLUMN = DAY_PARTITION_COLUMN


def managed_table_schema(view: FeatureView) -> T.StructType:
    """Columns of a managed view's Delta table, without the partition column.

    Examples
    --------
    >>> from featurespark.definitions import Entity, Field
    >>> view = FeatureView(name="stats", entities=[Entity("driver", join_keys={"driver_id": "int64"})],
    ...                    schema=[Field("rate", "float64")])
    >>> managed_table_schema(view).simpleString()
    'struct<driver_id:bigint,event_timestamp:timestamp,rate:double>'
    """
    fields = [T.StructField(k.name, k.spark_type, True) for k in view.join_key_fields]
    fields.append(T.StructField(view.timestamp_field, T.TimestampType(), True))
    if view.created_timestamp_field:
        fields.append(T.StructField(view.created_timestamp_field, T.TimestampType(), True))
    fields.extend(T.StructField(f.name, f.spark_type, True) for f in view.schema)
    return T.StructType(fields)


@dataclass(frozen=True)
class TableEvolution:
    """How an existing managed table changes to fit a new version of its view.

    Attributes
    ----------
    table : str
        The table's metastore name.
    added : tuple of StructField
        Feature columns the view declares and the table lacks: added (nullable), existing rows read null.
    kept : tuple of str
        Columns of the table the view no longer declares: kept with their data, no longer read.
    """

    table: str
    added: tuple[T.StructField, ...] = ()
    kept: tuple[str, ...] = ()

    @property
    def changes_table(self) -> bool:
        """Whether applying it writes to the table (adds columns)."""
        return bool(self.added)

    def describe(self) -> list[str]:
        """Human lines for a plan."""
        lines = [f"add column {f.name} {f.dataType.simpleString()} to {self.table} (existing rows read null)"
                 for f in self.added]
        lines += [f"keep column {name} of {self.table} (no longer a feature of the view; its data stays)"
                  for name in self.kept]
        return lines


def plan_table_evolution(view: FeatureView, table_schema: T.StructType, table_name: str, *,
                         table_format: OfflineFormat = "delta") -> TableEvolution:
    """Compare an existing managed table with its view: what to add, what to keep, what cannot change.

    Adding a feature adds a nullable column; removing one keeps the column (and its data) but stops
    reading it; re-adding it later reuses the column. A column whose type differs from the view's is
    refused: Delta Lake cannot change a column's type in place for every engine featurespark supports
    (type widening in Delta 3.x covers byte, short and int only), and rewriting the table would lose
    the generated partition column.

    Raises
    ------
    SourceSchemaError
        If a join key, timestamp or feature changes type, or a join key or timestamp column is missing.

    Examples
    --------
    >>> from featurespark.definitions import Entity, Field
    >>> old = FeatureView(name="s", entities=[Entity("d", join_keys={"d_id": "int64"})],
    ...                   schema=[Field("a", "float64"), Field("b", "int64")])
    >>> new = FeatureView(name="s", entities=old.entities, schema=[Field("a", "float64"), Field("c", "string")])
    >>> plan_table_evolution(new, managed_table_schema(old), "db.s").describe()
    ['add column c string to db.s (existing rows read null)', 'keep column b of db.s (no longer a feature of the view; its data stays)']
    """
    existing = {f.name: f.dataType for f in table_schema.fields}
    wanted = managed_table_schema(view)
    features = set(view.feature_names)
    problems, added = [], []
    for field in wanted.fields:
        found = existing.get(field.name)
        if found is None:
            if field.name in features:
                added.append(field)
            else:
                problems.append(f"column '{field.name}' (a join key or timestamp) is not in the table")
        elif found.simpleString() != field.dataType.simpleString():
            problems.append(f"'{field.name}' is stored as {found.simpleString()} but the view now declares "
                            f"{field.dataType.simpleString()}")
    if problems:
        raise SourceSchemaError(
            f"Managed view '{view.name}' no longer fits its {table_format_of(table_format).title} table {table_name}:\n  - " + "\n  - ".join(problems)
            + "\nA managed table's columns keep their types, and its join keys and timestamps stay as created. "
            "Keep the old type, or add a new feature with the new type (for example 'rate_v2') and backfill it, "
            "or define a new view."
        )
    declared = {f.name for f in wanted.fields} | {PARTITION_COLUMN}
    kept = tuple(name for name in existing if name not in declared)
    return TableEvolution(table_name, tuple(added), kept)


def ensure_managed_table(spark: SparkSession, view: FeatureView, table: ManagedTable) -> bool:
    """Create a managed view's table (and metastore entry) if missing, or evolve it to fit the view.

    The table is partitioned by the UTC day of the event timestamp (Delta: a generated ``_event_date``
    column; Iceberg: ``days(<timestamp>)``). An existing table gets the feature columns it lacks (see
    :func:`plan_table_evolution`). Returns True when it was created.

    Raises
    ------
    SourceSchemaError
        If an existing table cannot fit the view (a column changes type).
    """
    fmt = table_format_of(table.format)
    prepare_namespace(spark, table)
    if fmt.exists(spark, table.ref):
        evolution = plan_table_evolution(view, fmt.schema(spark, table.ref), table.name, table_format=table.format)
        if evolution.changes_table:
            fmt.add_columns(spark, table.ref, managed_table_schema(view), evolution.added)
            logger.info("Added column(s) %s to %s", ", ".join(f.name for f in evolution.added), table.name)
        fmt.create(spark, table.ref, managed_table_schema(view), day_of=view.timestamp_field)
        return False
    created = fmt.create(spark, table.ref, managed_table_schema(view), day_of=view.timestamp_field)
    if created:
        logger.info("Created managed %s table %s at %s", table.format, table.name, table.path)
    return created


def prepare_namespace(spark: SparkSession, table: ManagedTable) -> None:
    """Create the metastore database of a Delta table, or the Glue database of an Iceberg table in a Glue
    catalog (an Iceberg Hadoop catalog needs none)."""
    if table.format == "delta":
        ensure_database(spark, table.database, location=table.database_location)
    elif table.iceberg_catalog_type == "glue":
        ensure_namespace(spark, table.name)


def drop_table(spark: SparkSession, name: str) -> None:
    """Remove a table's metastore entry (``database.table``); its files are the caller's to delete."""
    database, _, table = name.partition(".")
    if not (_IDENTIFIER.match(database) and _IDENTIFIER.match(table)):
        raise SourceSchemaError(f"{name!r} is not a database.table name.")
    # No DataFrame API drops a table; both names are validated above and quoted.
    spark.sql(f"DROP TABLE IF EXISTS `{database}`.`{table}`")


def ensure_database(spark: SparkSession, database: str, location: Optional[str] = None) -> None:
    """Create a metastore database if it does not exist, at ``location`` when given.

    Without a location, Glue (and Hive) place the database at the cluster's default warehouse, on a
    transient EMR cluster an HDFS path that dies with the cluster.
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
