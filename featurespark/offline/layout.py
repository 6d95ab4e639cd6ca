"""Where a managed view's tables live: names and locations from explicit parameters, no Spark.

A managed view (a view with a :class:`~featurespark.definitions.ManagedSource`) owns a Delta table
``<database>.<view>`` at ``<root>/<view>``, partitioned by the UTC date of the event timestamp, and
a quarantine table ``<database>.<view>_quarantine`` at ``<root>/_quarantine/<view>`` for rejected
rows. :func:`managed_table` names both; the services layer passes the offline store's root and
database from the config.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from featurespark._paths import join_path

__all__ = ["ManagedTable", "managed_table"]


@dataclass(frozen=True)
class ManagedTable:
    """The storage of one managed view.

    Attributes
    ----------
    view : str
        The view's name.
    database : str
        Metastore database (Hive locally, Glue on EMR).
    name, path : str
        Metastore name (``database.view``) and location of the Delta table.
    quarantine_name, quarantine_path : str
        The same for the quarantine table of rejected rows.
    database_location : str, optional
        Where the metastore database is created if it does not exist (None: the metastore's default).
    """

    view: str
    database: str
    name: str
    path: str
    quarantine_name: str
    quarantine_path: str
    database_location: Optional[str] = None


def managed_table(root: str, database: str, view: str, *, database_location: Optional[str] = None) -> ManagedTable:
    """Where a managed view's tables live under an offline root.

    Parameters
    ----------
    root : str
        Local folder or URI of the offline store.
    database : str
        Metastore database.
    view : str
        The view's name.
    database_location : str, optional
        Location for the database when it has to be created.

    Returns
    -------
    ManagedTable

    Examples
    --------
    >>> t = managed_table("s3://bucket/offline", "features", "driver_stats")
    >>> t.name, t.path
    ('features.driver_stats', 's3://bucket/offline/driver_stats')
    >>> t.quarantine_name, t.quarantine_path
    ('features.driver_stats_quarantine', 's3://bucket/offline/_quarantine/driver_stats')
    """
    return ManagedTable(
        view=view,
        database=database,
        name=f"{database}.{view}",
        path=join_path(root, view),
        quarantine_name=f"{database}.{view}_quarantine",
        quarantine_path=join_path(root, "_quarantine", view),
        database_location=database_location,
    )
