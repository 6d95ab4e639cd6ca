"""Differences between registered specs and definitions in code."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional

__all__ = ["Change", "Plan", "spec_diff"]


def spec_diff(old: Any, new: Any, path: str = "") -> list[dict[str, Any]]:
    """List the leaf-level changes from ``old`` to ``new`` (plain JSON-like values).

    Lists of named objects (``[{"name": ...}, ...]``) are compared by name, so a changed
    feature type reads ``schema.conv_rate.dtype: float32 -> float64``.

    Examples
    --------
    >>> spec_diff({"ttl_seconds": 60}, {"ttl_seconds": 120})
    [{'path': 'ttl_seconds', 'old': 60, 'new': 120}]
    >>> spec_diff({"aggregations": [{"name": None, "windows": ["1h"]}, {"name": None, "windows": ["1d"]}]},
    ...           {"aggregations": [{"name": None, "windows": ["2h"]}, {"name": None, "windows": ["1d"]}]})
    [{'path': 'aggregations', 'old': [{'name': None, 'windows': ['1h']}, {'name': None, 'windows': ['1d']}], 'new': [{'name': None, 'windows': ['2h']}, {'name': None, 'windows': ['1d']}]}]
    """
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[dict[str, Any]] = []
        for key in list(old) + [k for k in new if k not in old]:
            sub = f"{path}.{key}" if path else str(key)
            out.extend(spec_diff(old.get(key), new.get(key), sub))
        return out
    if _named_list(old) and _named_list(new):
        return spec_diff({o["name"]: o for o in old}, {n["name"]: n for n in new}, path) + _order_change(
            old, new, path
        )
    if old != new:
        return [{"path": path, "old": old, "new": new}]
    return []


def _named_list(value: Any) -> bool:
    """A non-empty list of dicts with distinct string names (an aggregation's ``name`` may be None: such
    lists are compared position by position)."""
    if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
        return False
    names = [v.get("name") for v in value]
    return all(isinstance(n, str) for n in names) and len(set(names)) == len(names)


def _order_change(old: list[dict[str, Any]], new: list[dict[str, Any]], path: str) -> list[dict[str, Any]]:
    old_order = [o["name"] for o in old]
    new_order = [n["name"] for n in new]
    common = set(old_order) & set(new_order)
    if [n for n in old_order if n in common] != [n for n in new_order if n in common]:
        return [{"path": f"{path} (order)", "old": old_order, "new": new_order}]
    return []


@dataclass(frozen=True)
class Change:
    """One object's change in a plan.

    Attributes
    ----------
    kind : str
        ``entity``, ``feature_view``, ``aggregation_view`` or ``materialization`` (a view's watermark, reset when the view is
        deleted or a new view reuses its name).
    name : str
        Object name.
    op : str
        ``create``, ``update``, ``delete`` or ``unchanged``.
    diff : list of dict
        Leaf changes (``path``, ``old``, ``new``); empty for create/delete/unchanged.
    spec : dict or None
        The new spec (None for delete).
    """

    kind: str
    name: str
    op: str
    diff: tuple[dict[str, Any], ...] = ()
    spec: Optional[dict[str, Any]] = None

    def describe(self) -> list[str]:
        """Human lines, as ``featurespark plan`` prints them."""
        sign = {"create": "+", "update": "~", "delete": "-", "unchanged": " "}[self.op]
        lines = [f"{sign} {self.kind} {self.name} ({self.op})"]
        for d in self.diff:
            lines.append(f"    {d['path']}: {json.dumps(d['old'])} -> {json.dumps(d['new'])}")
        return lines


@dataclass(frozen=True)
class Plan:
    """What ``apply`` would do: one :class:`Change` per object, in a stable order.

    Attributes
    ----------
    changes : tuple of Change
        One per entity and feature view.
    storage : tuple of str
        What happens to the objects' tables (columns added or kept, tables kept or dropped on delete).
    """

    changes: tuple[Change, ...]
    storage: tuple[str, ...] = ()

    @property
    def has_changes(self) -> bool:
        """True when applying would write anything."""
        return any(c.op != "unchanged" for c in self.changes)

    def describe(self) -> str:
        """Text for humans; says 'No changes.' when there are none."""
        lines = [line for c in self.changes if c.op != "unchanged" for line in c.describe()]
        unchanged = sum(c.op == "unchanged" for c in self.changes)
        if not lines:
            return f"No changes. {unchanged} object(s) up to date."
        counts = {op: sum(c.op == op for c in self.changes) for op in ("create", "update", "delete")}
        summary = ", ".join(f"{n} to {op}" for op, n in counts.items() if n)
        storage = ["Storage:", *[f"  {line}" for line in self.storage]] if self.storage else []
        return "\n".join(lines + storage + [f"Plan: {summary}, {unchanged} unchanged."])
