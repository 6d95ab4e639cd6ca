"""Brute-force pandas oracle of the point-in-time join semantics (docs/point_in_time.md).

Deliberately naive and independent of the library: for every entity row and view it scans every
feature row, keeps the candidates, and picks the greatest ``(feature_ts, created_ts, tie)`` with
Python tuple comparison, nulls ordered below every value.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping, Optional, Sequence

import pandas as pd


@dataclass(frozen=True)
class OracleView:
    """One view for :func:`oracle_point_in_time` (mirrors ``featurespark.pit.PitView``)."""

    rows: pd.DataFrame
    keys: Mapping[str, str]  # entity column -> feature column
    feature_timestamp: str
    features: Sequence[str]
    outputs: Sequence[str]
    created_timestamp: Optional[str] = None
    ttl: Optional[timedelta] = None
    filter_by_created: bool = False


def is_null(value: Any) -> bool:
    """None, NaN and NaT are null."""
    if value is None or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _nulls_low(value: Any) -> tuple[Any, ...]:
    return (0,) if is_null(value) else (1, value)


def _instant(value: Any) -> Any:
    """Aware datetimes in UTC. Arithmetic on an aware ``datetime`` is wall-clock arithmetic in its own
    zone (03:00 EDT minus 2 minutes is 02:58 EST, an hour *later*), and two values sharing a tzinfo
    compare by wall clock, so instants are moved to UTC before any comparison or subtraction."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(timezone.utc)
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [dict(zip(frame.columns, row)) for row in frame.itertuples(index=False, name=None)]


def _best_row(entity: dict[str, Any], ets: Any, view: OracleView) -> Optional[dict[str, Any]]:
    if any(is_null(entity[e]) for e in view.keys):
        return None
    best: Optional[dict[str, Any]] = None
    best_rank: Optional[tuple[Any, ...]] = None
    for row in _records(view.rows):
        if any(is_null(row[f]) or row[f] != entity[e] for e, f in view.keys.items()):
            continue
        fts = _instant(row[view.feature_timestamp])
        if is_null(fts) or fts > ets:
            continue
        if view.ttl is not None and fts < ets - view.ttl:
            continue
        cts = _instant(row[view.created_timestamp]) if view.created_timestamp else None
        if view.filter_by_created and (is_null(cts) or cts > ets):
            continue
        rank = (fts, _nulls_low(cts), tuple(_nulls_low(row[f]) for f in view.features))
        if best_rank is None or rank > best_rank:
            best, best_rank = row, rank
    return best


def oracle_point_in_time(
    entity: pd.DataFrame, views: Sequence[OracleView], entity_timestamp: str
) -> list[dict[str, Any]]:
    """Expected output rows (as dicts) of a point-in-time join, one per entity row."""
    result = []
    for entity_row in _records(entity):
        ets = _instant(entity_row[entity_timestamp])
        if is_null(ets):
            raise ValueError("null entity timestamp")
        out = dict(entity_row)
        for view in views:
            best = _best_row(entity_row, ets, view)
            for feature, name in zip(view.features, view.outputs):
                out[name] = None if best is None or is_null(best[feature]) else best[feature]
        result.append(out)
    return result


# --- comparison helpers -------------------------------------------------------------------------

_EPOCH_UTC = pd.Timestamp("1970-01-01", tz="UTC").to_pydatetime()


def comparable(value: Any) -> Any:
    """A value in the form both sides are compared in: tz-aware instants become epoch microseconds."""
    if is_null(value):
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if hasattr(value, "tzinfo") and getattr(value, "tzinfo", None) is not None:
        return (value - _EPOCH_UTC) // timedelta(microseconds=1)
    return value


def as_multiset(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> list[tuple[Any, ...]]:
    """Rows as tuples over ``columns``, sorted with nulls low; duplicates are kept, so equal lists
    mean equal multisets."""
    tuples = [tuple(comparable(row[c]) for c in columns) for row in rows]
    return sorted(tuples, key=lambda t: tuple(_nulls_low(v) for v in t))


def spark_rows(df: Any) -> list[dict[str, Any]]:
    """Collect a small Spark DataFrame as dicts, TIMESTAMP columns as epoch microseconds.

    Converting in Spark (``unix_micros``) avoids PySpark turning instants into naive local times.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import TimestampType

    def column(name: str) -> Any:
        return F.col("`" + name.replace("`", "``") + "`")

    columns = [
        F.unix_micros(column(f.name)).alias(f.name) if isinstance(f.dataType, TimestampType) else column(f.name)
        for f in df.schema.fields
    ]
    return [row.asDict() for row in df.select(*columns).collect()]
