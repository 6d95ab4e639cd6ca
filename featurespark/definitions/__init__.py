"""Definitions in code: entities, fields, sources and feature views."""
from featurespark.definitions.entity import Entity
from featurespark.definitions.feature_view import FeatureView
from featurespark.definitions.field import Field
from featurespark.definitions.sources import (
    DeltaSource,
    ManagedSource,
    ParquetSource,
    QuerySource,
    Source,
    TableSource,
)

__all__ = [
    "DeltaSource",
    "Entity",
    "FeatureView",
    "Field",
    "ManagedSource",
    "ParquetSource",
    "QuerySource",
    "Source",
    "TableSource",
]
