"""The registry snapshot: the newest row of every object, in one small JSON file beside the log.

The registry's table (Delta or Iceberg) is an append-only log (every version of every object, and a row per
materialization watermark), so it grows with every change and every incremental materialize.
Readers need only the newest row of each object. After each commit the writer stores those rows in
``<registry>/_featurespark_snapshot.json`` together with the Delta version of the log they reflect
(Delta ignores files whose names start with ``_``, and VACUUM leaves them alone).

The file is enough to serve: :func:`load_snapshot` reads it with the local file system or boto3
alone (no Spark, no JVM), for online lookups in a Lambda or a web service. A snapshot is *current*
when the log has no commit after its version (``_delta_log/<version + 1>.json``, or for Iceberg in a Hadoop
catalog ``metadata/v<version + 2>.metadata.json``, does not exist): one existence check. For an Iceberg registry
in the Glue Data Catalog it is one ``glue:GetTable`` instead: current when Glue points at the metadata file of
number ``version`` (``<version>-<uuid>.metadata.json``). A writer that crashed between its commit and the snapshot leaves a stale snapshot;
any registry read through Spark rewrites it, and :func:`load_snapshot` refuses a stale one unless
``allow_stale=True``.

Format (version 1)::

    {"format": 1, "log_version": 12, "written_at": "2026-01-01T00:00:00+00:00",
     "records": [{"kind": "entity", "name": "driver", "version": 1, "op": "create", "spec": {...},
                  "applied_at": "2026-01-01T00:00:00+00:00", "applied_by": "hadoop"}, ...]}
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any, Optional

from featurespark._files import DirectFiles, TextFiles
from featurespark._paths import join_path
from featurespark.errors import RegistryError
from featurespark.offline.glue_pointer import GlueTable, glue_log_version
from featurespark.offline.layout import iceberg_metadata_file
from featurespark.options import OfflineFormat
from featurespark.registry.state import RegistryRecord, RegistryState, fold_records

logger = logging.getLogger(__name__)

__all__ = [
    "SNAPSHOT_FILE", "SNAPSHOT_FORMAT", "commit_file", "from_json", "is_current", "load_snapshot",
    "read_snapshot", "snapshot_path", "to_json",
]

#: File name of the snapshot inside the registry table's folder.
SNAPSHOT_FILE = "_featurespark_snapshot.json"
SNAPSHOT_FORMAT = 1


def snapshot_path(registry_path: str) -> str:
    """Location of the snapshot of the registry at ``registry_path``."""
    return join_path(registry_path, SNAPSHOT_FILE)


def commit_file(registry_path: str, version: int, table_format: OfflineFormat = "delta") -> str:
    """Location of the file that exists once commit ``version`` of the registry table is done: the Delta
    log entry, or the Iceberg (Hadoop catalog) metadata file ``v<version + 1>.metadata.json``.

    Examples
    --------
    >>> commit_file("/r", 0, "iceberg"), commit_file("/r", 2)
    ('/r/metadata/v1.metadata.json', '/r/_delta_log/00000000000000000002.json')
    """
    if table_format == "iceberg":
        return iceberg_metadata_file(registry_path, version + 1)
    return join_path(registry_path, "_delta_log", f"{version:020d}.json")


def to_json(state: RegistryState) -> str:
    """Serialize a state's newest records and log version.

    Examples
    --------
    >>> from_json(to_json(RegistryState(log_version=3))).log_version
    3
    """
    records = [
        {
            "kind": r.kind,
            "name": r.name,
            "version": r.version,
            "op": r.op,
            "spec": r.spec,
            "applied_at": r.applied_at.astimezone(timezone.utc).isoformat(),
            "applied_by": r.applied_by,
        }
        for _, r in sorted(state.latest.items())
    ]
    body = {
        "format": SNAPSHOT_FORMAT,
        "log_version": state.log_version,
        "written_at": datetime.now(timezone.utc).isoformat(),
        "records": records,
    }
    return json.dumps(body, indent=1, sort_keys=True, default=str)


def from_json(text: str, *, where: str = "registry snapshot") -> RegistryState:
    """Parse a snapshot into a :class:`RegistryState`.

    Raises
    ------
    RegistryError
        If the text is not a snapshot of a format this version reads.
    """
    try:
        body: dict[str, Any] = json.loads(text)
        if body.get("format") != SNAPSHOT_FORMAT:
            raise RegistryError(
                f"{where} has format {body.get('format')!r}; this featurespark reads format {SNAPSHOT_FORMAT}. "
                "Upgrade featurespark, or rewrite the snapshot with `featurespark refresh-snapshot`."
            )
        records = [
            RegistryRecord(
                kind=r["kind"],
                name=r["name"],
                version=int(r["version"]),
                op=r["op"],
                spec=r["spec"],
                diff=[],
                applied_at=datetime.fromisoformat(r["applied_at"]),
                applied_by=r.get("applied_by"),
            )
            for r in body["records"]
        ]
        log_version = body["log_version"]
    except (ValueError, KeyError, TypeError) as exc:
        raise RegistryError(f"{where} is not a valid registry snapshot ({type(exc).__name__}: {exc}).") from exc
    return fold_records(records, log_version=None if log_version is None else int(log_version))


def read_snapshot(files: TextFiles, registry_path: str) -> Optional[RegistryState]:
    """The snapshot of a registry, or None when there is none."""
    path = snapshot_path(registry_path)
    text = files.read_text(path)
    return None if text is None else from_json(text, where=path)


def is_current(files: TextFiles, registry_path: str, state: RegistryState,
               table_format: OfflineFormat = "delta", *, glue: Optional[GlueTable] = None) -> bool:
    """Whether the registry log (a table in ``table_format``) has no commit after the one ``state`` reflects.

    Delta, and Iceberg in a Hadoop catalog: one file-existence test (the commit file after ``state.log_version``).
    With ``glue`` (the registry in the Glue Data Catalog): one ``glue:GetTable``, current when the number of the
    metadata file Glue points at is ``state.log_version`` (:mod:`featurespark.offline.glue_pointer`). Equality
    rather than "not greater": a snapshot from before a migration into Glue (Hadoop numbering, see
    :mod:`featurespark.registry.migration`) must not pass for current once Glue's numbering, which restarts,
    catches up with it.
    """
    if glue is not None:
        return glue_log_version(glue) == state.log_version
    if state.log_version is None:
        return not files.exists(commit_file(registry_path, 0, table_format))
    return not files.exists(commit_file(registry_path, state.log_version + 1, table_format))


def load_snapshot(registry_path: str, *, files: Optional[TextFiles] = None, allow_stale: bool = False,
                  table_format: OfflineFormat = "delta", glue: Optional[GlueTable] = None) -> RegistryState:
    """Read the live definitions and watermarks of a registry without Spark.

    Parameters
    ----------
    registry_path : str
        The registry's location (``offline_store.root`` + ``/_registry``): a local folder or ``s3://``.
    files : TextFiles, optional
        How to read files; default :class:`featurespark._files.DirectFiles` (local disk, boto3 for S3).
    allow_stale : bool
        Return a snapshot even when the log has newer commits (a writer crashed before updating it).
    table_format : {"delta", "iceberg"}
        Format of the registry table (``offline_store.format``).
    glue : GlueTable, optional
        The registry table's Glue entry (``offline_store.iceberg_catalog_type: glue``): the staleness check asks
        Glue (see :func:`is_current`).

    Returns
    -------
    RegistryState

    Raises
    ------
    RegistryError
        If there is no snapshot, or it is stale and ``allow_stale`` is False.

    Examples
    --------
    >>> load_snapshot(str(tmp_path / "no_registry_here"))
    Traceback (most recent call last):
    ...
    featurespark.errors.RegistryError: No registry snapshot at .../_featurespark_snapshot.json. Run `featurespark apply` (or `featurespark refresh-snapshot` for a registry written by an older featurespark).
    """
    files = files or DirectFiles()
    state = read_snapshot(files, registry_path)
    if state is None:
        raise RegistryError(
            f"No registry snapshot at {snapshot_path(registry_path)}. Run `featurespark apply` (or "
            "`featurespark refresh-snapshot` for a registry written by an older featurespark)."
        )
    if not allow_stale and not is_current(files, registry_path, state, table_format, glue=glue):
        raise RegistryError(
            f"The registry snapshot at {snapshot_path(registry_path)} reflects log version {state.log_version}, "
            "but the registry has newer commits (a writer stopped before updating it). Run "
            "`featurespark refresh-snapshot`, or any registry read through Spark, to rewrite it."
        )
    return state
