"""Errors of the DynamoDB online store (defined in :mod:`featurespark.errors`, re-exported here).

All subclass :class:`featurespark.errors.FeaturesparkError`; those caused by bad input also subclass
:class:`ValueError`.
"""
from __future__ import annotations

from featurespark.errors import (
    DynamoEndpointError,
    EntityKeyError,
    ItemEncodingError,
    ItemTooLargeError,
    OnlineStoreError,
    RetriesExhaustedError,
    TableNotFoundError,
    TableSchemaError,
)

__all__ = [
    "DynamoEndpointError",
    "EntityKeyError",
    "ItemEncodingError",
    "ItemTooLargeError",
    "OnlineStoreError",
    "RetriesExhaustedError",
    "TableNotFoundError",
    "TableSchemaError",
]
