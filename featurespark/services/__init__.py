"""Services: the use cases, each orchestrating toolkits with the config and the registry.

| module | use case |
| --- | --- |
| :mod:`~featurespark.services.apply` | plan and apply definitions, create their tables |
| :mod:`~featurespark.services.training` | point-in-time training sets from registered views |
| :mod:`~featurespark.services.training_manifest` | write a training set with its manifest, read a manifest |
| :mod:`~featurespark.services.materialize` | latest values from the offline store into DynamoDB |
| :mod:`~featurespark.services.push` | one batch into both stores |
| :mod:`~featurespark.services.stream` | every micro-batch of a stream into both stores |
| :mod:`~featurespark.services.serving` | online lookups (no Spark: :class:`FeatureServer`) |

Services are the only layer that reads :class:`~featurespark.config.Config` and the registry; the
toolkits below them (``pit``, ``offline``, ``online``, ``registry``, ``streaming``) take explicit
parameters, and :class:`~featurespark.store.FeatureStore` above them is a thin facade.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from featurespark._lazy import lazy_exports

if TYPE_CHECKING:
    from featurespark.services.push import PushSummary
    from featurespark.services.serving import FeatureServer, OnlineResponse
    from featurespark.services.stream import FeatureStream
    from featurespark.services.training import HistoricalRetrieval, SourceRead

__all__ = ["FeatureServer", "FeatureStream", "HistoricalRetrieval", "OnlineResponse", "PushSummary", "SourceRead"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "FeatureServer": "featurespark.services.serving",
        "OnlineResponse": "featurespark.services.serving",
        "FeatureStream": "featurespark.services.stream",
        "PushSummary": "featurespark.services.push",
        "HistoricalRetrieval": "featurespark.services.training",
        "SourceRead": "featurespark.services.training",
    },
)
