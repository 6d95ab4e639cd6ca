"""featurespark: a Spark-native feature store for Amazon EMR.

The stable public API is re-exported here (``__all__``); everything else is internal. Names are
imported on first use, so ``import featurespark`` needs neither Spark nor pandas: the
``featurespark emr`` command and online lookups (:class:`FeatureServer`) run with boto3 and pyyaml.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from featurespark._lazy import lazy_exports

__version__ = "0.1.0"

if TYPE_CHECKING:
    from featurespark.aggregations import Aggregation, window_aggregate_as_of
    from featurespark.config import Config, load_config, parse_config
    from featurespark.definitions import (
        AggregationView,
        DeltaSource,
        Entity,
        FeatureView,
        Field,
        HudiSource,
        IcebergSource,
        JdbcSource,
        ManagedSource,
        ParquetSource,
        QuerySource,
        RedshiftSource,
        TableSource,
    )
    from featurespark.errors import (
        ConfigError,
        DefinitionError,
        DynamoEndpointError,
        EntityKeyError,
        FeaturesparkError,
        InvalidArgumentError,
        InvalidRowsError,
        ItemEncodingError,
        ItemTooLargeError,
        NotRegisteredError,
        NullValueError,
        OnlineStoreError,
        RegistryError,
        RetriesExhaustedError,
        SchemaMismatchError,
        SourceNotFoundError,
        SourceSchemaError,
        StaleItemError,
        StreamFailedError,
        TableNotFoundError,
        TableSchemaError,
        TimeTravelError,
        WriteConflictError,
    )
    from featurespark.offline.writer import OfflineWriteSummary
    from featurespark.online.materialize import OnlineWriteSummary
    from featurespark.pit import EntityTimeRange, PitView, entity_time_range, point_in_time_join, point_in_time_join_many
    from featurespark.registry import Plan, Registry, RegistryState, load_snapshot
    from featurespark.repo import load_repo
    from featurespark.retry import RetryPolicy
    from featurespark.services.push import PushSummary
    from featurespark.services.serving import FeatureServer, OnlineResponse
    from featurespark.services.stream import FeatureStream
    from featurespark.services.training import HistoricalRetrieval
    from featurespark.session import configure_spark
    from featurespark.store import FeatureStore

_EXPORTS = {
    "Config": "featurespark.config",
    "load_config": "featurespark.config",
    "parse_config": "featurespark.config",
    "Aggregation": "featurespark.aggregations",
    "window_aggregate_as_of": "featurespark.aggregations",
    **{name: "featurespark.definitions" for name in (
        "AggregationView", "DeltaSource", "Entity", "FeatureView", "Field", "ManagedSource", "ParquetSource",
        "QuerySource", "TableSource", "IcebergSource", "HudiSource", "JdbcSource", "RedshiftSource",
    )},
    # Every domain error, so callers catch them without knowing the module.
    **{name: "featurespark.errors" for name in (
        "ConfigError", "DefinitionError", "DynamoEndpointError", "EntityKeyError", "FeaturesparkError",
        "InvalidArgumentError", "InvalidRowsError", "ItemEncodingError", "ItemTooLargeError", "NotRegisteredError",
        "NullValueError", "OnlineStoreError", "RegistryError", "RetriesExhaustedError", "SchemaMismatchError",
        "SourceNotFoundError", "SourceSchemaError", "StaleItemError", "StreamFailedError", "TableNotFoundError",
        "TableSchemaError", "TimeTravelError",
        "WriteConflictError",
    )},
    "OfflineWriteSummary": "featurespark.offline.writer",
    "OnlineWriteSummary": "featurespark.online.materialize",
    **{name: "featurespark.pit" for name in (
        "EntityTimeRange", "PitView", "entity_time_range", "point_in_time_join", "point_in_time_join_many",
    )},
    **{name: "featurespark.registry" for name in ("Plan", "Registry", "RegistryState", "load_snapshot")},
    "load_repo": "featurespark.repo",
    "RetryPolicy": "featurespark.retry",
    "PushSummary": "featurespark.services.push",
    "FeatureServer": "featurespark.services.serving",
    "OnlineResponse": "featurespark.services.serving",
    "FeatureStream": "featurespark.services.stream",
    "HistoricalRetrieval": "featurespark.services.training",
    "configure_spark": "featurespark.session",
    "FeatureStore": "featurespark.store",
}

__all__ = sorted([*_EXPORTS, "__version__"])
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
