"""What to aggregate: :class:`Aggregation`, its functions and its windows (pure Python, no Spark).

An aggregation names an event column, a function and one or more windows. Windows are written
``"30m"``, ``"1h"``, ``"7d"`` (a whole number and a unit: ``us``, ``ms``, ``s``, ``m``, ``h``, ``d``), given
as ``datetime.timedelta``, or ``"lifetime"`` (no lower bound). Each (aggregation, window) pair is one
output column, named ``{column}_{function}_{window}`` with the window as written, unless ``name=``
overrides it (one window only). All checks run on construction and raise :class:`DefinitionError`
naming what was wrong and how to fix it; the function names are the :data:`AggregateFunction` literal,
validated here and nowhere else.
"""
from __future__ import annotations

import difflib
import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, Optional, Sequence, Union, get_args

from featurespark.errors import DefinitionError

__all__ = [
    "AggregateFunction",
    "Aggregation",
    "AggregationWindow",
    "COUNTING_FUNCTIONS",
    "FUNCTIONS",
    "LIFETIME",
    "MAX_K",
    "NUMERIC_FUNCTIONS",
    "ORDERED_FUNCTIONS",
    "check_function",
    "output_dtype",
    "parse_window",
    "window_label",
]

logger = logging.getLogger(__name__)

AggregateFunction = Literal[
    "count",
    "sum",
    "mean",
    "min",
    "max",
    "variance",
    "stddev",
    "first",
    "last",
    "last_k",
    "approx_count_distinct",
]
#: Every aggregate function, in the order of :data:`AggregateFunction`.
FUNCTIONS: tuple[str, ...] = get_args(AggregateFunction)
#: Functions whose input must be numeric.
NUMERIC_FUNCTIONS: frozenset[str] = frozenset({"sum", "mean", "variance", "stddev"})
#: Functions whose input must be orderable (Spark cannot compare maps).
ORDERED_FUNCTIONS: frozenset[str] = frozenset({"min", "max"})
#: Functions that give 0, not null, over an empty window.
COUNTING_FUNCTIONS: frozenset[str] = frozenset({"count", "approx_count_distinct"})

#: The window with no lower bound.
LIFETIME = "lifetime"
#: Largest ``k`` of ``last_k``: the k values travel as one array per output row.
MAX_K = 1000

WindowLike = Union[str, timedelta]

_UNITS: dict[str, int] = {"d": 86_400_000_000, "h": 3_600_000_000, "m": 60_000_000, "s": 1_000_000, "ms": 1_000, "us": 1}
_WINDOW = re.compile(r"^([1-9][0-9]*)(us|ms|s|m|h|d)$")
_ONE_MICRO = timedelta(microseconds=1)


@dataclass(frozen=True)
class AggregationWindow:
    """One parsed window.

    Attributes
    ----------
    label : str
        The window as written (``"7d"``), the canonical text of a timedelta (``timedelta(hours=36)`` is
        ``"36h"``), or ``"lifetime"``; used in default output names.
    micros : int or None
        Length in microseconds; None for ``"lifetime"``.
    """

    label: str
    micros: Optional[int]

    @property
    def is_lifetime(self) -> bool:
        """Whether the window has no lower bound."""
        return self.micros is None


def parse_window(window: object, where: str = "window") -> AggregationWindow:
    """Parse one window: ``"30m"``, ``"7d"``, a positive ``timedelta`` or ``"lifetime"``.

    Parameters
    ----------
    window : str or datetime.timedelta
        The window.
    where : str
        Prefix of error messages (what the window belongs to).

    Returns
    -------
    AggregationWindow

    Raises
    ------
    DefinitionError
        For anything else, with the accepted forms.

    Examples
    --------
    >>> parse_window("7d")
    AggregationWindow(label='7d', micros=604800000000)
    >>> parse_window(timedelta(minutes=90)).label
    '90m'
    >>> parse_window("lifetime").is_lifetime
    True
    """
    if isinstance(window, str):
        if window == LIFETIME:
            return AggregationWindow(LIFETIME, None)
        match = _WINDOW.match(window)
        if match is None:
            raise DefinitionError(
                f"{where}: invalid window {window!r}. Write a positive whole number and a unit "
                "(us, ms, s, m, h or d), e.g. '30m', '1h', '7d', or 'lifetime' for no lower bound; "
                "a datetime.timedelta works too."
            )
        return AggregationWindow(window, int(match.group(1)) * _UNITS[match.group(2)])
    if isinstance(window, timedelta):
        if window <= timedelta(0):
            raise DefinitionError(f"{where}: window {window!r} is not positive; a window must be longer than zero.")
        if window % _ONE_MICRO:
            raise DefinitionError(
                f"{where}: window {window!r} is not a whole number of microseconds, the resolution of "
                "Spark timestamps; round it to microseconds."
            )
        micros = window // _ONE_MICRO
        return AggregationWindow(window_label(micros), micros)
    raise DefinitionError(
        f"{where}: a window must be a string such as '7d', a datetime.timedelta or 'lifetime'; "
        f"found {type(window).__name__} {window!r}."
    )


