"""Window values of a key at a lookup time, from its decoded aggregation item (pure Python, no Spark).

The rule is the offline one (``docs/aggregations.md``): a window of length ``w`` at time ``t`` covers
the events with ``t - w <= event_ts < t``, lifetime every event before ``t``. For a finite window the
value merges the raw edge events with ``t - w <= ts < B`` and every tile starting at or after ``t - w``;
a tile with ``start < t - w < start + size`` would be cut, so such a lookup raises
:class:`~featurespark.errors.StaleItemError` instead of returning an approximate value.
"""
from __future__ import annotations

import heapq
import logging
import math
import operator
from bisect import bisect_left
from datetime import datetime
from functools import lru_cache, reduce
from typing import Any, Optional, Union

from featurespark.errors import StaleItemError
from featurespark.online.items import from_epoch_micros, to_epoch_micros
from featurespark.online.tiles.layout import DecodedTiles, TiledLayout, TiledOutput

logger = logging.getLogger(__name__)

__all__ = ["empty_values", "evaluate", "merge_partials", "spark_order"]


def spark_order(value: Any) -> tuple[Any, ...]:
    """Sort key of a non-null value as Spark orders it: NaN above every number, ``-0.0`` equal to ``0.0``.

    Examples
    --------
    >>> sorted([float("nan"), 1.0, -2.0], key=spark_order)
    [-2.0, 1.0, nan]
    """
    if isinstance(value, float):
        return (1, 0.0) if math.isnan(value) else (0, value + 0.0)
    return (0, value)


def _event_order(pair: tuple[int, Any]) -> tuple[Any, ...]:
    """Tie rule: by event time, then by value (the greater value counts as the newer)."""
    return (pair[0], spark_order(pair[1]))


def merge_partials(function: str, a: Any, b: Any, k: Optional[int] = None) -> Any:
    """Merge two partial aggregates of one output (None is the empty partial).

    Examples
    --------
    >>> merge_partials("variance", (2, 1.0, 2.0), (1, 4.0, 0.0))
    (3, 2.0, 8.0)
    >>> merge_partials("last_k", [(5, "b"), (1, "a")], [(5, "c")], k=2)
    [(5, 'c'), (5, 'b')]
    """
    if a is None:
        return b
    if b is None:
        return a
    if function in ("count", "sum"):
        return a + b
    if function == "mean":
        return a[0] + b[0], a[1] + b[1]
    if function in ("variance", "stddev"):
        # Chan et al.'s parallel update: stable for values far from zero (no sum of squares).
        (na, ma, qa), (nb, mb, qb) = a, b
        n = na + nb
        delta = mb - ma
        return n, ma + delta * nb / n, qa + qb + delta * delta * na * nb / n
    if function == "min":
        return a if spark_order(a) <= spark_order(b) else b
    if function == "max":
        return a if spark_order(a) >= spark_order(b) else b
    if function == "first":
        return a if _event_order(a) <= _event_order(b) else b
    if function == "last":
        return a if _event_order(a) >= _event_order(b) else b
    if function == "last_k":
        assert k is not None
        return heapq.nlargest(k, [*a, *b], key=_event_order)
    if function == "approx_count_distinct":
        return set(a) | set(b)
    raise ValueError(f"unknown function {function!r}")  # pragma: no cover


def _single(output: TiledOutput, ts: int, value: Any) -> Any:
    """The partial of one raw event (value not null)."""
    f = output.function
    if f == "count":
        return 1
    if f == "sum":
        return value if output.output_type == "int64" else float(value)
    if f == "mean":
        return 1, value if output.column_type.startswith("int") else float(value)
    if f in ("variance", "stddev"):
        return 1, float(value), 0.0
    if f in ("min", "max"):
        return value
    if f in ("first", "last"):
        return ts, value
    if f == "last_k":
        return [(ts, value)]
    if f == "approx_count_distinct":
        return {value}
    raise ValueError(f"unknown function {f!r}")  # pragma: no cover


def _finish(output: TiledOutput, partial: Any) -> Any:
    f = output.function
    if f == "count":
        return partial or 0
    if f == "approx_count_distinct":
        return len(set(partial)) if partial else 0
    if partial is None:
        return None
    if f in ("sum", "min", "max"):
        return partial
    if f == "mean":
        n, total = partial
        return total / n  # int / int rounds correctly in Python
    if f in ("variance", "stddev"):
        n, mean, m2 = partial
        if n < 2:
            return None
        if not (math.isfinite(mean) and math.isfinite(m2)):
            return math.nan
        var = max(m2 / (n - 1), 0.0)
        return var if f == "variance" else math.sqrt(var)
    if f in ("first", "last"):
        return partial[1]
    if f == "last_k":
        return [v for _, v in partial]
    raise ValueError(f"unknown function {f!r}")  # pragma: no cover


def empty_values(layout: TiledLayout) -> dict[str, Any]:
    """The values of a key without events: 0 for ``count`` and ``approx_count_distinct``, None otherwise.

    Examples
    --------
    >>> from datetime import timedelta
    >>> from featurespark.aggregations import Aggregation
    >>> layout = TiledLayout.build({"k": "string"}, {"x": "float64"},
    ...     [Aggregation("x", "count", ["1h"]), Aggregation("x", "max", ["1h"])], horizon=timedelta(hours=1))
    >>> empty_values(layout)
    {'x_count_1h': 0, 'x_max_1h': None}
    """
    return {o.name: _finish(o, None) for o in layout.outputs}


