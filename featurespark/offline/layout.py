"""Where a managed view's tables live: names and locations from explicit parameters, no Spark.

A managed view (a view with a :class:`~featurespark.definitions.ManagedSource`) owns a table
partitioned by the UTC date of the event timestamp, and a quarantine table for rejected rows:

- Delta: ``<database>.<view>`` at ``<root>/<view>`` and ``<database>.<view>_quarantine`` at
  ``<root>/_quarantine/<view>`` (metastore entries, Hive locally, Glue on EMR).
- Iceberg: ``<catalog>.<database>.<view>`` and ``<catalog>.<database>.<view>_quarantine`` in a catalog
  whose warehouse is ``<root>``, at ``<root>/<database>/<view>`` and ``<root>/<database>/<view>_quarantine``
  (a Hadoop catalog places every table there itself; in a Glue catalog they are created there explicitly).

:func:`managed_table` names both; the services layer passes the offline store's root, database,
format and catalog from the config.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from featurespark._paths import join_path
from featurespark.offline.glue_pointer import GlueTable
from featurespark.options import IcebergCatalogType, OfflineFormat

__all__ = ["ManagedTable", "TableRef", "iceberg_metadata_file", "managed_table"]


@dataclass(frozen=True)
class TableRef:
    """One table as the table formats address it.

    Attributes
    ----------
    path : str
        Location of the table's folder.
    name : str, optional
        Catalog name: ``database.table`` in the metastore (Delta; None for a path-only table such as
        the registry) or ``catalog.namespace.table`` (Iceberg, where it is required).
    create_at_path : bool
        Create the Iceberg table at ``path`` explicitly (a Glue catalog would place it at
        ``<warehouse>/<database>.db/<table>``; a Hadoop catalog places it at ``path`` itself).
    glue : GlueTable, optional
        The table's entry in the AWS Glue Data Catalog, for a table whose commit counter (the registry's log
        version) is read from Glue rather than from a Hadoop catalog's file names; None for every other table.
    """

    path: str
    name: Optional[str] = None
    create_at_path: bool = False
    glue: Optional[GlueTable] = None


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
    format : {"delta", "iceberg"}
        Table format of both tables.
    iceberg_catalog_type : {"hadoop", "glue"}
        The Iceberg catalog holding them (Iceberg only).
    """

    view: str
    database: str
    name: str
    path: str
    quarantine_name: str
    quarantine_path: str
    database_location: Optional[str] = None
    format: OfflineFormat = "delta"
    iceberg_catalog_type: IcebergCatalogType = "hadoop"

    @property
    def _at_path(self) -> bool:
        return self.format == "iceberg" and self.iceberg_catalog_type == "glue"

    @property
    def ref(self) -> TableRef:
        """The feature table."""
        return TableRef(self.path, self.name, create_at_path=self._at_path)

    @property
    def quarantine_ref(self) -> TableRef:
        """The quarantine table."""
        return TableRef(self.quarantine_path, self.quarantine_name, create_at_path=self._at_path)


def managed_table(root: str, database: str, view: str, *, database_location: Optional[str] = None,
                  table_format: OfflineFormat = "delta", catalog: str = "featurespark",
                  catalog_type: IcebergCatalogType = "hadoop") -> ManagedTable:
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
        Location for the database when it has to be created (Delta).
    table_format : {"delta", "iceberg"}
        Table format.
    catalog : str
        Iceberg catalog (its warehouse is ``root``).
    catalog_type : {"hadoop", "glue"}
        What that catalog is; Glue tables are created at the same paths as a Hadoop catalog's.

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
    >>> t = managed_table("s3://bucket/offline", "features", "driver_stats", table_format="iceberg")
    >>> t.name, t.path
    ('featurespark.features.driver_stats', 's3://bucket/offline/features/driver_stats')
    >>> t.quarantine_name, t.quarantine_path
    ('featurespark.features.driver_stats_quarantine', 's3://bucket/offline/features/driver_stats_quarantine')
    """
    if table_format == "iceberg":
        return ManagedTable(
            view=view,
            database=database,
            name=f"{catalog}.{database}.{view}",
            path=join_path(root, database, view),
            quarantine_name=f"{catalog}.{database}.{view}_quarantine",
            quarantine_path=join_path(root, database, f"{view}_quarantine"),
            format="iceberg",
            iceberg_catalog_type=catalog_type,
        )
    return ManagedTable(
        view=view,
        database=database,
        name=f"{database}.{view}",
        path=join_path(root, view),
        quarantine_name=f"{database}.{view}_quarantine",
        quarantine_path=join_path(root, "_quarantine", view),
        database_location=database_location,
    )


def iceberg_metadata_file(location: str, number: int) -> str:
    """The metadata file ``v<number>.metadata.json`` a Hadoop catalog writes for commit ``number`` of the
    Iceberg table at ``location`` (``v1`` when the table is created).

    Examples
    --------
    >>> iceberg_metadata_file("s3://b/offline/db/_registry", 3)
    's3://b/offline/db/_registry/metadata/v3.metadata.json'
    """
    return join_path(location, "metadata", f"v{number}.metadata.json")