def window_label(micros: int) -> str:
    """Canonical text of a window length: the largest unit that divides it exactly.

    Examples
    --------
    >>> window_label(36 * 3_600_000_000), window_label(1_500_000)
    ('36h', '1500ms')
    """
    for unit, size in _UNITS.items():
        if micros % size == 0:
            return f"{micros // size}{unit}"
    raise AssertionError("every length is a whole number of microseconds")  # pragma: no cover


@dataclass(frozen=True, init=False)
class Aggregation:
    """An aggregate of one event column over one or more time windows.

    For an entity row at time ``t`` and a window of length ``w``, the aggregate covers the events of
    the row's key with ``t - w <= event_ts < t`` (``"lifetime"``: every event before ``t``), ignoring
    null values; see ``docs/aggregations.md``.

    Parameters
    ----------
    column : str
        The event column to aggregate.
    function : str
        One of ``count`` (non-null values), ``sum``, ``mean``, ``min``, ``max``, ``variance`` and ``stddev``
        (sample), ``first`` and ``last`` (earliest / newest value), ``last_k`` (the ``k`` newest values,
        newest first) and ``approx_count_distinct``.
    windows : sequence of str or datetime.timedelta
        Window lengths: ``"30m"``, ``"1h"``, ``"7d"``, ``"365d"`` (units ``us``, ``ms``, ``s``, ``m``, ``h``,
        ``d``), ``timedelta`` values, or ``"lifetime"``.
    k : int, optional
        Number of values of ``last_k`` (required there, refused elsewhere).
    name : str, optional
        Output column name instead of ``{column}_{function}_{window}``; only with a single window.

    Raises
    ------
    DefinitionError
        For an unknown function, a bad window, a missing or unexpected ``k``, or ``name`` with several
        windows.

    Examples
    --------
    >>> fare = Aggregation("fare", "sum", windows=["1h", "7d", "lifetime"])
    >>> fare.output_names()
    ['fare_sum_1h', 'fare_sum_7d', 'fare_sum_lifetime']
    >>> Aggregation("rating", "last_k", windows=["30d"], k=5).output_names()
    ['rating_last_k_30d']
    >>> Aggregation("fare", "max", windows=["1d"], name="biggest_fare_today").output_names()
    ['biggest_fare_today']
    """

    column: str
    function: AggregateFunction
    windows: tuple[str, ...]
    k: Optional[int]
    name: Optional[str]

    def __init__(
        self,
        column: str,
        function: AggregateFunction,
        windows: Sequence[WindowLike],
        *,
        k: Optional[int] = None,
        name: Optional[str] = None,
    ) -> None:
        where = f"Aggregation({column!r}, {function!r})"
        if not isinstance(column, str) or not column:
            raise DefinitionError(f"{where}: column must be a non-empty column name, found {column!r}.")
        check_function(function, where)
        parsed = _parse_windows(windows, where)
        if function == "last_k":
            if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
                raise DefinitionError(
                    f"{where}: last_k needs k, the number of newest values to return, as an int from 1 to "
                    f"{MAX_K}; found k={k!r}. For example Aggregation({column!r}, 'last_k', windows=['30d'], k=5)."
                )
        elif k is not None:
            raise DefinitionError(f"{where}: k is only used by last_k; remove k={k!r}.")
        if name is not None:
            if not isinstance(name, str) or not name:
                raise DefinitionError(f"{where}: name must be a non-empty string, found {name!r}.")
            if len(parsed) != 1:
                raise DefinitionError(
                    f"{where}: name={name!r} names one output column, but there are {len(parsed)} windows; "
                    "use one Aggregation per window to name each, or drop name= for the default names."
                )
        object.__setattr__(self, "column", column)
        object.__setattr__(self, "function", function)
        object.__setattr__(self, "windows", tuple(w.label for w in parsed))
        object.__setattr__(self, "k", k)
        object.__setattr__(self, "name", name)

    def parsed_windows(self) -> list[AggregationWindow]:
        """The windows with their lengths, in the order given."""
        return [parse_window(w) for w in self.windows]

    def output_names(self) -> list[str]:
        """Output column names, one per window, in window order."""
        if self.name is not None:
            return [self.name]
        return [f"{self.column}_{self.function}_{w}" for w in self.windows]

    def outputs(self) -> list[tuple[str, AggregationWindow]]:
        """Pairs of output column name and window."""
        return list(zip(self.output_names(), self.parsed_windows()))

    def to_dict(self) -> dict[str, Any]:
        """Plain form for the registry (windows as written; timedeltas as their canonical text)."""
        return {"column": self.column, "function": self.function, "windows": list(self.windows), "k": self.k,
                "name": self.name}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Aggregation:
        """Inverse of :meth:`to_dict`.

        Examples
        --------
        >>> agg = Aggregation("fare", "mean", windows=["1h", timedelta(days=7)])
        >>> Aggregation.from_dict(agg.to_dict()) == agg
        True
        """
        unknown = sorted(set(data) - {"column", "function", "windows", "k", "name"})
        if unknown:
            raise DefinitionError(f"Aggregation in the registry has unknown fields {unknown}.")
        return cls(data["column"], data["function"], data["windows"], k=data.get("k"), name=data.get("name"))


