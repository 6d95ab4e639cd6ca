"""featurespark: a Spark-native feature store for Amazon EMR.

The stable public API is re-exported here; everything else is internal.

Names are imported lazily (PEP 562): ``import featurespark`` loads no Spark, pandas or pyarrow, so the
light command line (``featurespark emr ...``) runs where only boto3 and pyyaml are installed (a laptop,
a CI runner). ``from featurespark import FeatureStore`` imports what that name needs, on first use.
To add a public name, add it to :data:`_EXPORTS` (name -> module); ``__all__`` follows.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "Config": "featurespark.config",
    "load_config": "featurespark.config",
    "DeltaSource": "featurespark.definitions",
    "Entity": "featurespark.definitions",
    "FeatureView": "featurespark.definitions",
    "Field": "featurespark.definitions",
    "ManagedSource": "featurespark.definitions",
    "ParquetSource": "featurespark.definitions",
    "QuerySource": "featurespark.definitions",
    "TableSource": "featurespark.definitions",
    "FeaturesparkError": "featurespark.errors",
    "EntityTimeRange": "featurespark.pit",
    "PitView": "featurespark.pit",
    "entity_time_range": "featurespark.pit",
    "point_in_time_join": "featurespark.pit",
    "point_in_time_join_many": "featurespark.pit",
    "Plan": "featurespark.registry",
    "Registry": "featurespark.registry",
    "load_repo": "featurespark.repo",
    "configure_spark": "featurespark.session",
    "FeatureStore": "featurespark.store",
}

__all__ = sorted([*_EXPORTS, "__version__"])

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ imports on first use
    from featurespark.config import Config, load_config
    from featurespark.definitions import (
        DeltaSource,
        Entity,
        FeatureView,
        Field,
        ManagedSource,
        ParquetSource,
        QuerySource,
        TableSource,
    )
    from featurespark.errors import FeaturesparkError
    from featurespark.pit import (
        EntityTimeRange,
        PitView,
        entity_time_range,
        point_in_time_join,
        point_in_time_join_many,
    )
    from featurespark.registry import Plan, Registry
    from featurespark.repo import load_repo
    from featurespark.session import configure_spark
    from featurespark.store import FeatureStore


def __getattr__(name: str) -> Any:
    """Import a public name on first access (PEP 562) and cache it in the module."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'featurespark' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
