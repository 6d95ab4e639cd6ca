"""The table formats of managed tables and the registry: one interface, a Delta and an Iceberg implementation.

Everything featurespark does to a table it owns goes through a :class:`TableFormat`: create it (partitioned
by the UTC day of the event timestamp), add columns, append, merge on keys (one attempt; the caller
retries on :meth:`TableFormat.is_conflict`), find and read versions, and drop it. The writer, time
travel, training sets and the registry take the format from the table's ``format`` and never name a
format's API themselves. :func:`table_format` returns the implementation for ``"delta"`` or ``"iceberg"``.

A *version* is what a read is pinned to and what manifests record: the Delta version, or the Iceberg
snapshot id. The registry also needs a *log version* that counts up by one per commit, so that a reader
without Spark can tell with one file-existence check whether a newer commit exists
(:mod:`featurespark.registry.snapshot`): the Delta version again, or for Iceberg the number ``n`` of the
Hadoop catalog's ``metadata/v<n + 1>.metadata.json``, or of the Glue catalog's ``<n>-<uuid>.metadata.json``
(:mod:`featurespark.offline.glue_pointer`).

Examples
--------
>>> from featurespark.offline.layout import TableRef
>>> delta = table_format("delta")
>>> ref = TableRef(str(tmp_path / "t"))
>>> delta.create(spark, ref, spark.range(0).schema, day_of=None)
True
>>> delta.append(spark.range(3), ref)
>>> delta.latest_version(spark, ref), delta.read(spark, ref, 0).count(), delta.read(spark, ref, 1).count()
(1, 0, 3)
"""
from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import ContextManager, Optional, Sequence, Tuple, Union

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from featurespark._compat import execute_merge
from featurespark._delta import idempotent_commits, is_conflict, latest_version
from featurespark._files import HadoopFiles
from featurespark.errors import InvalidArgumentError, TimeTravelError
from featurespark.offline.layout import TableRef
from featurespark.options import OfflineFormat, check_option

logger = logging.getLogger(__name__)

__all__ = [
    "DAY_PARTITION_COLUMN", "DeltaFormat", "MergeCounts", "TableFormat", "Transaction", "changed_condition",
    "merge_condition", "table_format", "version_at",
]

#: Partition column of managed Delta tables, generated from the event timestamp (UTC date) so
#: filters on the event timestamp prune partitions. Iceberg partitions by ``days(<timestamp>)`` instead
#: (hidden partitioning: no extra column).
DAY_PARTITION_COLUMN = "_event_date"

#: Rows inserted and rows updated by a merge; None when the format could not tell (a concurrent commit).
MergeCounts = Optional[Tuple[int, int]]


@dataclass(frozen=True)
class Transaction:
    """An idempotent-write identity: a write of a version a table already recorded for the app adds nothing.

    Delta records it in each table's log (``txnAppId`` / ``txnVersion``); Iceberg appends record it in the
    snapshot summary (see :meth:`TableFormat.idempotent_writes`).

    Attributes
    ----------
    app_id : str
        Identifies the writer across restarts (a streaming query's id).
    version : int
        Increases with every batch of that writer (a micro-batch id).
    """

    app_id: str
    version: int


