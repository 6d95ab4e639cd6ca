"""Catalog service: what is registered and where its data lives, from a registry state (no Spark).

Used by ``FeatureStore.describe`` and by the ``featurespark list`` / ``describe`` commands, which
read the registry snapshot without starting a Spark session.
"""
from __future__ import annotations

from typing import Any

from featurespark.config import Config
from featurespark.definitions import ManagedSource
from featurespark.errors import NotRegisteredError
from featurespark.registry.state import AGGREGATION_VIEW, ENTITY, FEATURE_VIEW, RegistryState
from featurespark.services.locations import managed_table_of, online_table_name

__all__ = ["describe_object"]


def describe_object(config: Config, state: RegistryState, name: str) -> dict[str, Any]:
    """Spec, version, storage and materialization state of a registered entity, feature view or aggregation view.

    An aggregation view also lists its features with their types (one per aggregation and window).

    Raises
    ------
    NotRegisteredError
        If nothing of that name is registered; the message lists what is.

    Examples
    --------
    >>> from featurespark.config import parse_config
    >>> describe_object(parse_config({"project": {"name": "p"}, "offline_store": {"root": "/x"}}), RegistryState(), "v")
    Traceback (most recent call last):
    ...
    featurespark.errors.NotRegisteredError: 'v' is not registered. Registered objects: (none).
    """
    for kind in (FEATURE_VIEW, AGGREGATION_VIEW, ENTITY):
        if (kind, name) not in state.specs:
            continue
        out: dict[str, Any] = {"kind": kind, "version": state.versions[(kind, name)], "spec": state.specs[(kind, name)]}
        if kind == FEATURE_VIEW:
            view = state.views[name]
            if isinstance(view.source, ManagedSource):
                table = managed_table_of(config, view)
                out["table"] = table.name
                out["location"] = table.path
            if view.online:
                out["online_table"] = online_table_name(config, view)
        if kind == AGGREGATION_VIEW:
            aggregation_view = state.aggregation_views[name]
            out["features"] = [f.to_dict() for f in aggregation_view.features]
            if aggregation_view.online:
                out["online_table"] = online_table_name(config, aggregation_view)
        if name in state.materialization:
            out["materialization"] = state.materialization[name]
        return out
    known = sorted(state.views) + sorted(state.aggregation_views) + sorted(state.entities)
    raise NotRegisteredError(f"'{name}' is not registered. Registered objects: {', '.join(known) or '(none)'}.")
