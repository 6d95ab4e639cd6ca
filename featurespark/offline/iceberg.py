"""Managed tables and the registry as Apache Iceberg tables (``offline_store.format: iceberg``).

Tables are addressed by catalog name (``<catalog>.<database>.<table>``) in the Spark catalog
``offline_store.iceberg_catalog``, which :func:`featurespark.session.configure_spark` sets up as a Hadoop
catalog or a Glue catalog whose warehouse is ``offline_store.root`` (see :func:`iceberg_catalog_conf`). Managed tables are
partitioned by ``days(<event timestamp>)``; a version is a snapshot id; upserts are ``MERGE INTO``, with
Iceberg's optimistic concurrency: a commit that lost a race raises ``CommitFailedException`` (or a
``ValidationException`` naming conflicting files), which :meth:`IcebergFormat.is_conflict` recognises and
the caller retries with its :class:`~featurespark.retry.RetryPolicy`.

Spark 3.5 has no DataFrame ``mergeInto`` (Spark 4 does), so the merge is the one SQL statement of this
module, built by :func:`merge_statement` from validated, quoted identifiers over a temporary view.
"""
from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import datetime
from typing import Any, Mapping, Optional, Sequence

from pyspark.sql import DataFrame, DataFrameWriterV2, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from featurespark._files import HadoopFiles
from featurespark._paths import join_path
from featurespark.errors import InvalidArgumentError, RegistryError, SourceSchemaError, TimeTravelError
from featurespark.offline.glue_pointer import glue_log_version, log_version_of
from featurespark.offline.layout import TableRef, iceberg_metadata_file
from featurespark.offline.table_format import (
    MergeCounts,
    TableFormat,
    Transaction,
    changed_condition,
    merge_condition,
    version_at,
)
from featurespark.options import IcebergCatalogType, OfflineFormat, check_option

logger = logging.getLogger(__name__)

__all__ = [
    "GLUE_CATALOG_CLASS", "ICEBERG_CATALOG_CLASS", "IcebergFormat", "S3_FILE_IO_CLASS", "TXN_APP_ID_PROPERTY",
    "TXN_VERSION_PROPERTY", "ensure_namespace", "iceberg_catalog_conf", "merge_statement", "quote_name", "register_statement",
    "with_columns_of",
]

ICEBERG_CATALOG_CLASS = "org.apache.iceberg.spark.SparkCatalog"
GLUE_CATALOG_CLASS = "org.apache.iceberg.aws.glue.GlueCatalog"
S3_FILE_IO_CLASS = "org.apache.iceberg.aws.s3.S3FileIO"
_PART = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Exceptions of a commit that lost a race with another writer. A ValidationException is also raised for
# requests that can never succeed, so only the conflict messages of MERGE / overwrite validation count.
_COMMIT_FAILED = "CommitFailedException"
_VALIDATION = "ValidationException"
_CONFLICT_WORDS = ("conflicting", "concurrent", "missing required files to delete", "found new delete")
#: Snapshot-summary keys of an idempotent append (``snapshot-property.<key>`` write options): the writer's
#: application id and the version (micro-batch id) it wrote, as Delta's ``txnAppId`` / ``txnVersion``.
TXN_APP_ID_PROPERTY = "featurespark.txn-app-id"
TXN_VERSION_PROPERTY = "featurespark.txn-version"