class TableFormat(ABC):
    """What featurespark does to the tables it owns, for one table format."""

    #: ``offline_store.format`` value.
    name: OfflineFormat
    #: The format's name in messages.
    title: str

    @abstractmethod
    def exists(self, spark: SparkSession, ref: TableRef) -> bool:
        """Whether the table exists."""

    @abstractmethod
    def create(self, spark: SparkSession, ref: TableRef, schema: T.StructType, *, day_of: Optional[str]) -> bool:
        """Create the table unless it exists (partitioned by the UTC day of column ``day_of`` when given);
        True when this call created it."""

    @abstractmethod
    def schema(self, spark: SparkSession, ref: TableRef) -> T.StructType:
        """The table's columns."""

    @abstractmethod
    def add_columns(self, spark: SparkSession, ref: TableRef, schema: T.StructType,
                    fields: Sequence[T.StructField]) -> None:
        """Add nullable ``fields`` (``schema`` is the whole wanted schema, ``fields`` included)."""

    @abstractmethod
    def append(self, df: DataFrame, ref: TableRef, *, transaction: Optional[Transaction] = None) -> None:
        """Append rows to the existing table (columns by name); nothing when the table recorded ``transaction``."""

    @abstractmethod
    def append_or_create(self, df: DataFrame, ref: TableRef, *, transaction: Optional[Transaction] = None) -> None:
        """Append rows, creating the table with their schema when it does not exist (quarantine tables);
        nothing when the table recorded ``transaction``."""

    def idempotent_writes(self, spark: SparkSession, transaction: Optional[Transaction]) -> ContextManager[None]:
        """The block in which the writes of ``transaction`` happen.

        Formats whose idempotent writes are a session setting (Delta) set it here; the others (Iceberg) make
        each append idempotent itself, and rely on a replayed MERGE finding its rows already there.
        """
        return nullcontext()

    @abstractmethod
    def merge(self, spark: SparkSession, ref: TableRef, source: DataFrame, keys: Sequence[str], *,
              update: bool) -> MergeCounts:
        """One MERGE attempt: insert source rows whose ``keys`` are not in the table; with ``update``, also
        overwrite the other columns of matched rows whose values differ. Raises what the format raises on
        a concurrent commit (see :meth:`is_conflict`)."""

    @abstractmethod
    def is_conflict(self, exc: BaseException) -> bool:
        """Whether ``exc`` is a retryable concurrent-commit conflict."""

    @abstractmethod
    def latest_version(self, spark: SparkSession, ref: TableRef) -> int:
        """The version a read sees now.

        Raises
        ------
        TimeTravelError
            If there is no table.
        """

    @abstractmethod
    def resolve_version(self, spark: SparkSession, ref: TableRef, *, version: Optional[int] = None,
                        as_of: Optional[datetime] = None) -> int:
        """``version`` checked, the version current at ``as_of``, or the latest.

        Raises
        ------
        TimeTravelError
            If the version does not exist or ``as_of`` is before the first commit.
        """

    @abstractmethod
    def read(self, spark: SparkSession, ref: TableRef, version: Optional[int] = None) -> DataFrame:
        """The table (lazily), at ``version`` when given."""

    @abstractmethod
    def log_version(self, spark: SparkSession, ref: TableRef) -> int:
        """The commit counter of the table (see the module docstring), from its files, no Spark job."""

    @abstractmethod
    def read_log(self, spark: SparkSession, ref: TableRef, log_version: int) -> DataFrame:
        """The table as of commit counter ``log_version``."""

    @abstractmethod
    def drop(self, spark: SparkSession, ref: TableRef) -> bool:
        """Drop the table's catalog entry and delete its files; True when there was something to drop."""


def merge_condition(keys: Sequence[str], target: str = "t", source: str = "s") -> Column:
    """``target.k = source.k`` for every key, as one condition."""
    on = F.lit(True)
    for k in keys:
        on = on & (F.col(f"{target}.{k}") == F.col(f"{source}.{k}"))
    return on


def changed_condition(columns: Sequence[str], target: str = "t", source: str = "s") -> Column:
    """Whether any of ``columns`` differs between target and source (nulls compare equal)."""
    changed = F.lit(False)
    for c in columns:
        changed = changed | ~F.col(f"{target}.{c}").eqNullSafe(F.col(f"{source}.{c}"))
    return changed