def check_function(function: object, where: str) -> str:
    """Validate a function name against :data:`AggregateFunction`; the one place it is checked."""
    if not isinstance(function, str) or function not in FUNCTIONS:
        hint = difflib.get_close_matches(str(function), FUNCTIONS, n=1)
        did_you_mean = f" Did you mean {hint[0]!r}?" if hint else ""
        raise DefinitionError(
            f"{where}: unknown function {function!r}; use one of {', '.join(FUNCTIONS)}.{did_you_mean}"
        )
    return function


def _parse_windows(windows: object, where: str) -> list[AggregationWindow]:
    if isinstance(windows, (str, timedelta)) or not isinstance(windows, Sequence):
        raise DefinitionError(
            f"{where}: windows must be a list of windows, e.g. windows=['1h', '7d'], found {windows!r}."
        )
    if not windows:
        raise DefinitionError(f"{where}: windows is empty; give at least one, e.g. windows=['7d'].")
    parsed = [parse_window(w, where) for w in windows]
    seen: dict[Optional[int], str] = {}
    for window in parsed:
        if window.micros in seen:
            raise DefinitionError(
                f"{where}: windows {seen[window.micros]!r} and {window.label!r} are the same length; "
                "list each window once."
            )
        seen[window.micros] = window.label
    return parsed


def output_dtype(function: str, input_dtype: str, where: str) -> str:
    """featurespark type name of an aggregate's output, from its input column's type name.

    ``count`` and ``approx_count_distinct`` give ``int64``; ``sum`` of integers ``int64`` and of floats
    ``float64``; ``mean``, ``variance`` and ``stddev`` ``float64``; ``min``, ``max``, ``first`` and ``last``
    the input type; ``last_k`` an array of it.

    Raises
    ------
    DefinitionError
        When the function does not apply to the type (``sum`` of strings, ``last_k`` of arrays, ...).

    Examples
    --------
    >>> output_dtype("sum", "int32", "x"), output_dtype("last_k", "string", "x")
    ('int64', 'array<string>')
    """
    check_function(function, where)
    numeric = ("int32", "int64", "float32", "float64")
    if function in COUNTING_FUNCTIONS:
        return "int64"
    if function in NUMERIC_FUNCTIONS:
        if input_dtype not in numeric:
            raise DefinitionError(
                f"{where}: {function} needs a numeric column (int32, int64, float32, float64), but it is {input_dtype}."
            )
        if function == "sum" and input_dtype in ("int32", "int64"):
            return "int64"
        return "float64"
    if function == "last_k":
        if input_dtype.startswith("array<"):
            raise DefinitionError(
                f"{where}: last_k of an array column would be an array of arrays, which feature types do not "
                "allow; aggregate a scalar column."
            )
        return f"array<{input_dtype}>"
    return input_dtype