def iceberg_catalog_conf(catalog: str, warehouse: str, catalog_type: IcebergCatalogType = "hadoop",
                         options: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """Spark settings of the Iceberg catalog ``catalog`` whose warehouse is ``warehouse`` (the offline root).

    ``catalog_type`` ``"hadoop"``: a Hadoop catalog (tables and commits in files under the warehouse).
    ``"glue"``: the AWS Glue Data Catalog through Iceberg's ``GlueCatalog`` and ``S3FileIO``, as the Amazon EMR
    and Iceberg AWS documentation configure it (``catalog-impl``, ``warehouse``, ``io-impl``).
    ``options`` are further catalog properties (``offline_store.iceberg_catalog_options``), such as the
    ``glue.endpoint``, ``s3.endpoint``, ``s3.path-style-access`` and ``client.region`` of Iceberg's AWS clients;
    they cannot replace the settings above.

    Catalogs are looked up by name when first used, so these settings also work on a running session
    (``spark.conf.set``) as long as no catalog of that name was used before. The catalog does not cache
    tables: feature tables are written by other sessions (a streaming query's, another job's), whose commits a
    cached table would hide from this session's reads until the cache expired.

    Examples
    --------
    >>> iceberg_catalog_conf("featurespark", "s3a://bucket/offline")["spark.sql.catalog.featurespark.warehouse"]
    's3a://bucket/offline'
    >>> sorted(iceberg_catalog_conf("fs", "s3://bucket/offline", "glue").items())  # doctest: +NORMALIZE_WHITESPACE
    [('spark.sql.catalog.fs', 'org.apache.iceberg.spark.SparkCatalog'),
     ('spark.sql.catalog.fs.cache-enabled', 'false'),
     ('spark.sql.catalog.fs.catalog-impl', 'org.apache.iceberg.aws.glue.GlueCatalog'),
     ('spark.sql.catalog.fs.io-impl', 'org.apache.iceberg.aws.s3.S3FileIO'),
     ('spark.sql.catalog.fs.warehouse', 's3://bucket/offline')]
    >>> iceberg_catalog_conf("fs", "s3://b/o", "glue", {"glue.endpoint": "http://127.0.0.1:5000"}
    ...                      )["spark.sql.catalog.fs.glue.endpoint"]
    'http://127.0.0.1:5000'
    """
    check_option(catalog_type, IcebergCatalogType, "offline_store.iceberg_catalog_type")
    prefix = f"spark.sql.catalog.{catalog}"
    conf = {f"{prefix}.{key}": value for key, value in (options or {}).items()}
    conf.update({prefix: ICEBERG_CATALOG_CLASS, f"{prefix}.warehouse": warehouse, f"{prefix}.cache-enabled": "false"})
    if catalog_type == "glue":
        conf.update({f"{prefix}.catalog-impl": GLUE_CATALOG_CLASS, f"{prefix}.io-impl": S3_FILE_IO_CLASS})
    else:
        conf[f"{prefix}.type"] = "hadoop"
    return conf


def quote_name(name: str) -> str:
    """``catalog.namespace.table`` with every part checked and backticked, for the SQL Spark has no API for.

    Examples
    --------
    >>> quote_name("featurespark.db.stats")
    '`featurespark`.`db`.`stats`'
    >>> quote_name("x.`y")
    Traceback (most recent call last):
    ...
    featurespark.errors.SourceSchemaError: 'x.`y' is not a catalog.namespace.table name of letters, digits and '_'.
    """
    parts = name.split(".")
    if len(parts) < 2 or not all(_PART.match(p) for p in parts):
        raise SourceSchemaError(f"{name!r} is not a catalog.namespace.table name of letters, digits and '_'.")
    return ".".join(f"`{p}`" for p in parts)


def merge_statement(target: str, source_view: str, keys: Sequence[str], columns: Sequence[str],
                    updated: Sequence[str] = ()) -> str:
    """The ``MERGE INTO`` of an upsert or an insert-if-absent, for Iceberg tables.

    Source rows whose ``keys`` are not in ``target`` are inserted (``columns``, all of the table's); matched rows
    get the source's values of the ``updated`` columns when one of them differs (none: insert-if-absent).

    Examples
    --------
    >>> print(merge_statement("c.db.t", "src", ["k"], ["k", "v", "w"], ["v"]))
    MERGE INTO `c`.`db`.`t` t USING `src` s ON t.`k` = s.`k`
    WHEN MATCHED AND NOT (t.`v` <=> s.`v`) THEN UPDATE SET t.`v` = s.`v`
    WHEN NOT MATCHED THEN INSERT (`k`, `v`, `w`) VALUES (s.`k`, s.`v`, s.`w`)
    """
    for c in [source_view, *columns]:
        if not _PART.match(c):
            raise SourceSchemaError(f"Column or view name {c!r} cannot be used in a MERGE (letters, digits, '_').")
    values = [c for c in updated if c not in keys]
    on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
    lines = [f"MERGE INTO {quote_name(target)} t USING `{source_view}` s ON {on}"]
    if values:
        differs = " OR ".join(f"NOT (t.`{c}` <=> s.`{c}`)" for c in values)
        sets = ", ".join(f"t.`{c}` = s.`{c}`" for c in values)
        lines.append(f"WHEN MATCHED AND {differs} THEN UPDATE SET {sets}")
    lines.append(f"WHEN NOT MATCHED THEN INSERT ({', '.join(f'`{c}`' for c in columns)}) "
                 f"VALUES ({', '.join(f's.`{c}`' for c in columns)})")
    return "\n".join(lines)


def register_statement(table: str, metadata_file: str) -> str:
    """The ``CALL <catalog>.system.register_table`` that registers the Iceberg table whose current metadata file is
    ``metadata_file`` as ``table`` (``catalog.namespace.table``) in that catalog.

    Examples
    --------
    >>> print(register_statement("fs.db._registry", "s3://b/o/db/_registry/metadata/v3.metadata.json"))
    CALL `fs`.system.register_table(table => 'db._registry', metadata_file => 's3://b/o/db/_registry/metadata/v3.metadata.json')
    >>> register_statement("fs.db._registry", "s3://b/it's/v1.metadata.json")
    Traceback (most recent call last):
    ...
    featurespark.errors.InvalidArgumentError: Cannot register metadata file "s3://b/it's/v1.metadata.json": a location with a quote or a backslash is refused.
    """
    quote_name(table)
    if "'" in metadata_file or "\\" in metadata_file:
        raise InvalidArgumentError(f"Cannot register metadata file {metadata_file!r}: a location with a quote or a "
                                   "backslash is refused.")
    catalog, _, identifier = table.partition(".")
    # An Iceberg procedure has no DataFrame API: the catalog is a checked, quoted identifier, the arguments are
    # string literals of checked parts and of a location without quotes.
    return (f"CALL `{catalog}`.system.register_table(table => '{identifier}', "
            f"metadata_file => '{metadata_file}')")


def ensure_namespace(spark: SparkSession, table: str) -> None:
    """Create the namespace (the Glue database) of ``table`` (``catalog.namespace.table``) unless it exists.

    A Glue catalog needs it before a table is created or registered in it; a Hadoop catalog needs none (its
    namespaces are folders). Its tables are created at their own paths, so the database gets no location.
    """
    namespace = quote_name(table).rsplit(".", 1)[0]  # `catalog`.`namespace`, every part checked and quoted
    # No DataFrame API creates a namespace.
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {namespace}")


def _days(column: str) -> Any:
    try:  # Spark >= 4.0; the top-level function is deprecated there
        from pyspark.sql.functions.partitioning import days
    except ImportError:  # Spark 3.5
        days = F.days
    return days(column)


def _name(ref: TableRef) -> str:
    if ref.name is None:
        raise InvalidArgumentError(f"The Iceberg table at {ref.path} needs a catalog name (catalog.namespace.table).")
    quote_name(ref.name)
    return ref.name


def _at_location(writer: DataFrameWriterV2, ref: TableRef) -> DataFrameWriterV2:
    """The table created at ``ref.path`` when the catalog would place it elsewhere (Glue); a Hadoop catalog
    places every table at its own path and refuses another."""
    return writer.tableProperty("location", ref.path) if ref.create_at_path else writer


def _java_causes(exc: BaseException) -> list[tuple[str, str]]:
    """(simple class name, message) of the JVM exception behind ``exc`` and its causes."""
    found: list[tuple[str, str]] = []
    java_exc = getattr(exc, "java_exception", None) or getattr(exc, "_origin", None)
    try:
        while java_exc is not None and len(found) < 10:
            found.append((str(java_exc.getClass().getSimpleName()), str(java_exc.getMessage())))
            java_exc = java_exc.getCause()
    except Exception:  # noqa: BLE001 - a dead JVM gateway: nothing more to learn
        pass
    return found


class IcebergFormat(TableFormat):
    """Iceberg tables in a Spark catalog (a Hadoop catalog under the offline root)."""

    name: OfflineFormat = "iceberg"
    title = "Iceberg"

    def exists(self, spark: SparkSession, ref: TableRef) -> bool:
        return bool(spark.catalog.tableExists(_name(ref)))

    def create(self, spark: SparkSession, ref: TableRef, schema: T.StructType, *, day_of: Optional[str]) -> bool:
        name = _name(ref)
        if self.exists(spark, ref):
            return False
        if ref.create_at_path:  # a Glue catalog: the registry may be the first table of its database
            ensure_namespace(spark, name)
        writer = _at_location(spark.createDataFrame([], schema).writeTo(name).using("iceberg"), ref)
        if day_of is not None:
            writer = writer.partitionedBy(_days(day_of))
        try:
            writer.create()
        except Exception as exc:  # noqa: BLE001 - another writer created it first: that table is used
            if not self.exists(spark, ref):
                raise
            logger.info("Iceberg table %s was created concurrently (%s)", name, type(exc).__name__)
            return False
        return True

    def schema(self, spark: SparkSession, ref: TableRef) -> T.StructType:
        return spark.table(_name(ref)).schema

    def add_columns(self, spark: SparkSession, ref: TableRef, schema: T.StructType,
                    fields: Sequence[T.StructField]) -> None:
        for f in fields:
            if not _PART.match(f.name):
                raise SourceSchemaError(f"Column name {f.name!r} cannot be added to {ref.name} (letters, digits, '_').")
        columns = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in fields)
        # No DataFrame API adds a column to an Iceberg table; names are checked above, types are Spark's own.
        spark.sql(f"ALTER TABLE {quote_name(_name(ref))} ADD COLUMNS ({columns})")

    def append(self, df: DataFrame, ref: TableRef, *, transaction: Optional[Transaction] = None) -> None:
        if transaction is not None and self.recorded(df.sparkSession, ref, transaction):
            return
        # Columns of the table the rows lack (features a view no longer declares) are written null.
        rows = with_columns_of(df, self.schema(df.sparkSession, ref))
        rows.writeTo(_name(ref)).options(**_transaction_options(transaction)).append()

    def append_or_create(self, df: DataFrame, ref: TableRef, *, transaction: Optional[Transaction] = None) -> None:
        name = _name(ref)
        options = _transaction_options(transaction)
        if not self.exists(spark=df.sparkSession, ref=ref):
            try:
                _at_location(df.writeTo(name).using("iceberg"), ref).options(**options).create()
                return
            except Exception:  # noqa: BLE001 - created concurrently: append below
                if not self.exists(df.sparkSession, ref):
                    raise
        if transaction is not None and self.recorded(df.sparkSession, ref, transaction):
            return
        df.writeTo(name).options(**options).append()

    def recorded(self, spark: SparkSession, ref: TableRef, transaction: Transaction) -> bool:
        """Whether a snapshot of the table recorded ``transaction.version`` or a later one for its app id.

        Examples
        --------
        >>> from featurespark.offline.layout import TableRef
        >>> for key, value in iceberg_catalog_conf("doc_txn", str(tmp_path)).items():
        ...     spark.conf.set(key, value)
        >>> fmt, ref = IcebergFormat(), TableRef(str(tmp_path / "db" / "q"), "doc_txn.db.q")
        >>> for attempt in range(2):  # the same batch written twice, as a replay after a crash would
        ...     fmt.append_or_create(spark.range(3), ref, transaction=Transaction("query-1", 7))
        >>> spark.table("doc_txn.db.q").count(), fmt.recorded(spark, ref, Transaction("query-1", 8))
        (3, False)
        """
        summary = self._snapshots(spark, _name(ref)).select("summary")
        latest = (summary.where(F.col("summary")[TXN_APP_ID_PROPERTY] == F.lit(transaction.app_id))
                  .agg(F.max(F.col("summary")[TXN_VERSION_PROPERTY].cast("long"))).first())  # one row
        done = latest is not None and latest[0] is not None and int(latest[0]) >= transaction.version
        if done:
            logger.info("Iceberg table %s already holds version %d of %s (a replayed batch): nothing appended",
                        ref.name, transaction.version, transaction.app_id)
        return done

    def merge(self, spark: SparkSession, ref: TableRef, source: DataFrame, keys: Sequence[str], *,
              update: bool) -> MergeCounts:
        name = _name(ref)
        before = self.latest_version(spark, ref)
        # Iceberg's MERGE reports no row counts: count them against the snapshot the MERGE is expected to
        # replace, and keep them only when the MERGE's commit directly follows that snapshot.
        counts = self._merge_counts(spark, ref, source, keys, before, update=update)
        view = f"_featurespark_merge_{uuid.uuid4().hex}"
        # Inserted rows need every column of the table (those the batch lacks are null); updates set only
        # the batch's own columns, as Delta's MERGE does.
        aligned = with_columns_of(source, self.schema(spark, ref))
        aligned.createOrReplaceTempView(view)
        try:
            spark.sql(merge_statement(name, view, keys, aligned.columns, source.columns if update else ()))
        finally:
            spark.catalog.dropTempView(view)
        after = self.latest_version(spark, ref)
        if after == before:
            return counts if counts == (0, 0) else None
        parent = (self._snapshots(spark, name).where(F.col("snapshot_id") == after).select("parent_id").first())
        return counts if parent is not None and parent[0] == before else None

    def _merge_counts(self, spark: SparkSession, ref: TableRef, source: DataFrame, keys: Sequence[str],
                      snapshot: int, *, update: bool) -> tuple[int, int]:
        values = [c for c in source.columns if c not in keys]
        target = self.read(spark, ref, snapshot).select(*keys, *values, F.lit(True).alias("_matched"))
        joined = source.alias("s").join(target.alias("t"), merge_condition(keys), "left")
        changed = changed_condition(values) if update else F.lit(False)
        row = joined.agg(
            F.count(F.when(F.col("t._matched").isNull(), 1)).alias("inserted"),
            F.count(F.when(F.col("t._matched") & changed, 1)).alias("updated"),
        ).first()  # one row of two counts
        return (int(row["inserted"]), int(row["updated"])) if row is not None else (0, 0)

    def is_conflict(self, exc: BaseException) -> bool:
        causes = _java_causes(exc) or [(type(exc).__name__, str(exc))]
        for cls, message in causes:
            if cls == _COMMIT_FAILED:
                return True
            if cls == _VALIDATION and any(w in message.lower() for w in _CONFLICT_WORDS):
                return True
        # pyspark 4 turns some JVM errors into Python exceptions whose text carries the Java class
        text = str(exc)
        return f"org.apache.iceberg.exceptions.{_COMMIT_FAILED}" in text

    @staticmethod
    def _snapshots(spark: SparkSession, name: str) -> DataFrame:
        return spark.read.format("iceberg").load(f"{name}.snapshots")

    def latest_version(self, spark: SparkSession, ref: TableRef) -> int:
        name = _name(ref)
        try:
            row = (spark.read.format("iceberg").load(f"{name}.refs").where(F.col("name") == "main")
                   .select("snapshot_id").first())
        except Exception as exc:  # noqa: BLE001 - AnalysisException: no such table
            raise TimeTravelError(f"There is no Iceberg table {name} ({type(exc).__name__}).") from exc
        if row is None:
            raise TimeTravelError(f"Iceberg table {name} has no snapshot yet.")
        return int(row[0])

    def resolve_version(self, spark: SparkSession, ref: TableRef, *, version: Optional[int] = None,
                        as_of: Optional[datetime] = None) -> int:
        if version is not None and as_of is not None:
            raise InvalidArgumentError("Pass either version or as_of, not both.")
        name = _name(ref)
        if as_of is None:
            if version is None:
                return self.latest_version(spark, ref)
            if self._snapshots(spark, name).where(F.col("snapshot_id") == version).first() is None:
                raise TimeTravelError(
                    f"Iceberg table {name} has no snapshot {version} (expired by expire_snapshots, or of another "
                    "table). Read without a version, or keep snapshots longer (history.expire.max-snapshot-age-ms)."
                )
            return int(version)
        # The snapshot that was current at as_of: the newest ancestor of the current one made current by then.
        history = spark.read.format("iceberg").load(f"{name}.history").where(F.col("is_current_ancestor"))
        return version_at(history, as_of, time_column="made_current_at", version_column="snapshot_id",
                          table=f"Iceberg table {name}", noun="snapshot", first="snapshot")

    def read(self, spark: SparkSession, ref: TableRef, version: Optional[int] = None) -> DataFrame:
        """The table, at snapshot ``version`` when given, with the table's current columns.

        A snapshot read has the columns of the snapshot's schema, and adding a column (``apply`` of a view
        with a new feature) makes a new schema but no snapshot: the latest snapshot would lack the column.
        Columns added after the snapshot read null for its rows, as Iceberg reads them in the current
        schema, so they are added as typed nulls (featurespark never drops or renames columns).
        """
        name = _name(ref)
        if version is None:
            return spark.read.format("iceberg").load(name)
        df = spark.read.format("iceberg").option("snapshot-id", str(version)).load(name)
        return with_columns_of(df, self.schema(spark, ref))

    def log_version(self, spark: SparkSession, ref: TableRef) -> int:
        """The number of the table's current metadata file: from Glue's ``metadata_location`` when ``ref.glue`` is
        set (one ``glue:GetTable``, see :mod:`featurespark.offline.glue_pointer`), else from a Hadoop catalog's
        ``metadata/v<n + 1>.metadata.json`` files."""
        if ref.glue is not None:
            number = glue_log_version(ref.glue)
            if number is None:
                raise TimeTravelError(f"There is no {ref.glue.describe()}.")
            return number
        files = HadoopFiles(spark)
        hint = files.read_text(join_path(ref.path, "metadata", "version-hint.text"))
        number = int(hint.strip()) if hint and hint.strip().isdigit() else 1
        if not files.exists(iceberg_metadata_file(ref.path, number)):
            raise TimeTravelError(f"{ref.path} holds no Iceberg table of a Hadoop catalog (no "
                                  f"{iceberg_metadata_file(ref.path, number)}).")
        while files.exists(iceberg_metadata_file(ref.path, number + 1)):  # the hint may lag behind the last commit
            number += 1
        return number - 1

    def read_log(self, spark: SparkSession, ref: TableRef, log_version: int) -> DataFrame:
        """The table as its metadata file number ``log_version`` left it: the ``current-snapshot-id`` of that file
        (``v<log_version + 1>.metadata.json`` of a Hadoop catalog; with ``ref.glue``, the file of that number in
        the table's metadata log, see :meth:`_glue_metadata_file`)."""
        location = (iceberg_metadata_file(ref.path, log_version + 1) if ref.glue is None
                    else self._glue_metadata_file(spark, ref, log_version))
        text = HadoopFiles(spark).read_text(location)
        if text is None:
            raise TimeTravelError(f"Iceberg table {ref.name} has no metadata file {location} (log version "
                                  f"{log_version}).")
        snapshot = json.loads(text).get("current-snapshot-id")
        return self.read(spark, ref, None if snapshot in (None, -1) else int(snapshot))

    def _glue_metadata_file(self, spark: SparkSession, ref: TableRef, log_version: int) -> str:
        """The metadata file of number ``log_version`` (:func:`log_version_of`) among those the table's metadata
        log lists (the ``file`` column of ``metadata_log_entries``: the current file and the previous ones that
        ``write.metadata.previous-versions-max`` keeps, 100 by default).

        The log, not a listing of the folder: a writer that lost a race in Glue may have left a file of the same
        number behind. Files of a table registered from a Hadoop catalog are all ``-1``: the newest of them
        (the highest ``v<k>``) is the one Glue pointed at. The file's own ``current-snapshot-id`` is read, as for
        a Hadoop catalog, rather than the ``latest_snapshot_id`` column, which Iceberg derives from timestamps.
        """
        name = _name(ref)
        # A metadata table of at most ~100 rows of file names: registry metadata, collected on purpose.
        logged = [str(r[0]) for r in spark.read.format("iceberg").load(f"{name}.metadata_log_entries")
                  .select("file").collect()]
        matching = [f for f in logged if _metadata_number(f) == log_version]
        if not matching:
            raise TimeTravelError(
                f"Iceberg table {name} has no metadata file of log version {log_version} in its metadata log "
                f"({len(logged)} files; older ones drop out after write.metadata.previous-versions-max commits)."
            )
        chosen = max(matching, key=_hadoop_number)
        # Metadata files live in the table's folder (featurespark sets no write.metadata.path): read them through
        # the offline root's file system, as the snapshot file is.
        return join_path(ref.path, "metadata", chosen.rstrip("/").rsplit("/", 1)[-1])

    def drop(self, spark: SparkSession, ref: TableRef) -> bool:
        existed = self.exists(spark, ref)
        # No DataFrame API drops a table; the name is checked and quoted. A Hadoop catalog deletes the folder.
        spark.sql(f"DROP TABLE IF EXISTS {quote_name(_name(ref))} PURGE")
        return existed


