"""Either kind of view, for the code that treats feature views and aggregation views alike.

Both have a name, entities and join keys (``entity_columns`` with ``join_key_map``), a source with
its timestamp fields, and named features: the registry stores both in one namespace, source reading
and checking take either, and a training set mixes them.
"""
from __future__ import annotations

from typing import Union

from featurespark.definitions.aggregation_view import AggregationView
from featurespark.definitions.feature_view import FeatureView

__all__ = ["AnyView"]

#: A feature view or an aggregation view.
AnyView = Union[FeatureView, AggregationView]
