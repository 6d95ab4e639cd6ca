"""Paths that may be local folders or URIs (``s3://``, ``s3a://``, ``file://``, ``hdfs://``)."""
from __future__ import annotations


def join_path(root: str, *parts: str) -> str:
    """Join path parts onto a local path or a URI without normalising the scheme away.

    Examples
    --------
    >>> join_path("s3://bucket/offline/", "_registry")
    's3://bucket/offline/_registry'
    >>> join_path("/data", "_quarantine", "stats")
    '/data/_quarantine/stats'
    """
    out = root.rstrip("/")
    for part in parts:
        out = f"{out}/{part.strip('/')}"
    return out


def is_uri(path: str) -> bool:
    """True for ``scheme://`` locations (s3, s3a, file, hdfs...).

    Examples
    --------
    >>> is_uri("s3://bucket/key"), is_uri("/tmp/x")
    (True, False)
    """
    return "://" in path