def evaluate(
    layout: TiledLayout, item: Optional[DecodedTiles], at: Union[int, datetime]
) -> dict[str, Any]:
    """Every output's value at lookup time ``at``, with the offline boundary rule.

    Parameters
    ----------
    layout : TiledLayout
        The layout the item was written with.
    item : DecodedTiles or None
        The key's decoded item; None when the key has no item (its values are the empty-window ones).
    at : int or datetime
        Lookup time (epoch microseconds, or a datetime; naive means UTC).

    Returns
    -------
    dict
        Output name to value, in layout order.

    Raises
    ------
    StaleItemError
        If ``at`` is before the item's ``end``, or a window's lower edge ``at - w`` falls inside a tile
        (the item is older than ``end + horizon`` and the key has events near that edge).

    Examples
    --------
    >>> from datetime import timedelta
    >>> from featurespark.aggregations import Aggregation
    >>> layout = TiledLayout.build({"k": "int64"}, {"x": "int64"}, [Aggregation("x", "sum", ["10us"])],
    ...     horizon=timedelta(microseconds=2), tile_sizes={"10us": timedelta(microseconds=4)})
    >>> item = DecodedTiles(key=(1,), end=20, raw=[(10, 1), (11, 2)], tile_sets=((12, [(12, 4), (16, 8)]),),
    ...                     lifetime=())
    >>> [evaluate(layout, item, t)["x_sum_10us"] for t in (20, 21, 22)]
    [15, 14, 12]
    """
    t = to_epoch_micros(at, what="lookup time")
    if item is None:
        return empty_values(layout)
    if t < item.end:
        raise StaleItemError(
            f"Lookup at {from_epoch_micros(t).isoformat()} is before the end of the events the item of key "
            f"{item.key!r} covers ({from_epoch_micros(item.end).isoformat()}); online items answer lookups from "
            f"their end on. Use the offline store for earlier times."
        )
    plan = _plan(layout)
    raw_times = [event[0] for event in item.raw]
    starts = [[tile[0] for tile in tiles] for _, tiles in item.tile_sets]  # bisect has key= only from 3.10
    result: dict[str, Any] = {}
    for output, set_index, position, column in plan:
        if set_index is None:
            result[output.name] = _finish(output, item.lifetime[position - 1])
            continue
        window = output.window
        assert window is not None
        bound, tiles = item.tile_sets[set_index]
        low = t - window
        first = bisect_left(starts[set_index], low)
        if first > 0 and low < tiles[first - 1][0] + layout.tile_sizes[set_index][1] \
                and tiles[first - 1][position] is not None:
            raise StaleItemError(
                f"The item of key {item.key!r} (events before {from_epoch_micros(item.end).isoformat()}) cannot "
                f"give {output.name!r} exactly at {from_epoch_micros(t).isoformat()}: the window's edge falls in a "
                f"tile of {layout.tile_sizes[set_index][1]} us that holds events. Materialize more often than the "
                f"layout's horizon ({layout.horizon_micros} us) or lengthen the horizon."
            )
        partials = [tile[position] for tile in tiles[first:] if tile[position] is not None]
        low_raw, high_raw = bisect_left(raw_times, low), bisect_left(raw_times, bound)
        partials += [_single(output, event[0], event[column]) for event in item.raw[low_raw:high_raw]
                     if event[column] is not None]
        result[output.name] = _finish(output, _merge_all(output, partials))
    return result


@lru_cache(maxsize=64)
def _plan(layout: TiledLayout) -> list[tuple[TiledOutput, Optional[int], int, int]]:
    """Per output: its tile set index (None: lifetime), its position in a tile (or lifetime index + 1), and
    its raw input position (cached per layout: lookups repeat it for every key)."""
    inputs = {entry: index + 1 for index, entry in enumerate(layout.raw_inputs)}
    windows = [w for w, _ in layout.tile_sizes]
    lifetime = list(layout.set_outputs(None))
    plan: list[tuple[TiledOutput, Optional[int], int, int]] = []
    for output in layout.outputs:
        if output.window is None:
            plan.append((output, None, lifetime.index(output) + 1, 0))
            continue
        column = inputs[(output.column, "hash" if output.function == "approx_count_distinct" else "value")]
        plan.append((output, windows.index(output.window), layout.set_outputs(output.window).index(output) + 1,
                     column))
    return plan


def _merge_all(output: TiledOutput, partials: list[Any]) -> Any:
    """Merge non-null partials in one pass per function (the lookup's hot loop)."""
    if not partials:
        return None
    f = output.function
    if f in ("count", "sum"):
        return reduce(operator.add, partials)
    if f == "mean":
        return sum(p[0] for p in partials), reduce(operator.add, (p[1] for p in partials))
    if f == "min":
        return min(partials, key=spark_order)
    if f == "max":
        return max(partials, key=spark_order)
    if f == "first":
        return min(partials, key=_event_order)
    if f == "last":
        return max(partials, key=_event_order)
    if f == "last_k":
        assert output.k is not None
        return heapq.nlargest(output.k, (pair for p in partials for pair in p), key=_event_order)
    if f == "approx_count_distinct":
        return set().union(*partials)
    return reduce(lambda a, b: merge_partials(f, a, b, output.k), partials)
