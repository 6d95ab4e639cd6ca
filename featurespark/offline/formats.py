"""Apache Iceberg and Apache Hudi tables as feature sources: session settings, reads, versions.

Each table format has one notion of "the version read", recorded in training-set manifests and read
again by ``--pin-versions``:

- Iceberg: the snapshot id of the table's ``main`` branch (``refs`` metadata table); time travel with
  the ``snapshot-id`` read option.
- Hudi: the instant (the time the commit was requested, as in ``_hoodie_commit_time``) of the latest
  completed commit on the table's timeline; time travel with ``as.of.instant``.

Tables are read by catalog name or by path. A Hudi table given by name is read by its base path
(looked up in the metastore), because Spark does not hand read options to a Hudi table read by name.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Iterable, Optional, Union

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from featurespark._files import hadoop_path
from featurespark.definitions import HudiSource, IcebergSource
from featurespark.errors import SourceNotFoundError, TimeTravelError
from featurespark.offline._java_errors import error_summary

logger = logging.getLogger(__name__)

__all__ = [
    "DELTA_EXTENSIONS", "HUDI_JAR_PREFIX", "ICEBERG_CATALOG", "ICEBERG_EXTENSIONS", "ICEBERG_JAR_PREFIX",
    "current_version", "hudi_base_path", "hudi_instants", "iceberg_snapshot", "read_hudi", "read_iceberg", "table_format_conf",
]

#: Name of the Iceberg catalog ``configure_spark`` sets up: a Hadoop catalog locally, Glue on EMR
#: (``bootstrap/emr-configurations.json``), so ``IcebergSource(table="iceberg.db.t")`` works in both.
ICEBERG_CATALOG = "iceberg"
ICEBERG_EXTENSIONS = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"
ICEBERG_JAR_PREFIX = "iceberg-spark-runtime-"
HUDI_JAR_PREFIX = "hudi-spark"
DELTA_EXTENSIONS = "io.delta.sql.DeltaSparkSessionExtension"
# Completed actions that change a Hudi table's data (v1 timeline: <instant>.commit; v2, Hudi 1.x:
# timeline/<requested>_<completed>.commit).
_HUDI_COMPLETED = re.compile(r"^(\d{14,17})(?:_\d{14,17})?\.(commit|deltacommit|replacecommit)$")


def table_format_conf(jar_files: Iterable[str], metastore: Optional[str]) -> dict[str, str]:
    """Spark settings for the Iceberg and Hudi jars found in a local jars folder.

    Iceberg: its SQL extensions next to Delta's and a Hadoop catalog named :data:`ICEBERG_CATALOG`
    with its warehouse in ``<metastore>/iceberg-warehouse``. Hudi: the Kryo serializer and Hudi's Kryo
    registrator, which Hudi requires for writes. Nothing when the jars are absent.

    Examples
    --------
    >>> conf = table_format_conf(["/j/iceberg-spark-runtime-4.0_2.13-1.10.0.jar"], "/tmp/ms")
    >>> conf["spark.sql.extensions"].split(",")[1], conf["spark.sql.catalog.iceberg.type"]
    ('org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions', 'hadoop')
    >>> table_format_conf(["/j/delta-spark_2.13-4.0.1.jar"], None)
    {}
    """
    names = [Path(j).name for j in jar_files]
    conf: dict[str, str] = {}
    if any(n.startswith(ICEBERG_JAR_PREFIX) for n in names):
        conf["spark.sql.extensions"] = f"{DELTA_EXTENSIONS},{ICEBERG_EXTENSIONS}"
        conf[f"spark.sql.catalog.{ICEBERG_CATALOG}"] = "org.apache.iceberg.spark.SparkCatalog"
        conf[f"spark.sql.catalog.{ICEBERG_CATALOG}.type"] = "hadoop"
        if metastore:
            conf[f"spark.sql.catalog.{ICEBERG_CATALOG}.warehouse"] = str(Path(metastore).resolve() / "iceberg-warehouse")
    if any(n.startswith(HUDI_JAR_PREFIX) for n in names):
        conf["spark.serializer"] = "org.apache.spark.serializer.KryoSerializer"
        conf["spark.kryo.registrator"] = "org.apache.spark.HoodieSparkKryoRegistrar"
    return conf


def _not_found(what: str, fix: str, exc: BaseException) -> SourceNotFoundError:
    return SourceNotFoundError(f"{what} cannot be read: {error_summary(exc)}. {fix}")


# --- Iceberg ------------------------------------------------------------------------------------

def _iceberg_target(source: IcebergSource) -> str:
    return source.table or source.path or ""


def _iceberg_fix(source: IcebergSource) -> str:
    if source.table:
        return (f"Check the name (catalog.database.table; the local catalog is '{ICEBERG_CATALOG}', on EMR the "
                "Glue catalog) and that the Iceberg runtime jar is on the session (bash bootstrap/setup-local.sh).")
    return "Check the path: it must be the folder holding the table's metadata/ folder."


def iceberg_snapshot(spark: SparkSession, source: IcebergSource) -> int:
    """The current snapshot id of an Iceberg table (its ``main`` branch).

    Raises
    ------
    SourceNotFoundError
        If the table does not exist or has no snapshot yet.
    """
    target = _iceberg_target(source)
    refs = f"{target}#refs" if source.path else f"{target}.refs"
    try:
        row = spark.read.format("iceberg").load(refs).where(F.col("name") == "main").select("snapshot_id").first()
    except Exception as exc:  # noqa: BLE001 - AnalysisException, or Py4JJavaError for a bad path
        raise _not_found(f"Iceberg table {target}", _iceberg_fix(source), exc) from exc
    if row is None:
        raise SourceNotFoundError(f"Iceberg table {target} has no snapshot yet: write to it before reading it.")
    return int(row[0])


def read_iceberg(spark: SparkSession, source: IcebergSource, *, snapshot_id: Optional[int] = None) -> DataFrame:
    """Read an Iceberg table, at ``snapshot_id`` when given (time travel).

    Filters on the result are pushed into Iceberg's scan, which prunes partitions and data files by
    their column statistics.

    Raises
    ------
    SourceNotFoundError
        If the table does not exist.
    TimeTravelError
        If the snapshot does not exist (expired by ``expire_snapshots``, or of another table).
    """
    reader = spark.read.format("iceberg").options(**(source.options or {}))
    target = _iceberg_target(source)
    if snapshot_id is None:
        try:
            return reader.load(target)
        except Exception as exc:  # noqa: BLE001
            raise _not_found(f"Iceberg table {target}", _iceberg_fix(source), exc) from exc
    try:
        df = reader.option("snapshot-id", str(snapshot_id)).load(target)
        df.schema  # noqa: B018 - resolves the snapshot now, so a missing one fails here
    except Exception as exc:  # noqa: BLE001
        if "snapshot" in str(exc).lower():
            raise TimeTravelError(
                f"Iceberg table {target} has no snapshot {snapshot_id} (expired, or the manifest is of another "
                "table). Rebuild without --pin-versions, or keep snapshots longer (history.expire.max-snapshot-age-ms)."
            ) from exc
        raise _not_found(f"Iceberg table {target}", _iceberg_fix(source), exc) from exc
    logger.info("Reading Iceberg table %s at snapshot %d", target, snapshot_id)
    return df


# --- Hudi ---------------------------------------------------------------------------------------

def hudi_base_path(spark: SparkSession, source: HudiSource) -> str:
    """The base path of a Hudi table: its ``path``, or the location the metastore holds for its ``table``.

    Raises
    ------
    SourceNotFoundError
        If the table is not in the metastore.
    """
    if source.path:
        return source.path
    # PySpark's Catalog API does not expose a table's location; the session catalog (JVM) does.
    state: Any = spark._jsparkSession.sessionState()
    try:
        ident = state.sqlParser().parseTableIdentifier(source.table)
        return str(state.catalog().getTableMetadata(ident).location().toString())
    except Exception as exc:  # noqa: BLE001 - NoSuchTableException through Py4J
        raise _not_found(f"Hudi table {source.table}", "Check the name (database.table) in the metastore, or "
                         "give the table's base path (HudiSource(path=...)).", exc) from exc


def hudi_instants(spark: SparkSession, base_path: str) -> list[str]:
    """Instants of the completed commits of a Hudi table, oldest first, from its timeline's file names.

    Raises
    ------
    SourceNotFoundError
        If ``base_path`` holds no Hudi table.
    """
    conf: Any = spark.sparkContext._jsc.hadoopConfiguration()
    meta = f"{base_path.rstrip('/')}/.hoodie"
    names: list[str] = []
    for i, folder in enumerate((meta, f"{meta}/timeline")):
        hpath = hadoop_path(spark, folder)
        fs = hpath.getFileSystem(conf)
        if not fs.exists(hpath):
            if i == 0:
                raise SourceNotFoundError(f"{base_path} holds no Hudi table (no .hoodie folder). Check the path: "
                                          "it must be the table's base path.")
            continue
        names += [str(status.getPath().getName()) for status in fs.listStatus(hpath)]
    return sorted({m.group(1) for m in map(_HUDI_COMPLETED.match, names) if m})


def read_hudi(spark: SparkSession, source: HudiSource, *, instant: Optional[str] = None) -> DataFrame:
    """Read a Hudi table (snapshot query), as of ``instant`` when given (time travel).

    Raises
    ------
    SourceNotFoundError
        If the table does not exist.
    TimeTravelError
        If ``instant`` is not a completed commit of the table (cleaned, or of another table).
    """
    base = hudi_base_path(spark, source)
    reader = spark.read.format("hudi").options(**(source.options or {}))
    if instant is not None:
        instants = hudi_instants(spark, base)
        # Hudi returns an empty or partial table for an instant it does not know, rather than failing.
        if instant not in instants:
            raise TimeTravelError(
                f"Hudi table {base} has no completed commit at instant {instant} (its commits: "
                f"{', '.join(instants[-5:]) or 'none'}{', ...' if len(instants) > 5 else ''}). Rebuild without "
                "--pin-versions, or retain more commits (hoodie.cleaner.commits.retained)."
            )
        reader = reader.option("as.of.instant", instant)
        logger.info("Reading Hudi table %s as of instant %s", base, instant)
    try:
        return reader.load(base)
    except Exception as exc:  # noqa: BLE001 - FileNotFoundException / TableNotFoundException through Py4J
        raise _not_found(f"Hudi table {base}", "Check the path: it must be the table's base path "
                         "(the folder holding .hoodie), and that the Hudi bundle is on the session.", exc) from exc


def current_version(spark: SparkSession, source: Union[IcebergSource, HudiSource]) -> Union[int, str]:
    """The version a read of ``source`` sees now: an Iceberg snapshot id or a Hudi commit instant.

    Raises
    ------
    SourceNotFoundError
        If the table does not exist or has no commit yet.
    """
    if isinstance(source, IcebergSource):
        return iceberg_snapshot(spark, source)
    base = hudi_base_path(spark, source)
    instants = hudi_instants(spark, base)
    if not instants:
        raise SourceNotFoundError(f"Hudi table {base} has no completed commit yet: write to it before reading it.")
    return instants[-1]
