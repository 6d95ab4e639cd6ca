"""Feature references (``"view:feature"`` or ``"view"``) and output column names.

A reference names a feature view or an aggregation view (one namespace): ``"driver_hourly_stats:conv_rate"``,
``"driver_trip_aggs:fare_sum_7d"``, or a bare view name for all of its features.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Generic, Mapping, Sequence, TypeVar

from featurespark.definitions import AggregationView, FeatureView
from featurespark.definitions.views import AnyView
from featurespark.errors import InvalidArgumentError, NotRegisteredError

logger = logging.getLogger(__name__)

__all__ = ["ViewSelection", "resolve_references"]

#: The kind of view a mapping holds (a caller passing feature views only gets selections of feature views).
V = TypeVar("V", bound=AnyView)


@dataclass(frozen=True)
class ViewSelection(Generic[V]):
    """The features requested from one view (a feature view or an aggregation view) and their output column
    names, in request order."""

    view: V
    features: tuple[str, ...]
    output_names: tuple[str, ...]

    @property
    def references(self) -> list[str]:
        """The requested ``view:feature`` references."""
        return [f"{self.view.name}:{f}" for f in self.features]


def resolve_references(
    references: Sequence[str],
    views: Mapping[str, V],
    *,
    full_feature_names: bool = False,
) -> list[ViewSelection[V]]:
    """Group feature references by view and name the output columns.

    Parameters
    ----------
    references : sequence of str
        ``"view:feature"``, or ``"view"`` for all of its features. Repeats are ignored.
    views : mapping
        Registered feature views and aggregation views by name.
    full_feature_names : bool
        Name outputs ``view__feature`` instead of ``feature``.

    Returns
    -------
    list of ViewSelection
        One per view, in order of first mention.

    Raises
    ------
    InvalidArgumentError
        Malformed references, unknown features, or output names that clash across views.
    NotRegisteredError
        Unknown views.

    Examples
    --------
    >>> from featurespark.definitions import Entity, Field
    >>> stats = FeatureView(name="stats", entities=[Entity("d", join_keys={"d_id": "int64"})],
    ...                     schema=[Field("rate", "float64"), Field("trips", "int64")])
    >>> [s.output_names for s in resolve_references(["stats:rate"], {"stats": stats})]
    [('rate',)]
    >>> [s.output_names for s in resolve_references(["stats"], {"stats": stats}, full_feature_names=True)]
    [('stats__rate', 'stats__trips')]
    >>> from featurespark.aggregations import Aggregation
    >>> from featurespark.definitions import ManagedSource
    >>> aggs = AggregationView("aggs", [Entity("d", join_keys={"d_id": "int64"})], ManagedSource(),
    ...                        [Field("fare", "float64")], [Aggregation("fare", "sum", windows=["1h", "7d"])])
    >>> [s.features for s in resolve_references(["aggs:fare_sum_7d", "stats:rate"], {"stats": stats, "aggs": aggs})]
    [('fare_sum_7d',), ('rate',)]
    """
    if isinstance(references, str) or not references:
        raise InvalidArgumentError(
            f"features must be a non-empty list of 'view:feature' or 'view' references, found {references!r}."
        )
    chosen: dict[str, list[str]] = {}
    for ref in references:
        if not isinstance(ref, str) or ref.count(":") > 1 or not ref.strip(":") or ref.startswith(":"):
            raise InvalidArgumentError(f"Feature reference {ref!r} is malformed: use 'view:feature' or 'view'.")
        view_name, _, feature = ref.partition(":")
        if view_name not in views:
            raise NotRegisteredError(
                f"Feature reference {ref!r} names view '{view_name}', which is not registered. Registered views: "
                f"{', '.join(sorted(views)) or '(none)'}."
            )
        view = views[view_name]
        wanted = [feature] if feature else view.feature_names
        for name in wanted:
            if name not in view.feature_names:
                raise InvalidArgumentError(
                    f"Feature reference {ref!r}: view '{view_name}' has no feature '{name}'. Its features are: "
                    f"{', '.join(view.feature_names)}."
                )
            picked = chosen.setdefault(view_name, [])
            if name not in picked:
                picked.append(name)
    selections = [
        ViewSelection(
            view=views[name],
            features=tuple(features),
            output_names=tuple(f"{name}__{f}" if full_feature_names else f for f in features),
        )
        for name, features in chosen.items()
    ]
    _check_clashes(selections)
    return selections


def _check_clashes(selections: Sequence[ViewSelection[V]]) -> None:
    owners: dict[str, str] = {}
    for sel in selections:
        for out in sel.output_names:
            if out in owners:
                raise InvalidArgumentError(
                    f"Feature '{out}' is requested from both '{owners[out]}' and '{sel.view.name}'. Pass "
                    "full_feature_names=True to name outputs 'view__feature', or request only one of them."
                )
            owners[out] = sel.view.name
