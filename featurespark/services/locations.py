"""Where a registered view's data lives, from the config: its Delta tables and its DynamoDB table.

The only place that turns the config's offline root, database and table-name template into the
explicit locations the toolkits take.
"""
from __future__ import annotations

from featurespark.config import Config
from featurespark.definitions import FeatureView
from featurespark.offline.layout import ManagedTable, managed_table

__all__ = ["managed_table_of", "online_table_name", "registry_path"]


def managed_table_of(config: Config, view: FeatureView) -> ManagedTable:
    """The Delta and quarantine tables of a managed view under ``offline_store.root``.

    Examples
    --------
    >>> from featurespark.config import parse_config
    >>> from featurespark.definitions import Entity, Field
    >>> config = parse_config({"project": {"name": "demo"}, "offline_store": {"root": "s3://b/offline"}})
    >>> view = FeatureView(name="stats", entities=[Entity("d", join_keys={"d_id": "int64"})],
    ...                    schema=[Field("x", "float64")])
    >>> managed_table_of(config, view).path
    's3://b/offline/stats'
    """
    offline = config.offline_store
    return managed_table(offline.root, offline.database, view.name, database_location=offline.database_location)


def online_table_name(config: Config, view: FeatureView) -> str:
    """DynamoDB table name of a view (``online_store.table_name_template``)."""
    return config.online_store.table_name(config.project.name, view.name)


def registry_path(config: Config) -> str:
    """Location of the registry Delta table (``<offline_store.root>/_registry``)."""
    return config.offline_store.registry_path
