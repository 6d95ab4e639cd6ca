"""Checks of what featurespark relies on in a Spark session it is given (it never changes one)."""
from __future__ import annotations

from typing import TYPE_CHECKING

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