class DeltaFormat(TableFormat):
    """Delta Lake tables: managed tables registered in the metastore at their path, the registry by path."""

    name: OfflineFormat = "delta"
    title = "Delta"

    def exists(self, spark: SparkSession, ref: TableRef) -> bool:
        from delta.tables import DeltaTable

        return bool(DeltaTable.isDeltaTable(spark, ref.path))

    def create(self, spark: SparkSession, ref: TableRef, schema: T.StructType, *, day_of: Optional[str]) -> bool:
        from delta.tables import DeltaTable

        exists = self.exists(spark, ref)
        # The files may be there without a metastore entry (a new metastore, such as a new EMR cluster's, next
        # to existing files): then only the entry is created. Delta's CREATE TABLE takes about 0.2 s even when
        # the entry exists, and apply ensures every view's table: look the entry up first.
        if exists and (ref.name is None or spark.catalog.tableExists(ref.name)):
            return False
        builder = DeltaTable.createIfNotExists(spark).location(ref.path)
        if ref.name is not None:
            builder = builder.tableName(ref.name)
        if exists:
            builder.execute()  # registers the existing files under the name
            return False
        builder = builder.addColumns(schema)
        if day_of is not None:
            builder = builder.addColumn(
                DAY_PARTITION_COLUMN,
                T.DateType(),
                # Delta's generated-column API takes an SQL expression; the column name was validated
                # by check_name on the definition, and backticks keep it an identifier.
                generatedAlwaysAs=f"CAST(`{day_of}` AS DATE)",
            ).partitionedBy(DAY_PARTITION_COLUMN)
        builder.execute()
        return True

    def schema(self, spark: SparkSession, ref: TableRef) -> T.StructType:
        return spark.read.format("delta").load(ref.path).schema

    def add_columns(self, spark: SparkSession, ref: TableRef, schema: T.StructType,
                    fields: Sequence[T.StructField]) -> None:
        # An empty append with schema merging is Delta's DataFrame-API way to add nullable columns: one
        # commit that changes only the schema, leaving the data files and the generated column as they are.
        # The frame has the view's whole schema: Delta derives the generated column from the timestamp.
        empty = spark.createDataFrame([], schema)
        empty.write.format("delta").mode("append").option("mergeSchema", "true").save(ref.path)

    def idempotent_writes(self, spark: SparkSession, transaction: Optional[Transaction]) -> ContextManager[None]:
        # Every commit in the block (appends and MERGE) carries the transaction: Delta skips it when the table
        # already recorded that version or a later one for the app.
        return idempotent_commits(spark, transaction.app_id, transaction.version) if transaction else nullcontext()

    # Delta's appends take ``transaction`` from the session setting of ``idempotent_writes`` (the block the
    # writer runs them in, which also covers MERGE, whose commits take no write options).
    def append(self, df: DataFrame, ref: TableRef, *, transaction: Optional[Transaction] = None) -> None:
        df.write.format("delta").mode("append").save(ref.path)

    def append_or_create(self, df: DataFrame, ref: TableRef, *, transaction: Optional[Transaction] = None) -> None:
        writer = df.write.format("delta").mode("append").option("path", ref.path)
        if ref.name is None:
            writer.save()
        else:
            writer.saveAsTable(ref.name)

    def merge(self, spark: SparkSession, ref: TableRef, source: DataFrame, keys: Sequence[str], *,
              update: bool) -> MergeCounts:
        from delta.tables import DeltaTable

        target = DeltaTable.forPath(spark, ref.path)
        builder = target.alias("t").merge(source.alias("s"), merge_condition(keys))
        if update:
            values = [c for c in source.columns if c not in keys]
            assignments: dict[str, Union[str, Column]] = {c: F.col(f"s.{c}") for c in values}
            builder = builder.whenMatchedUpdate(condition=changed_condition(values), set=assignments)
            # Explicit values: insertAll would ask the source for the generated partition column.
            builder = builder.whenNotMatchedInsert(values={c: F.col(f"s.{c}") for c in source.columns})
        else:
            builder = builder.whenNotMatchedInsertAll()
        metrics = execute_merge(target, builder)
        if metrics is None:  # Delta 3.x with concurrent MERGEs: the counts are unknown, the write is done
            return None
        return int(metrics["num_inserted_rows"]), int(metrics["num_updated_rows"])

    def is_conflict(self, exc: BaseException) -> bool:
        return is_conflict(exc)

    def latest_version(self, spark: SparkSession, ref: TableRef) -> int:
        return latest_version(spark, ref.path)

    def resolve_version(self, spark: SparkSession, ref: TableRef, *, version: Optional[int] = None,
                        as_of: Optional[datetime] = None) -> int:
        from delta.tables import DeltaTable

        if version is not None and as_of is not None:
            raise InvalidArgumentError("Pass either version or as_of, not both.")
        path = ref.path
        if as_of is None:
            latest = latest_version(spark, path)
            if version is None:
                return latest
            if version < 0 or version > latest:
                raise TimeTravelError(f"Delta table {path} has versions 0 to {latest}; version {version} does "
                                      "not exist.")
            return version
        history = DeltaTable.forPath(spark, path).history()
        return version_at(history, as_of, time_column="timestamp", version_column="version",
                          table=f"Delta table {path}", noun="version", first="commit")

    def read(self, spark: SparkSession, ref: TableRef, version: Optional[int] = None) -> DataFrame:
        reader = spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.load(ref.path)

    def log_version(self, spark: SparkSession, ref: TableRef) -> int:
        return latest_version(spark, ref.path)

    def read_log(self, spark: SparkSession, ref: TableRef, log_version: int) -> DataFrame:
        return self.read(spark, ref, log_version)

    def drop(self, spark: SparkSession, ref: TableRef) -> bool:
        if ref.name is not None:
            from featurespark.offline.tables import drop_table  # tables imports this module

            drop_table(spark, ref.name)
        return HadoopFiles(spark).delete(ref.path)


def version_at(history: DataFrame, as_of: datetime, *, time_column: str, version_column: str, table: str,
               noun: str, first: str) -> int:
    """The version of the last commit at or before ``as_of`` (naive: UTC) in a table's history.

    Raises
    ------
    TimeTravelError
        If ``as_of`` is before the first commit, naming ``table`` and its first commit time.
    """
    instant = as_of if as_of.tzinfo else as_of.replace(tzinfo=timezone.utc)
    last = F.max(F.struct(F.col(time_column), F.col(version_column)))
    row = history.where(F.col(time_column) <= F.lit(instant)).agg(last.alias("last")).first()
    if row is None or row["last"] is None:
        earliest = history.agg(F.min(time_column)).first()[0]  # type: ignore[index]
        raise TimeTravelError(
            f"{table} has no {noun} at or before {instant.isoformat()}; its first {first} is at {earliest}."
        )
    return int(row["last"][version_column])


def table_format(name: OfflineFormat) -> TableFormat:
    """The implementation of table format ``name`` (``"delta"`` or ``"iceberg"``).

    Examples
    --------
    >>> table_format("iceberg").name
    'iceberg'
    >>> table_format("hudi")
    Traceback (most recent call last):
    ...
    featurespark.errors.InvalidArgumentError: offline format must be one of 'delta', 'iceberg'; got 'hudi'.
    """
    check_option(name, OfflineFormat, "offline format")
    if name == "iceberg":
        from featurespark.offline.iceberg import IcebergFormat

        return IcebergFormat()
    return DeltaFormat()
