"""DynamoDB online store toolkit: item layout, tables, batch writer, materialization core and reader.

The modules take explicit parameters (table names, region, endpoint, types) and never read the
config or the registry; the services layer does. Names are imported lazily, so the reader and the
item codec load without Spark (:mod:`~featurespark.online.materialize` is the Spark side). See
``docs/online_item_layout.md`` for the item layout a non-Python service can read.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from featurespark._lazy import lazy_exports

if TYPE_CHECKING:
    from featurespark.online.client import dynamodb_client
    from featurespark.online.feature_types import FeatureType, feature_type_of, parse_feature_type
    from featurespark.online.items import (
        ItemLayout,
        decode_item,
        decode_partition_key,
        decode_value,
        encode_item,
        encode_partition_key,
        encode_value,
    )
    from featurespark.online.materialize import OnlineWriteSummary, latest_per_key, write_online
    from featurespark.online.reader import OnlineReader, TableRead
    from featurespark.online.tables import check_table, create_table, delete_table, ensure_table
    from featurespark.online.writer import WriterConfig

_EXPORTS = {
    "dynamodb_client": "featurespark.online.client",
    "FeatureType": "featurespark.online.feature_types",
    "feature_type_of": "featurespark.online.feature_types",
    "parse_feature_type": "featurespark.online.feature_types",
    "ItemLayout": "featurespark.online.items",
    "decode_item": "featurespark.online.items",
    "decode_partition_key": "featurespark.online.items",
    "decode_value": "featurespark.online.items",
    "encode_item": "featurespark.online.items",
    "encode_partition_key": "featurespark.online.items",
    "encode_value": "featurespark.online.items",
    "OnlineWriteSummary": "featurespark.online.materialize",
    "latest_per_key": "featurespark.online.materialize",
    "write_online": "featurespark.online.materialize",
    "OnlineReader": "featurespark.online.reader",
    "TableRead": "featurespark.online.reader",
    "check_table": "featurespark.online.tables",
    "create_table": "featurespark.online.tables",
    "delete_table": "featurespark.online.tables",
    "ensure_table": "featurespark.online.tables",
    "WriterConfig": "featurespark.online.writer",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
