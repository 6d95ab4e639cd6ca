"""Errors of the DynamoDB online store.

All subclass :class:`featurespark.errors.FeaturesparkError`; those caused by bad input also subclass
:class:`ValueError`. Kept here until they move to :mod:`featurespark.errors`.
"""
from __future__ import annotations

from featurespark.errors import FeaturesparkError


class OnlineStoreError(FeaturesparkError):
    """Base class of the online-store errors."""


class ItemEncodingError(OnlineStoreError, ValueError):
    """A value does not fit its declared feature or key type, or a type name is unknown."""


class ItemTooLargeError(OnlineStoreError, ValueError):
    """An encoded item is over DynamoDB's 400 KB item size limit."""


class EntityKeyError(OnlineStoreError, ValueError):
    """An entity row passed to the reader lacks a join key or holds one of the wrong type."""


class TableSchemaError(OnlineStoreError, ValueError):
    """An existing table does not have the key schema (or TTL attribute) the online store needs."""


class TableNotFoundError(OnlineStoreError):
    """The DynamoDB table does not exist at the endpoint and region used."""


class DynamoEndpointError(OnlineStoreError):
    """The DynamoDB endpoint cannot be reached (wrong URL, service down, no network)."""


class RetriesExhaustedError(OnlineStoreError):
    """DynamoDB kept throttling or leaving items unprocessed after the allowed number of retries."""
