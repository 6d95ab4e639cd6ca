"""Reading tables at a version or a point in time (Delta or Iceberg), reporting the version read."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from pyspark.sql import DataFrame, SparkSession

from featurespark._delta import latest_version
from featurespark.offline.layout import TableRef
from featurespark.offline.table_format import DeltaFormat, TableFormat

logger = logging.getLogger(__name__)

__all__ = ["VersionedRead", "latest_version", "read_delta", "read_versioned", "resolve_version"]


@dataclass(frozen=True)
class VersionedRead:
    """A lazily read table and the exact version it reads.

    Attributes
    ----------
    df : DataFrame
    path : str
    version : int
        Delta version or Iceberg snapshot id; pass it back as ``version=`` to read the same rows again.
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
    return DeltaFormat().resolve_version(spark, TableRef(path), version=version, as_of=as_of)


def read_versioned(spark: SparkSession, fmt: TableFormat, ref: TableRef, *, version: Optional[int] = None,
                   as_of: Optional[datetime] = None) -> VersionedRead:
    """Read a table of format ``fmt`` pinned to one version (see :meth:`TableFormat.resolve_version`).

    Examples
    --------
    >>> from featurespark.offline.table_format import table_format
    >>> path = str(tmp_path / "stats")
    >>> spark.range(2).write.format("delta").save(path)
    >>> read_versioned(spark, table_format("delta"), TableRef(path), version=0).df.count()
    2
    """
    resolved = fmt.resolve_version(spark, ref, version=version, as_of=as_of)
    df = fmt.read(spark, ref, resolved)
    logger.info("Reading %s at version %d", ref.name or ref.path, resolved)
    return VersionedRead(df, ref.path, resolved)


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
    return read_versioned(spark, DeltaFormat(), TableRef(path), version=version, as_of=as_of)
