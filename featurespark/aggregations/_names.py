"""Internal column names of the aggregation engine.

Every internal column starts with :data:`RESERVED_PREFIX`; entity and event frames may not use it, so
the engine can put its bookkeeping next to the caller's columns. Times are epoch microseconds
(``bigint``), as in :mod:`featurespark.pit`.
"""
from __future__ import annotations

RESERVED_PREFIX = "__fs_agg_"

TIME = RESERVED_PREFIX + "t"  # time a row is ordered by (see docs/aggregations.md, "Algorithm")
TS = RESERVED_PREFIX + "ts"  # event time of an event row (TIME may be its visibility time)
CTS = RESERVED_PREFIX + "cts"  # created time of an event row (as_known_at_query_time)
MARK = RESERVED_PREFIX + "mark"  # QUERY_ROW or EVENT_ROW
ORDER = RESERVED_PREFIX + "order"  # 2 * TIME + MARK: what the ascending pass orders by (queries first at one instant)
ROLE = RESERVED_PREFIX + "role"  # which frames read an event row (see _rows.py)
SPLIT = RESERVED_PREFIX + "split"  # hot key: start of its time bucket; null key: a hash of the row; else 0
PAYLOAD = RESERVED_PREFIX + "entity"  # struct of the entity row's columns (query rows only)
HOT = RESERVED_PREFIX + "hot"  # flag of a hot key (join with the detected keys)
PART = RESERVED_PREFIX + "part"  # struct of the time / role / bucket of one exploded event row

QUERY_ROW = 0
EVENT_ROW = 1

#: Row times of carry-in rows (before every real time) and carry-out rows (after every real time).
#: Spark timestamps span about +-2.5e17 microseconds; frames subtract at most a window from a row time.
CARRY_IN_TIME = -(2**61)
CARRY_OUT_TIME = 2**61


def key_col(j: int) -> str:
    """The j-th join key, cast to the type both sides are compared in."""
    return f"{RESERVED_PREFIX}k{j}"


def slot_col(slot: int, what: str) -> str:
    """A per-input-column internal column (``what`` says which, e.g. ``"x"`` for the value)."""
    return f"{RESERVED_PREFIX}{what}{slot}"


def read_col(name: str) -> str:
    """The column holding a frame's result at query rows."""
    return f"{RESERVED_PREFIX}r_{name}"
