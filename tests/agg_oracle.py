"""Brute-force oracle of the windowed aggregation semantics (docs/aggregations.md), independent of the engine.

For every entity row and every (aggregation, window) it scans every event, keeps those of the row's key
with ``t - w <= event_ts < t`` (``event_ts < t`` for lifetime; with ``as_known`` also ``created_ts <= t``)
and a non-null value, and applies the function directly: Python sums (exact integers, ``math.fsum``
for floats), exact rational variance (``fractions.Fraction``), sorting for first / last / last_k with the
documented tie rule, a Python set for distinct counts. Floats follow Spark's ordering (NaN above every
number, ``-0.0 == 0.0``) and IEEE arithmetic for NaN and infinities.

:func:`assert_same_rows` compares the engine's rows with the oracle's as multisets; floats are equal when
``math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)`` (see the constants for why these tolerances).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any, Mapping, Optional, Sequence

import pandas as pd

from pit_oracle import comparable, is_null

#: Relative tolerance of float outputs. The engine computes window sums as differences of running sums
#: over a key's history (documented bound about ``2 n u sum|x|``, u = 2**-53), the oracle with fsum.
REL_TOL = 1e-9
#: Absolute tolerance. Test values stay within |x| <= 1000 and keys hold at most ~50 events, so the
#: documented bounds give at most ~1e-8 for variances (sums of squares up to ~5e7); a single event
#: wrongly counted in or out changes every output by far more.
ABS_TOL = 1e-7


@dataclass(frozen=True)
class OracleAgg:
    """One output column: ``function`` of ``column`` over ``window`` (None: lifetime)."""

    name: str
    column: str
    function: str
    window: Optional[timedelta]
    k: Optional[int] = None


def _instant(value: Any) -> Any:
    """Aware datetimes in UTC (aware arithmetic is wall-clock arithmetic in the value's own zone)."""
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(timezone.utc)
    return value


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def spark_order(value: Any) -> tuple[Any, ...]:
    """Sort key of a non-null value as Spark orders it: NaN above every number, -0.0 equal to 0.0."""
    if isinstance(value, float):
        return (1, 0.0) if math.isnan(value) else (0, value + 0.0)
    return (0, value)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [dict(zip(frame.columns, row)) for row in frame.itertuples(index=False, name=None)]


def _fsum(values: Sequence[Any]) -> Any:
    """Sum with IEEE rules for NaN and infinities; exact for integers and decimals."""
    if all(isinstance(v, (int, Decimal)) and not isinstance(v, bool) for v in values):
        return sum(values)
    floats = [float(v) for v in values]
    if any(math.isnan(v) for v in floats) or (float("inf") in floats and float("-inf") in floats):
        return float("nan")
    if float("inf") in floats:
        return float("inf")
    if float("-inf") in floats:
        return float("-inf")
    return math.fsum(floats)


def _variance(values: Sequence[Any]) -> Optional[float]:
    if len(values) < 2:
        return None
    if any(isinstance(v, float) and not math.isfinite(v) for v in values):
        return float("nan")
    exact = [Fraction(v) for v in values]
    mean = sum(exact) / len(exact)
    return float(sum((v - mean) ** 2 for v in exact) / (len(exact) - 1))


def _distinct_key(value: Any) -> Any:
    if _is_nan(value):
        return ("NaN",)
    if isinstance(value, float):
        return value + 0.0  # -0.0 and 0.0 are one value
    return value


def apply(function: str, events: list[tuple[Any, Any]], k: Optional[int]) -> Any:
    """``function`` of the window's events, given as ``(event_ts, value)`` pairs with non-null values."""
    values = [v for _, v in events]
    if function == "count":
        return len(values)
    if function == "approx_count_distinct":
        return len({_distinct_key(v) for v in values})
    if not values:
        return None
    if function == "sum":
        return _fsum(values)
    if function == "mean":
        total = _fsum(values)
        return total / len(values) if isinstance(total, float) else float(Fraction(total) / len(values))
    if function in ("variance", "stddev"):
        var = _variance(values)
        if var is None or function == "variance":
            return var
        return math.sqrt(var) if not math.isnan(var) else var
    if function == "min":
        return min(values, key=spark_order)
    if function == "max":
        return max(values, key=spark_order)
    # Tie rule: events at one instant are ordered by value, the greater value counting as the newer.
    newest_first = sorted(events, key=lambda e: (e[0], spark_order(e[1])), reverse=True)
    if function == "last":
        return newest_first[0][1]
    if function == "first":
        return newest_first[-1][1]
    if function == "last_k":
        assert k is not None
        return [v for _, v in newest_first[:k]]
    raise ValueError(f"unknown function {function}")


def oracle_window_aggregates(
    entity: pd.DataFrame,
    events: pd.DataFrame,
    *,
    keys: Mapping[str, str],
    entity_timestamp: str,
    event_timestamp: str,
    aggregations: Sequence[OracleAgg],
    created_timestamp: Optional[str] = None,
    as_known: bool = False,
) -> list[dict[str, Any]]:
    """Expected output rows (dicts: entity columns, then outputs), one per entity row."""
    event_records = _records(events)
    result = []
    for row in _records(entity):
        t = _instant(row[entity_timestamp])
        out = dict(row)
        matching = []
        if not any(is_null(row[e]) for e in keys):
            for ev in event_records:
                if any(is_null(ev[v]) or ev[v] != row[e] for e, v in keys.items()):
                    continue
                ts = _instant(ev[event_timestamp])
                if is_null(ts) or not ts < t:
                    continue
                if as_known:
                    created = _instant(ev[created_timestamp]) if created_timestamp else None
                    if is_null(created) or created > t:
                        continue
                matching.append((ts, ev))
        for agg in aggregations:
            # Frames are built with dtype=object, so a null is None and a float NaN is a value.
            window = [(ts, ev[agg.column]) for ts, ev in matching
                      if ev[agg.column] is not None and (agg.window is None or ts >= t - agg.window)]
            out[agg.name] = apply(agg.function, window, agg.k)
        result.append(out)
    return result


# --- comparison ----------------------------------------------------------------------------------

def _close(got: Any, expected: Any) -> bool:
    if expected is None or got is None:
        return got is None and expected is None
    if isinstance(expected, list):
        return isinstance(got, list) and len(got) == len(expected) and all(
            _close(g, e) for g, e in zip(got, expected))
    if isinstance(expected, float) or isinstance(got, float):
        g, e = float(got), float(expected)
        if math.isnan(e) or math.isnan(g):
            return math.isnan(e) and math.isnan(g)
        if math.isinf(e) or math.isinf(g):
            return g == e
        return math.isclose(g, e, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    return bool(comparable(got) == comparable(expected))


def _sort_key(row: Mapping[str, Any], columns: Sequence[str]) -> tuple[Any, ...]:
    def one(v: Any) -> tuple[Any, ...]:
        v = comparable(v)
        return (0,) if v is None else (1, str(type(v)), v)
    return tuple(one(row[c]) for c in columns)


def assert_same_rows(
    got: Sequence[Mapping[str, Any]],
    expected: Sequence[Mapping[str, Any]],
    entity_columns: Sequence[str],
    outputs: Sequence[str],
    label: str = "engine",
) -> None:
    """Assert equal multisets of rows: sorted by the entity columns (which must identify a row up to exact
    duplicates, e.g. through a row-id column), then compared output by output with the float tolerance."""
    assert len(got) == len(expected), f"{label}: {len(got)} rows, expected {len(expected)}"
    got_sorted = sorted(got, key=lambda r: _sort_key(r, entity_columns))
    exp_sorted = sorted(expected, key=lambda r: _sort_key(r, entity_columns))
    for g, e in zip(got_sorted, exp_sorted):
        for c in entity_columns:
            assert comparable(g[c]) == comparable(e[c]), f"{label}: entity column {c}: {g} vs expected {e}"
        for c in outputs:
            assert _close(g[c], e[c]), (
                f"{label}: {c} = {g[c]!r}, expected {e[c]!r}\n  entity row {[g[x] for x in entity_columns]}"
            )
