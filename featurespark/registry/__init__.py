"""The registry of definitions, kept as a Delta table with the data, and its snapshot.

- :class:`Registry` (Spark): plan, apply, history and materialization state on the Delta log.
- :func:`load_snapshot` (no Spark): the live definitions and watermarks from the snapshot file.
- :class:`RegistryState`, :class:`Plan`: what both return.
- :func:`resolve_references`: ``"view:feature"`` references against registered views.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from featurespark._lazy import lazy_exports

if TYPE_CHECKING:
    from featurespark.registry.diff import Change, Plan, spec_diff
    from featurespark.registry.references import ViewSelection, resolve_references
    from featurespark.registry.registry import Registry
    from featurespark.registry.snapshot import load_snapshot
    from featurespark.registry.state import RegistryRecord, RegistryState

__all__ = [
    "Change",
    "Plan",
    "Registry",
    "RegistryRecord",
    "RegistryState",
    "ViewSelection",
    "load_snapshot",
    "resolve_references",
    "spec_diff",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Change": "featurespark.registry.diff",
        "Plan": "featurespark.registry.diff",
        "spec_diff": "featurespark.registry.diff",
        "Registry": "featurespark.registry.registry",
        "RegistryRecord": "featurespark.registry.state",
        "RegistryState": "featurespark.registry.state",
        "load_snapshot": "featurespark.registry.snapshot",
        "ViewSelection": "featurespark.registry.references",
        "resolve_references": "featurespark.registry.references",
    },
)
