"""Windowed aggregation features online: tiled items in DynamoDB, built by Spark, read without Spark.

* :class:`TiledLayout` - what an item holds for a view's aggregations (tile sizes, horizon) and its codec;
* :func:`tile_rows`, :func:`write_tiles`, :func:`materialize_tiles` - build items from events and write
  them (Spark);
* :func:`evaluate` - window values of a decoded item at a lookup time (pure Python);
* :func:`get_aggregates` - read items with ``BatchGetItem`` and evaluate them.

A toolkit: explicit parameters, no config or registry. The layout is specified in
``docs/online_item_layout.md`` ("Aggregation items") for services without featurespark.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from featurespark._lazy import lazy_exports

if TYPE_CHECKING:
    from featurespark.online.tiles.build import materialize_tiles, tile_rows, write_tiles
    from featurespark.online.tiles.layout import DecodedTiles, TiledLayout, TiledOutput, default_tile_micros
    from featurespark.online.tiles.lookup import empty_values, evaluate
    from featurespark.online.tiles.read import evaluate_items, get_aggregates

_EXPORTS = {
    "materialize_tiles": "featurespark.online.tiles.build",
    "tile_rows": "featurespark.online.tiles.build",
    "write_tiles": "featurespark.online.tiles.build",
    "DecodedTiles": "featurespark.online.tiles.layout",
    "TiledLayout": "featurespark.online.tiles.layout",
    "TiledOutput": "featurespark.online.tiles.layout",
    "default_tile_micros": "featurespark.online.tiles.layout",
    "empty_values": "featurespark.online.tiles.lookup",
    "evaluate": "featurespark.online.tiles.lookup",
    "evaluate_items": "featurespark.online.tiles.read",
    "get_aggregates": "featurespark.online.tiles.read",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
