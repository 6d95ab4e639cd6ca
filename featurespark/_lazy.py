"""Lazy re-exports for package ``__init__`` modules (PEP 562).

A package lists its public names with the module defining each; a name is imported on first use.
This keeps ``import featurespark.x`` from importing Spark, pandas or pyarrow where a caller needs
none of them (the ``featurespark emr`` command, online lookups in a Lambda).
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping


def lazy_exports(package: str, names: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for a package that re-exports ``names`` (name -> module).

    Examples
    --------
    >>> getattr_, dir_ = lazy_exports("pkg", {"join_path": "featurespark._paths"})
    >>> getattr_("join_path")("a", "b")
    'a/b'
    >>> getattr_("missing")
    Traceback (most recent call last):
    ...
    AttributeError: module 'pkg' has no attribute 'missing'
    """
    table = dict(names)

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    def __dir__() -> list[str]:
        return sorted(table)

    return __getattr__, __dir__
