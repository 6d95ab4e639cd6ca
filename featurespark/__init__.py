"""featurespark: a Spark-native feature store for Amazon EMR.

The stable public API is re-exported here; everything else is internal.
"""
from __future__ import annotations

from featurespark.config import Config, load_config
from featurespark.definitions import (
    DeltaSource,
    Entity,
    FeatureView,
    Field,
    ManagedSource,
    ParquetSource,
    QuerySource,
    TableSource,
)
from featurespark.errors import FeaturesparkError
from featurespark.pit import (
    EntityTimeRange,
    PitView,
    entity_time_range,
    point_in_time_join,
    point_in_time_join_many,
)
from featurespark.registry import Plan, Registry
from featurespark.repo import load_repo
from featurespark.session import configure_spark
from featurespark.store import FeatureStore

__version__ = "0.1.0"

__all__ = [
    "Config",
    "DeltaSource",
    "Entity",
    "EntityTimeRange",
    "FeatureStore",
    "FeatureView",
    "FeaturesparkError",
    "Field",
    "ManagedSource",
    "ParquetSource",
    "PitView",
    "Plan",
    "QuerySource",
    "Registry",
    "TableSource",
    "__version__",
    "configure_spark",
    "entity_time_range",
    "load_config",
    "load_repo",
    "point_in_time_join",
    "point_in_time_join_many",
]
