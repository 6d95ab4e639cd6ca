"""Windowed aggregation features: aggregates of events over time windows, point-in-time correct.

Public names:

* :class:`Aggregation` - what to aggregate (column, function, windows), with :data:`FUNCTIONS`;
* :func:`window_aggregate_as_of` - ``entity_df.transform(window_aggregate_as_of, events_df, ...)``.

A toolkit: pure functions with explicit parameters, no registry or config. See ``docs/aggregations.md``
for the semantics, the algorithm and its cost.
"""
from __future__ import annotations

from featurespark.aggregations.api import window_aggregate_as_of
from featurespark.aggregations.hot_keys import DEFAULT_HOT_KEY_BUCKETS, DEFAULT_HOT_KEY_SHARE
from featurespark.aggregations.spec import (
    FUNCTIONS,
    LIFETIME,
    AggregateFunction,
    Aggregation,
    AggregationWindow,
    output_dtype,
    parse_window,
)

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
