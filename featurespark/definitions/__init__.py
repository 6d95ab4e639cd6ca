"""Definitions in code: entities, fields, sources, feature views and aggregation views."""
from featurespark.definitions.aggregation_view import AggregationView
from featurespark.definitions.entity import Entity
from featurespark.definitions.feature_view import FeatureView
from featurespark.definitions.field import Field
from featurespark.definitions.sources import (
    DeltaSource,
    HudiSource,
    IcebergSource,
    JdbcSource,
    ManagedSource,
    ParquetSource,
    QuerySource,
    RedshiftSource,
    Source,
    TableSource,
)

__all__ = [
    "AggregationView",
    "DeltaSource",
    "Entity",
    "FeatureView",
    "Field",
    "HudiSource",
    "IcebergSource",
    "JdbcSource",
    "ManagedSource",
    "ParquetSource",
    "QuerySource",
    "RedshiftSource",
    "Source",
    "TableSource",
]
