"""Small helpers around Delta Lake's Python API shared by the registry and the offline store."""
from __future__ import annotations

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
