"""Domain errors raised by featurespark.

Every error subclasses :class:`FeaturesparkError`. Errors caused by bad input also
subclass :class:`ValueError`, so callers that already catch ``ValueError`` keep working.
Messages say what was found, where, and how to fix it.
"""
from __future__ import annotations

__all__ = [
    "ConfigError", "DefinitionError", "DynamoEndpointError", "EntityKeyError", "FeaturesparkError",
    "InvalidArgumentError", "InvalidRowsError", "ItemEncodingError", "ItemTooLargeError",
    "NotRegisteredError", "NullValueError", "OnlineStoreError", "RegistryError", "RetriesExhaustedError",
    "SchemaMismatchError", "SourceNotFoundError", "SourceSchemaError", "StaleItemError", "StreamFailedError",
    "TableNotFoundError",
    "TableSchemaError", "TimeTravelError", "WriteConflictError",
]


class FeaturesparkError(Exception):
    """Base class of every error featurespark raises on purpose."""


class ConfigError(FeaturesparkError, ValueError):
    """A configuration file is missing, unreadable, or does not match the expected schema."""


class DefinitionError(FeaturesparkError, ValueError):
    """An entity, field, source or feature view definition is invalid."""


class RegistryError(FeaturesparkError):
    """The registry could not be read or written, or an object is not registered."""


class NotRegisteredError(RegistryError, KeyError):
    """A name was looked up in the registry and is not there."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class SourceSchemaError(FeaturesparkError, ValueError):
    """A feature view does not match the schema of its source (missing column, wrong type)."""


class SourceNotFoundError(FeaturesparkError, ValueError):
    """A feature view's source (a table, a path, a database) does not exist or cannot be reached."""


class SchemaMismatchError(FeaturesparkError, ValueError):
    """A DataFrame handed to featurespark lacks a column or has an incompatible type."""


class NullValueError(FeaturesparkError, ValueError):
    """A column that must not hold nulls (a timestamp, a key) holds some."""


class InvalidArgumentError(FeaturesparkError, ValueError):
    """An argument to a featurespark function is out of range or inconsistent."""


class InvalidRowsError(FeaturesparkError, ValueError):
    """Rows of a batch failed validation and ``on_invalid="fail"`` was asked for; nothing was written.

    Attributes
    ----------
    counts : dict
        Number of rejected rows per reason.
    samples : list of dict
        A few rejected rows, with their reason.
    """

    def __init__(self, message: str, counts: dict[str, int], samples: list[dict[str, object]]) -> None:
        super().__init__(message)
        self.counts = counts
        self.samples = samples


class WriteConflictError(FeaturesparkError):
    """A Delta write kept conflicting with concurrent writers after the allowed retries."""


class TimeTravelError(FeaturesparkError, ValueError):
    """A requested table version or timestamp does not exist."""


class StreamFailedError(FeaturesparkError):
    """A streaming query stopped with an error; its checkpoint lets a rerun resume the unfinished batch."""


# --- online store (DynamoDB) ------------------------------------------------------------
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


class StaleItemError(OnlineStoreError):
    """An aggregation item cannot give exact window values at the lookup time asked for.

    It covers events before its ``end`` and keeps raw events for lookups until ``end + horizon``:
    a lookup before ``end``, or one so late that a window edge cuts through a tile, needs a new
    materialization (or the offline store).
    """
