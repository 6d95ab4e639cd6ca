"""Moving an Iceberg registry from its former Hadoop catalog into the Glue Data Catalog.

Before this featurespark kept the registry of an ``iceberg_catalog_type: glue`` store in a Hadoop catalog
``<iceberg_catalog>_registry`` whose table sits at the same place, ``<root>/<database>/_registry``. Now the
registry is the Glue table ``<iceberg_catalog>.<database>._registry`` there. A registry left in the Hadoop
catalog is never abandoned silently: the :class:`~featurespark.registry.Registry` refuses to read or write while
Glue has no registry and the Hadoop catalog's files are there (:func:`require_migrated`), and
:func:`migrate_hadoop_registry` (``featurespark migrate-registry``) moves it: Iceberg's ``register_table``
procedure makes Glue point at the Hadoop catalog's newest metadata file, so the log (every version, the history,
the watermarks) and its data files stay where they are and nothing is copied.
"""
from __future__ import annotations

import logging
from typing import Optional

from pyspark.sql import SparkSession

from featurespark._files import HadoopFiles, TextFiles
from featurespark._paths import join_path
from featurespark.errors import RegistryError
from featurespark.offline.glue_pointer import GlueTable, glue_log_version
from featurespark.offline.iceberg import IcebergFormat, ensure_namespace, quote_name, register_statement
from featurespark.offline.layout import TableRef, iceberg_metadata_file

logger = logging.getLogger(__name__)

__all__ = ["MIGRATE_COMMAND", "hadoop_registry_present", "migrate_hadoop_registry", "require_migrated"]

#: What a user runs to move the registry (named in the refusal).
MIGRATE_COMMAND = "featurespark migrate-registry --config <your featurespark.yaml>"


def hadoop_registry_present(files: TextFiles, path: str) -> bool:
    """Whether a Hadoop catalog's Iceberg table is at ``path`` (its ``version-hint.text`` or first metadata file)."""
    return files.exists(join_path(path, "metadata", "version-hint.text")) or files.exists(
        iceberg_metadata_file(path, 1))


def require_migrated(files: TextFiles, path: str, glue: GlueTable) -> None:
    """Refuse a Glue registry that does not exist yet while a Hadoop catalog's registry is at ``path``.

    Call it only when Glue has no registry table (one more file test is all it costs then).

    Raises
    ------
    RegistryError
        Naming the command that moves the registry.
    """
    if hadoop_registry_present(files, path):
        raise RegistryError(
            f"The registry at {path} is still in the Hadoop catalog where featurespark kept it before, and the "
            f"{glue.describe()} does not exist yet. featurespark will not start an empty registry beside it: move "
            f"it into Glue with `{MIGRATE_COMMAND}` (or FeatureStore.migrate_registry()). That registers the same "
            "table (every version, the history and the watermarks) in Glue without copying it; stop jobs that "
            "still run an older featurespark on this store first."
        )


def migrate_hadoop_registry(spark: SparkSession, *, path: str, table_name: str, glue: GlueTable) -> Optional[str]:
    """Register in Glue the Iceberg registry a Hadoop catalog keeps at ``path``; rewrite its snapshot.

    Parameters
    ----------
    spark : SparkSession
        A session with the Glue catalog of ``table_name`` (``configure_spark``).
    path : str
        The registry's folder, ``<root>/<database>/_registry``.
    table_name : str
        Its name in the Glue catalog, ``<iceberg_catalog>.<database>._registry``.
    glue : GlueTable
        The same table as Glue knows it, for the Spark-free check.

    Returns
    -------
    str or None
        The metadata file Glue now points at; None when the registry was already in Glue (nothing done).

    Raises
    ------
    RegistryError
        If there is no registry at ``path``, or a writer with the old setup committed to the Hadoop catalog while
        this ran (the Glue entry is then removed again, leaving things as they were: rerun when it is done).
    """
    from featurespark.registry.registry import Registry  # registry.py imports this module

    files = HadoopFiles(spark)
    registry = Registry(spark, path, table_format="iceberg", table_name=table_name, glue=glue)
    if glue_log_version(glue) is not None:
        logger.info("The registry is already in the %s: nothing to migrate", glue.describe())
        registry.refresh_snapshot()
        return None
    if not hadoop_registry_present(files, path):
        raise RegistryError(f"There is no registry at {path} to migrate (no Hadoop catalog metadata in "
                            f"{join_path(path, 'metadata')}), and no {glue.describe()}. Run `featurespark apply` "
                            "to create the registry in Glue.")
    iceberg = IcebergFormat()
    number = iceberg.log_version(spark, TableRef(path, table_name))  # the Hadoop catalog's file numbering
    metadata = iceberg_metadata_file(path, number + 1)
    ensure_namespace(spark, table_name)
    spark.sql(register_statement(table_name, metadata))
    if files.exists(iceberg_metadata_file(path, number + 2)):
        # A writer with the old setup committed after the file was chosen: Glue would miss that commit. The
        # Glue entry alone is removed (no PURGE: the files are the Hadoop catalog's). SQL, because PySpark's
        # catalog API cannot drop a table; the name is checked and quoted by quote_name.
        spark.sql(f"DROP TABLE {quote_name(table_name)}")
        raise RegistryError(f"The registry at {path} moved on in its Hadoop catalog while it was being registered in "
                            "Glue; the Glue entry was removed again. Stop jobs that run an older featurespark on "
                            f"this store, then run `{MIGRATE_COMMAND}` again.")
    state = registry.refresh_snapshot()
    logger.info("Registered the registry's %s as %s (log version %s)", metadata, glue.describe(), state.log_version)
    return metadata

