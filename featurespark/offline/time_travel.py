"""Reading Delta tables at a version or a point in time, reporting the version read."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from featurespark._delta import latest_version
from featurespark.errors import InvalidArgumentError, TimeTravelError

logger = logging.getLogger(__name__)

__all__ = ["VersionedRead", "latest_version", "read_delta", "resolve_version"]


@dataclass(frozen=True)
class VersionedRead:
    """A lazily read Delta table and the exact version it reads.

    Attributes
    ----------
    df : DataFrame
    path : str
    version : int
        Pass it back as ``version=`` to read the same rows again.
    """

    df: DataFrame
    path: str
    version: int


def resolve_version(spark: SparkSession, path: str, *, version: Optional[int] = None,
                    as_of: Optional[datetime] = None) -> int:
    """The Delta version to read: ``version``, the last commit at or before ``as_of``, or the latest.

    The latest version and an existing ``version`` are found from the log's files (no Spark job);
    ``as_of`` reads the table history.

    Raises
    ------
    TimeTravelError
        If the version does not exist or ``as_of`` is before the first commit.
    """
    from delta.tables import DeltaTable

    if version is not None and as_of is not None:
        raise InvalidArgumentError("Pass either version or as_of, not both.")
    if as_of is None:
        latest = latest_version(spark, path)
        if version is None:
            return latest
        if version < 0 or version > latest:
            raise TimeTravelError(f"Delta table {path} has versions 0 to {latest}; version {version} does not exist.")
        return version
    history = DeltaTable.forPath(spark, path).history().select("version", "timestamp")
    instant = as_of if as_of.tzinfo else as_of.replace(tzinfo=timezone.utc)
    row = history.where(F.col("timestamp") <= F.lit(instant)).agg(F.max("version")).first()
    if row is None or row[0] is None:
        first = history.agg(F.min("timestamp")).first()[0]  # type: ignore[index]
        raise TimeTravelError(
            f"Delta table {path} has no version at or before {instant.isoformat()}; its first commit is at {first}."
        )
    return int(row[0])


def read_delta(spark: SparkSession, path: str, *, version: Optional[int] = None,
               as_of: Optional[datetime] = None) -> VersionedRead:
    """Read a Delta table pinned to one version (see :func:`resolve_version`).

    Examples
    --------
    >>> path = str(tmp_path / "stats")
    >>> spark.range(2).write.format("delta").save(path)
    >>> spark.range(5).write.format("delta").mode("overwrite").save(path)
    >>> read = read_delta(spark, path, version=0)
    >>> read.version, read.df.count(), read_delta(spark, path).version
    (0, 2, 1)
    """
    resolved = resolve_version(spark, path, version=version, as_of=as_of)
    df = spark.read.format("delta").option("versionAsOf", resolved).load(path)
    logger.info("Reading %s at version %d", path, resolved)
    return VersionedRead(df, path, resolved)
