"""Where a registered view's data lives, from the config: its Delta tables and its DynamoDB table.

The only place that turns the config's offline root, database and table-name template into the
explicit locations the toolkits take.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from featurespark.config import REGISTRY_TABLE, Config
from featurespark.definitions import AggregationView, FeatureView, ManagedSource
from featurespark.definitions.views import AnyView
from featurespark.errors import ConfigError, DefinitionError
from featurespark.offline.glue_pointer import GlueTable
from featurespark.offline.layout import ManagedTable, managed_table

if TYPE_CHECKING:
    from featurespark.offline.jdbc import RedshiftConnection

__all__ = ["managed_table_of", "online_table_name", "read_table_of", "redshift_connection", "redshift_for",
           "registry_glue_table", "registry_path"]


def managed_table_of(config: Config, view: FeatureView) -> ManagedTable:
    """The feature and quarantine tables of a managed view under ``offline_store.root``, in the
    ``offline_store.format``.

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
    return managed_table(offline.root, offline.database, view.name, database_location=offline.database_location,
                         table_format=offline.format, catalog=offline.iceberg_catalog,
                         catalog_type=offline.iceberg_catalog_type)


def read_table_of(config: Config, view: AnyView) -> Optional[ManagedTable]:
    """The managed table a view's source reads (None for other sources), for ``read_source``.

    Raises
    ------
    DefinitionError
        For an aggregation view with a ``ManagedSource``: it owns no table to read its events from.

    Examples
    --------
    >>> from featurespark.aggregations import Aggregation
    >>> from featurespark.config import parse_config
    >>> from featurespark.definitions import Entity, Field
    >>> config = parse_config({"project": {"name": "demo"}, "offline_store": {"root": "s3://b/offline"}})
    >>> aggs = AggregationView("trip_aggs", [Entity("d", join_keys={"d_id": "int64"})], ManagedSource(),
    ...                        [Field("fare", "float64")], [Aggregation("fare", "sum", windows=["1d"])])
    >>> read_table_of(config, aggs)
    Traceback (most recent call last):
    ...
    featurespark.errors.DefinitionError: AggregationView 'trip_aggs' has a ManagedSource, but an aggregation view owns no table to read its events from. To aggregate the rows of a managed feature view, read its table: TableSource(table='<database>.<view>') or DeltaSource(path='<offline_store.root>/<view>').
    """
    if not isinstance(view.source, ManagedSource):
        return None
    if isinstance(view, AggregationView):
        raise DefinitionError(
            f"AggregationView '{view.name}' has a ManagedSource, but an aggregation view owns no table to read its "
            "events from. To aggregate the rows of a managed feature view, read its table: "
            "TableSource(table='<database>.<view>') or DeltaSource(path='<offline_store.root>/<view>')."
        )
    return managed_table_of(config, view)


def online_table_name(config: Config, view: AnyView) -> str:
    """DynamoDB table name of a view (``online_store.table_name_template``)."""
    return config.online_store.table_name(config.project.name, view.name)


def registry_path(config: Config) -> str:
    """Location of the registry table (``<offline_store.root>/_registry``; Iceberg:
    ``<offline_store.root>/<database>/_registry``)."""
    return config.offline_store.registry_path


def registry_glue_table(config: Config) -> Optional[GlueTable]:
    """The registry's table in the AWS Glue Data Catalog, with the Glue endpoint, region and catalog id of
    ``offline_store.iceberg_catalog_options`` (``glue.endpoint``, ``client.region``, ``glue.id``: the keys
    Iceberg's ``GlueCatalog`` reads); None unless the offline store is Iceberg in a Glue catalog.

    Examples
    --------
    >>> from featurespark.config import parse_config
    >>> config = parse_config({"project": {"name": "demo"}, "offline_store": {
    ...     "root": "s3://b/offline", "database": "feats", "format": "iceberg", "iceberg_catalog_type": "glue",
    ...     "iceberg_catalog_options": {"glue.endpoint": "http://127.0.0.1:5000", "client.region": "eu-west-1"}}})
    >>> registry_glue_table(config)
    GlueTable(database='feats', table='_registry', endpoint='http://127.0.0.1:5000', region='eu-west-1', catalog_id=None)
    """
    offline = config.offline_store
    if offline.format != "iceberg" or offline.iceberg_catalog_type != "glue":
        return None
    options = offline.iceberg_catalog_options
    return GlueTable(database=offline.database, table=REGISTRY_TABLE, endpoint=options.get("glue.endpoint"),
                     region=options.get("client.region"), catalog_id=options.get("glue.id"))


def redshift_connection(config: Config) -> Optional[RedshiftConnection]:
    """The ``redshift`` section as the Redshift reader's parameters; None when the config has none.

    Raises
    ------
    ConfigError
        If the section lacks ``url``, ``temp_dir`` or ``iam_role``.
    """
    from featurespark.offline.jdbc import RedshiftConnection  # Spark-free lookups (serving) import this module

    section = config.redshift
    if section is None:
        return None
    missing = [k for k in ("url", "temp_dir", "iam_role") if getattr(section, k) is None]
    if missing:
        raise ConfigError(f"{config.source or '<config>'}: the redshift section needs {', '.join(missing)} "
                          "(see docs/config.md).")
    return RedshiftConnection(url=str(section.url), temp_dir=str(section.temp_dir), iam_role=str(section.iam_role),
                              user_env=section.user_env, password_env=section.password_env)


def redshift_for(config: Config, view: AnyView) -> Optional[RedshiftConnection]:
    """The Redshift reader's parameters when ``view`` reads a ``RedshiftSource``, else None (the section
    is then not looked at)."""
    return redshift_connection(config) if view.source.kind == "redshift" else None
