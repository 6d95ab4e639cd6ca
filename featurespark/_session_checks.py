"""Checks of what featurespark relies on in a Spark session it is given (it never changes one)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from featurespark.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "GMT", "Etc/GMT", "Z", "Zulu", "+00:00", "Etc/Universal",
                        "Universal"})


def require_utc_session(spark: SparkSession, *, what: str) -> None:
    """Raise unless the session time zone is UTC.

    Managed tables are partitioned by ``CAST(event_timestamp AS DATE)``, which Spark evaluates in the
    session time zone when writing and again when it prunes partitions for a read; in another zone
    than the one the table was written in, rows land in (and are looked up in) the wrong day.

    Raises
    ------
    ConfigError
        Naming the zone found and how to set UTC.
    """
    zone = spark.conf.get("spark.sql.session.timeZone")
    if zone not in _UTC_NAMES:
        raise ConfigError(
            f"{what} needs a Spark session in UTC, but spark.sql.session.timeZone is {zone!r}. Build the session "
            "with featurespark.configure_spark (it sets UTC), or set spark.sql.session.timeZone=UTC "
            "(on EMR: the spark-defaults classification of bootstrap/emr-configurations.json)."
        )


#: A class of delta-spark's jar that featurespark calls through py4j (``delta.tables.DeltaTable``).
_DELTA_CLASS = "io.delta.tables.DeltaTable"


def require_delta(spark: SparkSession, *, config_source: Optional[str] = None) -> None:
    """Raise unless Delta Lake's JVM classes are on the session's classpath.

    Without them Spark starts anyway (it only warns that the Delta session extension cannot be
    loaded) and the first Delta call fails deep in py4j with ``'JavaPackage' object is not callable``.
    Sessions without a local JVM gateway (Spark Connect) are not checked.

    Raises
    ------
    ConfigError
        One line naming the missing classes and the ways to provide them.
    """
    if _has_class(spark, _DELTA_CLASS):
        return
    where = f"spark.jars_dir in {config_source}" if config_source else "spark.jars_dir in the config"
    raise ConfigError(
        f"Delta Lake is not on this Spark session's classpath ({_DELTA_CLASS} not found). Set {where} (or "
        "$FEATURESPARK_JARS_DIR) to a folder with the Delta jars - `bash bootstrap/setup-local.sh` in a "
        "featurespark checkout resolves them into its .jars folder - or start Spark with Delta (spark-submit "
        "--jars / --packages; on EMR the cluster's Delta, see docs/emr.md)."
    )


def _has_class(spark: SparkSession, name: str) -> bool:
    """Whether the JVM class ``name`` is on the session's classpath (True without a local JVM gateway)."""
    jvm = getattr(spark, "_jvm", None)
    if jvm is None:
        return True
    from py4j.java_gateway import JavaClass

    target = jvm
    for part in name.split("."):
        target = getattr(target, part)
    return isinstance(target, JavaClass)


def require_iceberg(spark: SparkSession, *, catalog: str, config_source: Optional[str] = None) -> None:
    """Raise unless the session can hold an Iceberg offline store: Iceberg's runtime jar and SQL extensions
    (``MERGE INTO`` needs them on Spark 3.5) and the catalog ``catalog`` (``offline_store.iceberg_catalog``).

    Raises
    ------
    ConfigError
        Naming what is missing and how to provide it.
    """
    from featurespark.offline.formats import ICEBERG_EXTENSIONS as _ICEBERG_EXTENSIONS
    from featurespark.offline.iceberg import ICEBERG_CATALOG_CLASS as _ICEBERG_CATALOG_CLASS

    where = config_source or "the config"
    if not _has_class(spark, _ICEBERG_CATALOG_CLASS):
        raise ConfigError(
            f"offline_store.format is iceberg in {where}, but Iceberg is not on this Spark session's classpath "
            f"({_ICEBERG_CATALOG_CLASS} not found). Put the iceberg-spark-runtime jar in spark.jars_dir "
            "(`bash bootstrap/setup-local.sh` resolves it into .jars), or on EMR enable Iceberg "
            "(the iceberg-defaults classification, see docs/offline_store.md)."
        )
    extensions = spark.conf.get("spark.sql.extensions", None) or ""
    if _ICEBERG_EXTENSIONS not in extensions:
        raise ConfigError(
            f"offline_store.format is iceberg in {where}, but spark.sql.extensions lacks {_ICEBERG_EXTENSIONS} "
            "(featurespark's upserts use MERGE INTO). Build the session with featurespark.configure_spark, or add "
            "the extension to spark.sql.extensions."
        )
    if not spark.conf.get(f"spark.sql.catalog.{catalog}", None):
        raise ConfigError(
            f"offline_store.format is iceberg in {where}, but the session has no Spark catalog '{catalog}' "
            f"(offline_store.iceberg_catalog; spark.sql.catalog.{catalog} is not set). Build the session with "
            "featurespark.configure_spark(builder, config), which sets it up, or set it in spark.conf."
        )


__all__ = ["require_delta", "require_iceberg", "require_utc_session"]
