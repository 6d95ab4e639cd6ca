"""Where a registered view's data lives, from the config: its Delta tables and its DynamoDB table.

The only place that turns the config's offline root, database and table-name template into the
explicit locations the toolkits take.
"""
from __future__ import annotations

from typing import Optional

from featurespark.config import Config
from featurespark.definitions import AggregationView, FeatureView, ManagedSource
from featurespark.definitions.views import AnyView
from featurespark.errors import DefinitionError
from featurespark.offline.layout import ManagedTable, managed_table

__all__ = ["managed_table_of", "online_table_name", "read_table_of", "registry_path"]


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
    """Location of the registry Delta table (``<offline_store.root>/_registry``)."""
    return config.offline_store.registry_path
