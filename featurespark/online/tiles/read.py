"""Online lookups of aggregation features: read the keys' items with ``BatchGetItem`` and evaluate them.

Spark-free (a Lambda can run it): :class:`~featurespark.online.reader.OnlineReader` reads the items
(deduplicated keys, requests of at most 100 keys, retries of unprocessed keys with the read policy),
:meth:`TiledLayout.decode` decodes them and :func:`~featurespark.online.tiles.lookup.evaluate` computes
each window value at the lookup time.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Mapping, Optional, Sequence, Union

from featurespark.online.items import Item
from featurespark.online.reader import OnlineReader
from featurespark.online.tiles.layout import TiledLayout
from featurespark.online.tiles.lookup import evaluate

logger = logging.getLogger(__name__)

__all__ = ["evaluate_items", "get_aggregates"]


def get_aggregates(
    reader: OnlineReader,
    table_name: str,
    layout: TiledLayout,
    entity_rows: Sequence[Mapping[str, Any]],
    at: Optional[Union[datetime, int, Sequence[Union[datetime, int]]]] = None,
) -> list[dict[str, Any]]:
    """Window values of entity rows as of a lookup time.

    Parameters
    ----------
    reader : OnlineReader
        The reader (one per process, reused).
    table_name : str
        The aggregation table.
    layout : TiledLayout
        The layout the items were written with.
    entity_rows : sequence of mappings
        Join-key values per entity.
    at : datetime, int or sequence of them, optional
        Lookup time (epoch microseconds or datetime), one for all rows or one per row; default now (UTC).

    Returns
    -------
    list of dict
        Output name to value, one dict per entity row, in order; keys without an item get the
        empty-window values (0 for counts, None otherwise).

    Raises
    ------
    StaleItemError
        If an item cannot answer exactly at its lookup time (see :func:`evaluate`).
    EntityKeyError, InvalidArgumentError, OnlineStoreError
        For bad entity rows, lookup times or DynamoDB failures.

    Examples
    --------
    >>> get_aggregates(reader, "fs_trips_agg", layout, [{"driver": 7}])  # doctest: +SKIP
    [{'fare_sum_1h': 42.5, 'fare_sum_7d': 310.0}]
    """
    from featurespark.errors import InvalidArgumentError

    if at is None or isinstance(at, (datetime, int)):
        times: Sequence[Any] = [at if at is not None else datetime.now(timezone.utc)] * len(entity_rows)
    else:
        times = list(at)
        if len(times) != len(entity_rows):
            raise InvalidArgumentError(f"Got {len(times)} lookup times for {len(entity_rows)} entity rows; give one "
                                       "time for all rows or one per row.")
    items = reader.get_items(table_name, dict(layout.keys), entity_rows)
    return evaluate_items(layout, items, times)


def evaluate_items(
    layout: TiledLayout, items: Sequence[Optional[Item]], times: Sequence[Union[datetime, int]]
) -> list[dict[str, Any]]:
    """Window values of read items (None: a key without an item) at one lookup time each; every item is
    decoded once however many rows share its key.

    Raises
    ------
    StaleItemError
        If an item cannot answer exactly at its lookup time (see :func:`evaluate`).
    """
    decoded: dict[str, Any] = {}
    results = []
    for item, t in zip(items, times):
        if item is None:
            results.append(evaluate(layout, None, t))
            continue
        pk = item["pk"]["S"]
        if pk not in decoded:
            decoded[pk] = layout.decode(item)
        results.append(evaluate(layout, decoded[pk], t))
    return results
