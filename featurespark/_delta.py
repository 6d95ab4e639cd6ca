"""Small helpers around Delta Lake's Python API shared by the registry and the offline store."""
from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Iterator

from pyspark.sql import SparkSession

from featurespark._files import HadoopFiles
from featurespark._paths import join_path
from featurespark.errors import TimeTravelError

#: Session settings that make Delta commits idempotent (Delta >= 2.3; they cover appends and MERGE):
#: a commit is skipped when the table already recorded ``version`` or a later one for ``app_id``.
TXN_APP_ID = "spark.databricks.delta.write.txnAppId"
TXN_VERSION = "spark.databricks.delta.write.txnVersion"

# Delta's documented optimistic-concurrency conflicts: the operation may be retried.
CONFLICT_EXCEPTIONS = frozenset(
    {
        "ConcurrentAppendException",
        "ConcurrentDeleteReadException",
        "ConcurrentDeleteDeleteException",
        "ConcurrentTransactionException",
        "MetadataChangedException",
        "ProtocolChangedException",
    }
)


def is_conflict(exc: BaseException) -> bool:
    """Whether ``exc`` is one of Delta's retryable concurrent-modification conflicts.

    Delta's Python wrappers raise ``delta.exceptions.*`` for some code paths, while others
    surface the JVM exception as a ``Py4JJavaError``; both are recognised by class name.
    """
    if type(exc).__name__ in CONFLICT_EXCEPTIONS:
        return True
    java_exc = getattr(exc, "java_exception", None)
    if java_exc is not None:
        try:
            name = str(java_exc.getClass().getSimpleName())
        except Exception:  # noqa: BLE001 - a dead JVM gateway: not a conflict
            return False
        return name in CONFLICT_EXCEPTIONS
    return False


@contextmanager
def idempotent_commits(spark: SparkSession, app_id: str, version: int) -> Iterator[None]:
    """Within the block, every Delta commit of ``spark`` carries the transaction ``(app_id, version)``.

    Delta records the greatest version committed per application id in each table's log and
    skips a later commit (appends, MERGE, ...) to that table whose version is not greater, so a
    replayed micro-batch is not written twice. Use a session no other thread writes with (the
    streaming query's own session in ``foreachBatch``): the settings apply session-wide until
    the block ends.

    Examples
    --------
    >>> path = str(tmp_path / "events")
    >>> for attempt in range(2):  # the same batch written twice, as a replay after a crash would
    ...     with idempotent_commits(spark, "query-1", 7):
    ...         spark.range(3).write.format("delta").mode("append").save(path)
    >>> spark.read.format("delta").load(path).count()
    3
    """
    if version < 0:
        raise ValueError(f"Transaction versions are non-negative, got {version}.")
    spark.conf.set(TXN_APP_ID, app_id)
    spark.conf.set(TXN_VERSION, str(version))
    try:
        yield
    finally:
        spark.conf.unset(TXN_APP_ID)
        spark.conf.unset(TXN_VERSION)


def latest_version(spark: SparkSession, path: str) -> int:
    """The latest committed version of a Delta table, read from its log without running a Spark job.

    Starts at the version of ``_delta_log/_last_checkpoint`` (Delta writes a checkpoint every few
    commits) and probes the commit files after it, so it costs a few file-existence checks, not a
    job over the table's history.

    Raises
    ------
    TimeTravelError
        If ``path`` holds no Delta table.

    Examples
    --------
    >>> path = str(tmp_path / "t")
    >>> for _ in range(3):
    ...     spark.range(1).write.format("delta").mode("append").save(path)
    >>> latest_version(spark, path)
    2
    """
    files = HadoopFiles(spark)
    log = join_path(path, "_delta_log")
    checkpoint = files.read_text(join_path(log, "_last_checkpoint"))
    version = int(json.loads(checkpoint)["version"]) if checkpoint else 0
    if not checkpoint and not files.exists(_commit_file(log, 0)):
        raise TimeTravelError(f"{path} holds no Delta table (no {_commit_file(log, 0)}).")
    while files.exists(_commit_file(log, version + 1)):
        version += 1
    return version


def _commit_file(log: str, version: int) -> str:
    return join_path(log, f"{version:020d}.json")
