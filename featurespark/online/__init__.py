"""DynamoDB online store: item layout, tables, batch writer, materialization core and reader.

The modules are usable on their own with explicit parameters; the public names are re-exported here.
See ``docs/online_item_layout.md`` for the item layout a non-Python service can read.
"""
from __future__ import annotations

from featurespark.online.client import dynamodb_client
from featurespark.online.errors import (
    DynamoEndpointError,
    EntityKeyError,
    ItemEncodingError,
    ItemTooLargeError,
    OnlineStoreError,
    RetriesExhaustedError,
    TableNotFoundError,
    TableSchemaError,
)
from featurespark.online.feature_types import FeatureType, feature_type_of, parse_feature_type
from featurespark.online.items import (
    decode_item,
    decode_partition_key,
    decode_value,
    encode_item,
    encode_partition_key,
    encode_value,
)
from featurespark.online.materialize import WriteSummary, latest_per_key, write_online
from featurespark.online.reader import OnlineReader, TableRead
from featurespark.online.tables import check_table, create_table, delete_table, ensure_table
from featurespark.online.writer import WriterConfig

__all__ = [
    "DynamoEndpointError",
    "EntityKeyError",
    "FeatureType",
    "ItemEncodingError",
    "ItemTooLargeError",
    "OnlineReader",
    "OnlineStoreError",
    "RetriesExhaustedError",
    "TableNotFoundError",
    "TableRead",
    "TableSchemaError",
    "WriteSummary",
    "WriterConfig",
    "check_table",
    "create_table",
    "decode_item",
    "decode_partition_key",
    "decode_value",
    "delete_table",
    "dynamodb_client",
    "encode_item",
    "encode_partition_key",
    "encode_value",
    "ensure_table",
    "feature_type_of",
    "latest_per_key",
    "parse_feature_type",
    "write_online",
]
