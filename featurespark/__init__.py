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
from featurespark.registry import Plan, Registry
from featurespark.repo import load_repo
from featurespark.session import configure_spark
from featurespark.store import FeatureStore

__version__ = "0.1.0"

__all__ = [
    "Config",
    "DeltaSource",
    "Entity",
    "FeatureStore",
    "FeatureView",
    "FeaturesparkError",
    "Field",
    "ManagedSource",
    "ParquetSource",
    "Plan",
    "QuerySource",
    "Registry",
    "TableSource",
    "__version__",
    "configure_spark",
    "load_config",
    "load_repo",
]
