"""Registry migration service: move an Iceberg registry from its former Hadoop catalog into the Glue catalog.

Only for ``offline_store.format: iceberg`` with ``iceberg_catalog_type: glue``, whose registry used to be the
Hadoop catalog ``<iceberg_catalog>_registry`` (see :mod:`featurespark.registry.migration`).
"""
from __future__ import annotations

import logging
from typing import Optional

from pyspark.sql import SparkSession

from featurespark.config import Config
from featurespark.errors import ConfigError
from featurespark.registry.migration import migrate_hadoop_registry
from featurespark.services.locations import registry_glue_table, registry_path

logger = logging.getLogger(__name__)

__all__ = ["migrate_registry"]


def migrate_registry(spark: SparkSession, config: Config) -> Optional[str]:
    """Register the registry a Hadoop catalog keeps under the offline root in the Glue catalog.

    Returns
    -------
    str or None
        The metadata file Glue now points at; None when the registry was already in Glue.

    Raises
    ------
    ConfigError
        If the offline store is not Iceberg in a Glue catalog (nothing to migrate to).
    RegistryError
        See :func:`featurespark.registry.migration.migrate_hadoop_registry`.
    """
    glue = registry_glue_table(config)
    table_name = config.offline_store.registry_table
    if glue is None or table_name is None:
        raise ConfigError(f"{config.source or 'The config'}: migrate-registry moves an Iceberg registry into the Glue "
                          "catalog, so it needs offline_store.format: iceberg and iceberg_catalog_type: glue.")
    return migrate_hadoop_registry(spark, path=registry_path(config), table_name=table_name, glue=glue)