def _metadata_number(location: str) -> Optional[int]:
    try:
        return log_version_of(location)
    except RegistryError:
        return None


def _hadoop_number(location: str) -> int:
    """k of ``v<k>.metadata.json`` (0 for other names), to pick the newest of a Hadoop catalog's files."""
    found = re.search(r"/v(\d+)\.metadata\.json(\.gz)?$", location)
    return int(found.group(1)) if found else 0


def _transaction_options(transaction: Optional[Transaction]) -> dict[str, str]:
    """Write options that record ``transaction`` in the summary of the snapshot the write commits."""
    if transaction is None:
        return {}
    return {f"snapshot-property.{TXN_APP_ID_PROPERTY}": transaction.app_id,
            f"snapshot-property.{TXN_VERSION_PROPERTY}": str(transaction.version)}


def with_columns_of(df: DataFrame, schema: T.StructType) -> DataFrame:
    """``df`` with the columns of ``schema`` in its order, those ``df`` lacks as typed nulls, then ``df``'s
    other columns; ``df`` itself when it has them all.

    Examples
    --------
    >>> from pyspark.sql import types as T
    >>> wanted = T.StructType([T.StructField("id", T.LongType()), T.StructField("x", T.DoubleType())])
    >>> with_columns_of(spark.range(1), wanted).dtypes
    [('id', 'bigint'), ('x', 'double')]
    """
    present, names = set(df.columns), set(schema.names)
    if names <= present:
        return df
    return df.select(
        *[F.col(f.name) if f.name in present else F.lit(None).cast(f.dataType).alias(f.name) for f in schema.fields],
        *[c for c in df.columns if c not in names],
    )
