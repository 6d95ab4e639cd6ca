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
    jvm = getattr(spark, "_jvm", None)
    if jvm is None:
        return
    from py4j.java_gateway import JavaClass

    target = jvm
    for part in _DELTA_CLASS.split("."):
        target = getattr(target, part)
    if isinstance(target, JavaClass):
        return
    where = f"spark.jars_dir in {config_source}" if config_source else "spark.jars_dir in the config"
    raise ConfigError(
        f"Delta Lake is not on this Spark session's classpath ({_DELTA_CLASS} not found). Set {where} (or "
        "$FEATURESPARK_JARS_DIR) to a folder with the Delta jars - `bash bootstrap/setup-local.sh` in a "
        "featurespark checkout resolves them into its .jars folder - or start Spark with Delta (spark-submit "
        "--jars / --packages; on EMR the cluster's Delta, see docs/emr.md)."
    )


__all__ = ["require_delta", "require_utc_session"]
