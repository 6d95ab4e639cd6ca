"""The tiled item layout of windowed aggregations online: what an item holds and how it is encoded.

One DynamoDB item per entity key holds what a reader needs to compute every window value exactly at
any lookup time ``t`` in ``[end, end + horizon]``, where ``end`` is the (exclusive) end of the event
times the item covers and ``horizon`` the time until the next materialization (see
``docs/online_item_layout.md``, "Aggregation items"):

* per finite window length ``w``, with its tile size ``s``, the **raw edge** bound
  ``B = min(end, ceil((end - w + horizon) / s) * s)``; events in ``[end - w, B)`` are kept raw (the
  window's lower edge ``t - w`` sweeps through them), events in ``[B, end)`` are folded into
  partial aggregates per tile ``[a, a + s)`` (``a`` a multiple of ``s`` from the epoch);
* one partial aggregate per lifetime output over every event before ``end``.

Pure Python, no Spark: the layout travels to executors and to Spark-free readers.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from featurespark.aggregations.spec import Aggregation, output_dtype
from featurespark.errors import DefinitionError, InvalidArgumentError, ItemEncodingError, ItemTooLargeError
from featurespark.online.feature_types import KEY_TYPES, parse_feature_type
from featurespark.online.items import (
    CREATED_TS_ATTRIBUTE,
    EVENT_TS_ATTRIBUTE,
    MAX_ITEM_BYTES,
    PK_ATTRIBUTE,
    AttributeValue,
    Item,
    attribute_size,
    decode_partition_key,
    encode_partition_key,
    encode_value,
    decode_value,
    item_size,
)

logger = logging.getLogger(__name__)

__all__ = [
    "DecodedTiles", "LIFETIME_ATTRIBUTE", "LAYOUT_VERSION", "RAW_ATTRIBUTE", "TILES_ATTRIBUTE",
    "TiledLayout", "TiledOutput", "VERSION_ATTRIBUTE", "default_tile_micros",
]

#: Attribute of the raw edge events.
RAW_ATTRIBUTE = "agg_raw"
#: Attribute of the tile sets, one per finite window length.
TILES_ATTRIBUTE = "agg_tiles"
#: Attribute of the lifetime partial aggregates.
LIFETIME_ATTRIBUTE = "agg_lifetime"
#: Attribute holding the layout version.
VERSION_ATTRIBUTE = "agg_version"
#: Version of the layout written by this module.
LAYOUT_VERSION = 1

_MINUTE = 60_000_000
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR
_ONE_MICRO = timedelta(microseconds=1)
_VALUE_TYPES = ("int32", "int64", "float32", "float64", "string", "bool", "timestamp")


def default_tile_micros(window_micros: int) -> int:
    """Default tile size of a window, Chronon-style: about 12 to 300 tiles per window.

    One day for windows of 12 days or more, one hour from 12 hours, five minutes from one hour, one
    minute from 12 minutes, else a twelfth of the window (at least one microsecond).

    Examples
    --------
    >>> [default_tile_micros(w) // 60_000_000 for w in (30 * 86_400_000_000, 86_400_000_000, 3_600_000_000)]
    [1440, 60, 5]
    >>> default_tile_micros(120_000_000)
    10000000
    """
    for size in (_DAY, _HOUR, 5 * _MINUTE, _MINUTE):
        if window_micros >= 12 * size:
            return size
    return max(1, window_micros // 12)


@dataclass(frozen=True)
class TiledOutput:
    """One output (aggregation, window) of a tiled layout.

    Attributes
    ----------
    name : str
        Output (feature) name.
    column : str
        The aggregated event column.
    function : str
        The aggregate function.
    window : int or None
        Window length in microseconds; None for lifetime.
    k : int or None
        ``k`` of ``last_k``.
    column_type : str
        The column's feature type.
    output_type : str
        The output's feature type.
    """

    name: str
    column: str
    function: str
    window: Optional[int]
    k: Optional[int]
    column_type: str
    output_type: str

    @property
    def partial_type(self) -> str:
        """Feature type of a scalar partial (``count``, ``sum``, ``min``, ``max``); see :meth:`TiledLayout`."""
        if self.function == "count":
            return "int64"
        if self.function == "sum":
            return self.output_type
        return self.column_type


@dataclass(frozen=True)
class TiledLayout:
    """Keys, aggregations, tile sizes and horizon of the aggregation items of one view.

    Build it with :meth:`build`. Picklable plain data.

    Attributes
    ----------
    keys : tuple of (str, str)
        Join-key names and types, in order (they make ``pk``).
    outputs : tuple of TiledOutput
        Every (aggregation, window), in the aggregations' order.
    tile_sizes : tuple of (int, int)
        Finite window length to tile size, in microseconds, by ascending window.
    horizon_micros : int
        How long after ``end`` lookups stay exact without a new materialization.
    raw_inputs : tuple of (str, str)
        Columns of a raw edge event after its time: ``(column, "value")`` or ``(column, "hash")``.
    column_types : tuple of (str, str)
        Aggregated event columns and their feature types.
    """

    keys: tuple[tuple[str, str], ...]
    outputs: tuple[TiledOutput, ...]
    tile_sizes: tuple[tuple[int, int], ...]
    horizon_micros: int
    raw_inputs: tuple[tuple[str, str], ...]
    column_types: tuple[tuple[str, str], ...]

    @classmethod
    def build(
        cls,
        keys: Mapping[str, str],
        column_types: Mapping[str, str],
        aggregations: Sequence[Aggregation],
        *,
        horizon: timedelta,
        tile_sizes: Optional[Mapping[str, timedelta]] = None,
    ) -> TiledLayout:
        """Validate and build a layout.

        Parameters
        ----------
        keys : mapping of str to str
            Join-key name to type (``string``, ``int32``, ``int64``), in join-key order.
        column_types : mapping of str to str
            Aggregated event column to feature type (``int32``, ``int64``, ``float32``, ``float64``,
            ``string``, ``bool``, ``timestamp``).
        aggregations : sequence of Aggregation
            What to aggregate.
        horizon : timedelta
            Lookups stay exact until ``end + horizon``: at least the time between materializations.
            Longer horizons keep more raw events per key.
        tile_sizes : mapping of str to timedelta, optional
            Tile size per window label (``{"30d": timedelta(days=1)}``); the others get
            :func:`default_tile_micros`. Coarser tiles make smaller items.

        Returns
        -------
        TiledLayout

        Raises
        ------
        InvalidArgumentError
            For a non-positive horizon or tile size, a tile size for an unknown window, no aggregation,
            or duplicate output names.
        DefinitionError
            For an unknown column type, a function that does not apply to its column, or a key type
            that cannot be a join key.

        Examples
        --------
        >>> layout = TiledLayout.build({"driver": "int64"}, {"fare": "float64"},
        ...     [Aggregation("fare", "sum", windows=["1h", "7d"])], horizon=timedelta(hours=1))
        >>> [(o.name, o.window) for o in layout.outputs]
        [('fare_sum_1h', 3600000000), ('fare_sum_7d', 604800000000)]
        >>> layout.tile_sizes
        ((3600000000, 300000000), (604800000000, 3600000000))
        """
        if not keys:
            raise InvalidArgumentError("An aggregation item layout needs at least one join key.")
        for name, key_type in keys.items():
            if key_type not in KEY_TYPES:
                raise DefinitionError(
                    f"Join key {name!r} has type {key_type!r}; online join keys must be one of {', '.join(KEY_TYPES)}."
                )
        if not aggregations:
            raise InvalidArgumentError("No aggregation given; pass at least one Aggregation.")
        if not isinstance(horizon, timedelta) or horizon <= timedelta(0) or horizon % _ONE_MICRO:
            raise InvalidArgumentError(
                f"horizon must be a positive timedelta of whole microseconds (the time until the next "
                f"materialization, e.g. timedelta(hours=1)), got {horizon!r}."
            )
        outputs: list[TiledOutput] = []
        for agg in aggregations:
            if agg.column not in column_types:
                raise DefinitionError(
                    f"Aggregation {agg.output_names()} reads column {agg.column!r}, which has no type in "
                    f"column_types ({sorted(column_types)}); add it."
                )
            ctype = str(parse_feature_type(column_types[agg.column]))
            if ctype not in _VALUE_TYPES:
                raise DefinitionError(
                    f"Column {agg.column!r} has type {ctype}; online aggregation items hold columns of type "
                    f"{', '.join(_VALUE_TYPES)}. Cast the column."
                )
            out_type = output_dtype(agg.function, ctype, f"Aggregation of {agg.column!r}")
            for name, window in agg.outputs():
                outputs.append(TiledOutput(name, agg.column, agg.function, window.micros, agg.k, ctype, out_type))
        names = [o.name for o in outputs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise InvalidArgumentError(f"Output names {duplicates} appear more than once; give each a distinct name.")
        windows = sorted({o.window for o in outputs if o.window is not None})
        labels = {w.label: w.micros for agg in aggregations for w in agg.parsed_windows()}
        sizes = {w: default_tile_micros(w) for w in windows}
        for label, size in (tile_sizes or {}).items():
            window_micros = labels.get(label)
            if window_micros is None:
                raise InvalidArgumentError(
                    f"tile_sizes names window {label!r}, which no aggregation has; windows: {sorted(labels)}."
                )
            if not isinstance(size, timedelta) or size <= timedelta(0) or size % _ONE_MICRO:
                raise InvalidArgumentError(f"Tile size of window {label!r} must be a positive timedelta, got {size!r}.")
            sizes[window_micros] = size // _ONE_MICRO
        raw: list[tuple[str, str]] = []
        for o in outputs:
            if o.window is None:
                continue
            entry = (o.column, "hash" if o.function == "approx_count_distinct" else "value")
            if entry not in raw:
                raw.append(entry)
        used = dict.fromkeys(o.column for o in outputs)
        return cls(
            keys=tuple(keys.items()),
            outputs=tuple(outputs),
            tile_sizes=tuple((w, sizes[w]) for w in windows),
            horizon_micros=horizon // _ONE_MICRO,
            raw_inputs=tuple(raw),
            column_types=tuple((c, str(parse_feature_type(column_types[c]))) for c in used),
        )

    # ------------------------------------------------------------------------------------ geometry

    @property
    def output_names(self) -> tuple[str, ...]:
        """Every output name, in order."""
        return tuple(o.name for o in self.outputs)

    @property
    def has_lifetime(self) -> bool:
        """Whether some output has no lower bound (the build then reads all history)."""
        return any(o.window is None for o in self.outputs)

    def set_outputs(self, window: Optional[int]) -> tuple[TiledOutput, ...]:
        """The outputs of one tile set (a finite window length), or the lifetime outputs (None)."""
        return tuple(o for o in self.outputs if o.window == window)

    def raw_until(self, window: int, end: int) -> int:
        """``B``: events of ``window`` in ``[end - window, B)`` are kept raw, those in ``[B, end)`` in tiles.

        Examples
        --------
        >>> layout = TiledLayout.build({"k": "int64"}, {"x": "int64"},
        ...     [Aggregation("x", "count", windows=["10us"])], horizon=timedelta(microseconds=3),
        ...     tile_sizes={"10us": timedelta(microseconds=4)})
        >>> layout.raw_until(10, 100), layout.raw_until(10, 102)
        (96, 96)
        """
        size = dict(self.tile_sizes)[window]
        return min(end, -((-(end - window + self.horizon_micros)) // size) * size)

    def lookback(self, end: int) -> Optional[int]:
        """Earliest event time the item holds (None: every event, for lifetime outputs)."""
        if self.has_lifetime:
            return None
        return end - max(w for w, _ in self.tile_sizes)

    # ------------------------------------------------------------------------------------ encoding

    def encode(
        self,
        key_values: Sequence[object],
        end: int,
        raw: Iterable[Sequence[Any]],
        tile_sets: Sequence[Iterable[Sequence[Any]]],
        lifetime: Optional[Sequence[Any]],
    ) -> Item:
        """Encode one key's item.

        Parameters
        ----------
        key_values : sequence
            Join-key values in :attr:`keys` order.
        end : int
            Exclusive end of the covered event times, epoch microseconds.
        raw : iterable of sequences
            Raw edge events ``(ts, *inputs)`` in :attr:`raw_inputs` order, ascending by time.
        tile_sets : sequence of iterables
            Per finite window (ascending), tiles ``(start, *partials)`` ascending by start, one partial
            per output of :meth:`set_outputs`.
        lifetime : sequence, optional
            The lifetime partials (None when there are none).

        Returns
        -------
        dict
            The item.

        Raises
        ------
        ItemEncodingError
            If a value does not fit its type.
        ItemTooLargeError
            If the item is over 400 KB; the message names the key, the size, the parts and the fixes.
        """
        pk = encode_partition_key(key_values, [t for _, t in self.keys])
        types = dict(self.column_types)
        raw_types = [types[c] if kind == "value" else "int64" for c, kind in self.raw_inputs]
        raw_list = [
            {"L": [{"N": str(int(row[0]))}, *(encode_value(v, t, name=c) for v, t, (c, _) in
                                              zip(row[1:], raw_types, self.raw_inputs))]}
            for row in raw
        ]
        sets: list[AttributeValue] = []
        for (window, size), tiles in zip(self.tile_sizes, tile_sets):
            outs = self.set_outputs(window)
            encoded_tiles = [
                {"L": [{"N": str(int(tile[0]))}, *(_encode_partial(o, p) for o, p in zip(outs, tile[1:]))]}
                for tile in tiles
            ]
            sets.append({"L": [{"N": str(window)}, {"N": str(size)}, {"N": str(self.raw_until(window, end))},
                               {"L": encoded_tiles}]})
        item: Item = {
            PK_ATTRIBUTE: {"S": pk},
            EVENT_TS_ATTRIBUTE: {"N": str(int(end))},
            CREATED_TS_ATTRIBUTE: {"N": "0"},
            VERSION_ATTRIBUTE: {"N": str(LAYOUT_VERSION)},
            RAW_ATTRIBUTE: {"L": raw_list},
            TILES_ATTRIBUTE: {"L": sets},
        }
        life_outputs = self.set_outputs(None)
        if life_outputs:
            parts = list(lifetime) if lifetime is not None else [None] * len(life_outputs)
            item[LIFETIME_ATTRIBUTE] = {"L": [_encode_partial(o, p) for o, p in zip(life_outputs, parts)]}
        size = item_size(item)
        if size > MAX_ITEM_BYTES:
            described = ", ".join(f"{name}={value!r}" for (name, _), value in zip(self.keys, key_values))
            tiles_desc = "; ".join(
                f"window {w} us: {len(s['L'][3]['L'])} tiles of {sz} us, {attribute_size(s)} bytes"
                for (w, sz), s in zip(self.tile_sizes, sets))
            raise ItemTooLargeError(
                f"The aggregation item for key ({described}) is {size} bytes, over DynamoDB's 400 KB item limit "
                f"({MAX_ITEM_BYTES} bytes): {len(raw_list)} raw edge events ({attribute_size(item[RAW_ATTRIBUTE])} "
                f"bytes); {tiles_desc or 'no tiles'}. Shorten the horizon (fewer raw events), choose coarser "
                f"tile_sizes (fewer tiles), lower k of last_k, or move approx_count_distinct of many distinct "
                f"values and long windows to another view."
            )
        return item

    def decode(self, item: Item) -> DecodedTiles:
        """Decode an item written by :meth:`encode`.

        Raises
        ------
        ItemEncodingError
            If the item is not an aggregation item of this layout (version, tile sets, partials).
        """
        try:
            version = int(item[VERSION_ATTRIBUTE]["N"])
            if version != LAYOUT_VERSION:
                raise ItemEncodingError(
                    f"Aggregation item {item[PK_ATTRIBUTE]['S']!r} has layout version {version}; this featurespark "
                    f"reads version {LAYOUT_VERSION}. Materialize the view again or upgrade featurespark."
                )
            end = int(item[EVENT_TS_ATTRIBUTE]["N"])
            raw_decoders, partial_decoders = _decoders(self)
            raw = [
                (_int(e["L"][0]["N"]), *(d(v) for d, v in zip(raw_decoders, e["L"][1:])))
                for e in item[RAW_ATTRIBUTE]["L"]
            ]
            sets = item[TILES_ATTRIBUTE]["L"]
            if [(int(s["L"][0]["N"]), int(s["L"][1]["N"])) for s in sets] != list(self.tile_sizes):
                raise ItemEncodingError(
                    f"Aggregation item {item[PK_ATTRIBUTE]['S']!r} was written with tile sets "
                    f"{[(s['L'][0]['N'], s['L'][1]['N']) for s in sets]} (window, tile size in us), not this layout's "
                    f"{list(self.tile_sizes)}. Materialize the view again with the current definition."
                )
            tile_sets = []
            for (window, _), s in zip(self.tile_sizes, sets):
                decoders = [partial_decoders[o.name] for o in self.set_outputs(window)]
                tiles = [
                    (_int(t["L"][0]["N"]), *(d(p) for d, p in zip(decoders, t["L"][1:])))
                    for t in s["L"][3]["L"]
                ]
                tile_sets.append((int(s["L"][2]["N"]), tiles))
            life_outputs = self.set_outputs(None)
            lifetime = (
                tuple(partial_decoders[o.name](p) for o, p in zip(life_outputs, item[LIFETIME_ATTRIBUTE]["L"]))
                if life_outputs else ()
            )
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ItemEncodingError(f"Item is not an aggregation item of this layout: {exc!r}.") from exc
        return DecodedTiles(decode_partition_key(item[PK_ATTRIBUTE]["S"]), end, raw, tuple(tile_sets), lifetime)


@dataclass(frozen=True)
class DecodedTiles:
    """An aggregation item read back.

    Attributes
    ----------
    key : tuple
        The join-key values.
    end : int
        The item covers events before ``end`` (epoch microseconds).
    raw : list of tuple
        Raw edge events ``(ts, *inputs)``.
    tile_sets : tuple of (int, list of tuple)
        Per finite window: the raw edge bound ``B`` and the tiles ``(start, *partials)``.
    lifetime : tuple
        Lifetime partials.
    """

    key: tuple[Any, ...]
    end: int
    raw: list[tuple[Any, ...]]
    tile_sets: tuple[tuple[int, list[tuple[Any, ...]]], ...]
    lifetime: tuple[Any, ...]


# ------------------------------------------------------------------------------------------ partials
# A partial is NULL when its tile holds no non-null value of the column; otherwise by function:
#   count: N n | sum: the sum (output type) | mean: L [n, sum] | variance, stddev: L [n, mean, m2]
#   min, max: the value | first, last: L [ts, value] | last_k: L of L [ts, value], newest first
#   approx_count_distinct: L of N, the distinct 64-bit value hashes.


def _encode_partial(output: TiledOutput, partial: Any) -> AttributeValue:
    f, name = output.function, output.name
    if partial is None:
        return {"NULL": True}
    if f == "count":
        return {"NULL": True} if partial == 0 else {"N": str(int(partial))}
    if f in ("sum", "min", "max"):
        return encode_value(partial, output.partial_type, name=name)
    if f == "mean":
        n, total = partial
        if not n:
            return {"NULL": True}
        return {"L": [{"N": str(int(n))}, encode_value(total, _sum_type(output), name=name)]}
    if f in ("variance", "stddev"):
        n, mean, m2 = partial
        if not n:
            return {"NULL": True}
        return {"L": [{"N": str(int(n))}, encode_value(float(mean), "float64", name=name),
                      encode_value(float(m2), "float64", name=name)]}
    if f in ("first", "last"):
        ts, value = partial
        return {"L": [{"N": str(int(ts))}, encode_value(value, output.column_type, name=name)]}
    if f == "last_k":
        if not partial:
            return {"NULL": True}
        return {"L": [{"L": [{"N": str(int(ts))}, encode_value(v, output.column_type, name=name)]}
                      for ts, v in partial]}
    if f == "approx_count_distinct":
        if not partial:
            return {"NULL": True}
        return {"L": [{"N": str(int(h))} for h in sorted(partial)]}
    raise ItemEncodingError(f"Output {name!r}: unknown function {f!r}.")  # pragma: no cover


def _int(text: str) -> int:
    """An integer N as DynamoDB returns it (plain digits, or an exponent form)."""
    try:
        return int(text)
    except ValueError:
        return int(Decimal(text))


def _scalar(type_name: str) -> Callable[[AttributeValue], Any]:
    """A decoder of one scalar attribute written by this module (faster than the general decode_value)."""
    if type_name in ("int32", "int64"):
        return lambda a: None if "NULL" in a else _int(a["N"])
    if type_name == "float64":
        return lambda a: None if "NULL" in a else float(a["N"] if "N" in a else a["S"])
    if type_name == "string":
        return lambda a: None if "NULL" in a else a["S"]
    return lambda a: decode_value(a, type_name)


@lru_cache(maxsize=64)
def _decoders(layout: TiledLayout) -> tuple[list[Callable[[AttributeValue], Any]], dict[str, Callable[[AttributeValue], Any]]]:
    """Per layout (cached): decoders of the raw inputs, and of each output's partial by output name."""
    types = dict(layout.column_types)
    raw = [_scalar(types[c] if kind == "value" else "int64") for c, kind in layout.raw_inputs]
    partials = {o.name: _partial_decoder(o) for o in layout.outputs}
    return raw, partials


def _partial_decoder(output: TiledOutput) -> Callable[[AttributeValue], Any]:
    f = output.function
    if f == "count":
        return lambda a: None if "NULL" in a else _int(a["N"])
    if f in ("sum", "min", "max"):
        return _scalar(output.partial_type)
    value = _scalar(output.column_type)
    if f == "mean":
        total = _scalar(_sum_type(output))
        return lambda a: None if "NULL" in a else (_int(a["L"][0]["N"]), total(a["L"][1]))
    if f in ("variance", "stddev"):
        real = _scalar("float64")
        return lambda a: None if "NULL" in a else (_int(a["L"][0]["N"]), real(a["L"][1]), real(a["L"][2]))
    if f in ("first", "last"):
        return lambda a: None if "NULL" in a else (_int(a["L"][0]["N"]), value(a["L"][1]))
    if f == "last_k":
        return lambda a: None if "NULL" in a else [(_int(p["L"][0]["N"]), value(p["L"][1])) for p in a["L"]]
    if f == "approx_count_distinct":
        return lambda a: None if "NULL" in a else [_int(p["N"]) for p in a["L"]]
    raise ItemEncodingError(f"Output {output.name!r}: unknown function {f!r}.")  # pragma: no cover


def _sum_type(output: TiledOutput) -> str:
    return "int64" if output.column_type.startswith("int") else "float64"

