"""Point-in-time joins: feature values as they were at each entity row's timestamp.

Public names:

* :func:`point_in_time_join` - one feature frame, ``entity_df.transform(point_in_time_join, ...)``;
* :func:`point_in_time_join_many` and :class:`PitView` - several views in one call;
* :func:`entity_time_range` and :class:`EntityTimeRange` - the one aggregate used to prune feature reads;
* :func:`local_copy` - a small entity frame's rows held in the plan, before a call scans them repeatedly.

See ``docs/point_in_time.md`` for the semantics and the algorithms.
"""
from __future__ import annotations

from featurespark.pit.api import (
    AUTO_RANGE_MAX_ENTITY_ROWS,
    point_in_time_join,
    point_in_time_join_many,
)
from featurespark.pit.time_range import EntityTimeRange, entity_time_range, local_copy
from featurespark.pit.view import PitView

__all__ = [
    "AUTO_RANGE_MAX_ENTITY_ROWS",
    "EntityTimeRange",
    "PitView",
    "entity_time_range",
    "local_copy",
    "point_in_time_join",
    "point_in_time_join_many",
]
