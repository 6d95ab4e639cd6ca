"""Windowed aggregation features: aggregates of events over time windows, point-in-time correct.

Public names:

* :class:`Aggregation` - what to aggregate (column, function, windows), with :data:`FUNCTIONS`;
* :func:`window_aggregate_as_of` - ``entity_df.transform(window_aggregate_as_of, events_df, ...)``.

A toolkit: pure functions with explicit parameters, no registry or config. The definitions
(:class:`Aggregation`) import no Spark; the engine is imported on first use. See ``docs/aggregations.md``
for the semantics, the algorithm and its cost.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from featurespark._lazy import lazy_exports
from featurespark.aggregations.spec import (
    FUNCTIONS,
    LIFETIME,
    AggregateFunction,
    Aggregation,
    AggregationWindow,
    output_dtype,
    parse_window,
)

if TYPE_CHECKING:  # the engine imports Spark; the definitions above do not
    from featurespark.aggregations.api import window_aggregate_as_of
    from featurespark.aggregations.hot_keys import DEFAULT_HOT_KEY_BUCKETS, DEFAULT_HOT_KEY_SHARE

_LAZY = {
    "window_aggregate_as_of": "featurespark.aggregations.api",
    "DEFAULT_HOT_KEY_BUCKETS": "featurespark.aggregations.hot_keys",
    "DEFAULT_HOT_KEY_SHARE": "featurespark.aggregations.hot_keys",
}
__getattr__, _lazy_dir = lazy_exports(__name__, _LAZY)

__all__ = [
    "DEFAULT_HOT_KEY_BUCKETS",
    "DEFAULT_HOT_KEY_SHARE",
    "FUNCTIONS",
    "LIFETIME",
    "AggregateFunction",
    "Aggregation",
    "AggregationWindow",
    "output_dtype",
    "parse_window",
    "window_aggregate_as_of",
]


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
