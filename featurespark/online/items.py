"""DynamoDB item layout of the online store: encode rows to items and decode them back.

One item per entity key, in DynamoDB's low-level ``AttributeValue`` form (the shape boto3's client and
every AWS SDK use). The layout is specified in ``docs/online_item_layout.md`` so that a service without
featurespark (a Lambda, a Java service) can read it:

* ``pk`` (S): the join-key values, each written as ``<tag><byte length>:<text>`` and concatenated, where
  the tag is ``s`` for a string and ``i`` for an integer and the length counts UTF-8 bytes. The form is
  prefix-free, so composite keys never collide (``("1", "12")`` is ``s1:1s2:12``, ``("11", "2")`` is
  ``s2:11s1:2``).
* ``event_ts`` and ``created_ts`` (N): epoch microseconds, integers (``created_ts`` is 0 when the view has
  no created timestamp).
* ``expire_at`` (N, optional): epoch seconds after which DynamoDB TTL may delete the item.
* one attribute per feature, named as the feature, typed by its feature type; ``NULL`` for nulls.
"""
from __future__ import annotations

import logging
import math
import numbers
import struct
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

from featurespark.errors import ItemEncodingError, ItemTooLargeError
from featurespark.definitions.feature_view import ONLINE_RESERVED_NAMES
from featurespark.online.feature_types import KEY_TYPES, FeatureType, TypeSpec, parse_feature_type

logger = logging.getLogger(__name__)

__all__ = [
    "AttributeValue", "CREATED_TS_ATTRIBUTE", "DecodedItem", "EPOCH", "EVENT_TS_ATTRIBUTE",
    "EXPIRE_AT_ATTRIBUTE", "Item", "ItemLayout", "MAX_ITEM_BYTES", "MAX_PARTITION_KEY_BYTES", "PK_ATTRIBUTE",
    "RESERVED_ATTRIBUTES", "Timestamp", "attribute_size", "decode_item", "decode_partition_key",
    "decode_value", "encode_item", "encode_partition_key", "encode_value", "from_epoch_micros", "item_size",
    "key_value_problem", "to_epoch_micros",
]

PK_ATTRIBUTE = "pk"
EVENT_TS_ATTRIBUTE = "event_ts"
CREATED_TS_ATTRIBUTE = "created_ts"
EXPIRE_AT_ATTRIBUTE = "expire_at"
#: Attribute names the layout uses itself; a feature may not have one of these names.
RESERVED_ATTRIBUTES = ONLINE_RESERVED_NAMES

#: DynamoDB's item size limit (names and values), in bytes.
MAX_ITEM_BYTES = 400 * 1024
#: DynamoDB's partition key size limit, in bytes.
MAX_PARTITION_KEY_BYTES = 2048

AttributeValue = dict[str, Any]
Item = dict[str, AttributeValue]
Timestamp = Union[int, numbers.Integral, datetime]

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MICROSECOND = timedelta(microseconds=1)
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_KEY_TAGS = {"string": "s", "int32": "i", "int64": "i"}
# DynamoDB numbers: up to 38 significant digits, magnitude 1E-130 .. 9.99...E+125 (or exactly 0).
_N_MIN = Decimal("1E-130")
_N_MAX = Decimal("9.9999999999999999999999999999999999999E+125")
_FLOAT32_MAX = 3.4028234663852886e38


# --------------------------------------------------------------------------------------------- time


def to_epoch_micros(value: Timestamp, *, what: str = "timestamp") -> int:
    """Convert a timestamp to integer epoch microseconds.

    Parameters
    ----------
    value : int or datetime
        Epoch microseconds already, or a datetime. A naive datetime is taken as UTC.
    what : str, optional
        What the value is, for the error message.

    Returns
    -------
    int
        Microseconds since 1970-01-01T00:00:00Z.

    Raises
    ------
    ItemEncodingError
        If the value is neither an integer nor a datetime.
    """
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        return (aware - EPOCH) // _ONE_MICROSECOND
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    raise ItemEncodingError(
        f"{what} must be a datetime or integer epoch microseconds, got {type(value).__name__} {value!r}."
    )


def from_epoch_micros(micros: int) -> datetime:
    """Convert epoch microseconds to an aware UTC datetime."""
    return EPOCH + timedelta(microseconds=micros)


# ------------------------------------------------------------------------------------ partition key


def key_value_problem(value: object, key_type: str) -> Optional[str]:
    """Say why a value cannot be a join key of the given type, or return None if it can.

    Parameters
    ----------
    value : object
        The candidate key value.
    key_type : str
        One of ``string``, ``int32``, ``int64``.

    Returns
    -------
    str or None
        A short description of the problem, or None.
    """
    if value is None:
        return "is null"
    if key_type == "string":
        return None if isinstance(value, str) else f"must be a string, got {type(value).__name__} {value!r}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return f"must be an {key_type} integer, got {type(value).__name__} {value!r}"
    low, high = _INT_RANGES[key_type]
    if not low <= int(value) <= high:
        return f"is {value}, outside the {key_type} range [{low}, {high}]"
    return None


def encode_partition_key(values: Sequence[object], key_types: Sequence[str]) -> str:
    """Build the ``pk`` string of an entity from its join-key values.

    Each value is written as ``<tag><n>:<text>``: tag ``s`` (string) or ``i`` (integer), ``n`` the
    number of UTF-8 bytes of ``text``, and ``text`` the string itself or the integer in decimal. The
    parts are concatenated in join-key order. The encoding is injective, also for composite keys.

    Parameters
    ----------
    values : sequence
        The join-key values, in the view's join-key order.
    key_types : sequence of str
        Their types (``string``, ``int32`` or ``int64``), same length.

    Returns
    -------
    str
        The partition key.

    Raises
    ------
    ItemEncodingError
        If a value does not match its type, a type is not a key type, or the key is over 2048 bytes.

    Examples
    --------
    >>> encode_partition_key(["1", "12"], ["string", "string"])
    's1:1s2:12'
    >>> encode_partition_key(["u1", 42], ["string", "int64"])
    's2:u1i2:42'
    """
    if len(values) != len(key_types):
        raise ItemEncodingError(f"Got {len(values)} join-key values for {len(key_types)} join keys.")
    if not key_types:
        raise ItemEncodingError("An online item needs at least one join key.")
    parts = []
    for position, (value, key_type) in enumerate(zip(values, key_types)):
        if key_type not in KEY_TYPES:
            raise ItemEncodingError(
                f"Join key {position} has type {key_type!r}; online join keys must be one of {', '.join(KEY_TYPES)}."
            )
        problem = key_value_problem(value, key_type)
        if problem is not None:
            raise ItemEncodingError(f"Join key {position} {problem}.")
        text = str(value) if key_type == "string" else str(int(value))  # type: ignore[call-overload]
        parts.append(f"{_KEY_TAGS[key_type]}{len(text.encode('utf-8'))}:{text}")
    pk = "".join(parts)
    size = len(pk.encode("utf-8"))
    if size > MAX_PARTITION_KEY_BYTES:
        raise ItemEncodingError(
            f"The partition key of {_show_values(values)} is {size} bytes, over DynamoDB's "
            f"{MAX_PARTITION_KEY_BYTES}-byte limit. Use shorter join-key values."
        )
    return pk


def decode_partition_key(pk: str) -> tuple[Union[str, int], ...]:
    """Recover the join-key values from a ``pk`` string.

    Parameters
    ----------
    pk : str
        A partition key built by :func:`encode_partition_key`.

    Returns
    -------
    tuple
        The values: ``str`` for ``s`` parts, ``int`` for ``i`` parts.

    Raises
    ------
    ItemEncodingError
        If the string is not a valid partition key.

    Examples
    --------
    >>> decode_partition_key("s2:u1i2:42")
    ('u1', 42)
    """
    data = pk.encode("utf-8")
    values: list[Union[str, int]] = []
    pos = 0
    while pos < len(data):
        tag = data[pos : pos + 1]
        colon = data.find(b":", pos + 1)
        digits = data[pos + 1 : colon] if colon > 0 else b""
        if tag not in (b"s", b"i") or not digits.isdigit():
            raise ItemEncodingError(f"Malformed partition key {pk!r} at byte {pos}: expected s<len>: or i<len>:.")
        end = colon + 1 + int(digits)
        if end > len(data):
            raise ItemEncodingError(f"Malformed partition key {pk!r}: a part runs past the end of the key.")
        text = data[colon + 1 : end].decode("utf-8")
        values.append(text if tag == b"s" else int(text))
        pos = end
    if not values:
        raise ItemEncodingError("Malformed partition key '': it holds no join-key value.")
    return tuple(values)


# ----------------------------------------------------------------------------------------- values


def encode_value(value: object, feature_type: TypeSpec, *, name: str = "value") -> AttributeValue:
    """Encode one feature value as a DynamoDB ``AttributeValue``.

    Parameters
    ----------
    value : object
        The value; None becomes ``{"NULL": True}``.
    feature_type : str or FeatureType
        Its feature type.
    name : str, optional
        The feature name, used in error messages.

    Returns
    -------
    dict
        The attribute value, e.g. ``{"N": "1.5"}``.

    Raises
    ------
    ItemEncodingError
        If the value does not fit the type.

    Examples
    --------
    >>> encode_value(float("nan"), "float64")
    {'S': 'NaN'}
    >>> encode_value([1, None], "array<int32>")
    {'L': [{'N': '1'}, {'NULL': True}]}
    """
    return _encode(value, parse_feature_type(feature_type), name)


def _encode(value: object, ftype: FeatureType, name: str) -> AttributeValue:
    if value is None:
        return {"NULL": True}
    kind = ftype.name
    if ftype.element is not None:
        if isinstance(value, (str, bytes, bytearray, Mapping)) or not isinstance(value, Iterable):
            raise _mistyped(name, ftype, value)
        element = ftype.element
        return {"L": [_encode(v, element, name) for v in value]}
    if kind in _INT_RANGES:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise _mistyped(name, ftype, value)
        low, high = _INT_RANGES[kind]
        if not low <= int(value) <= high:
            raise ItemEncodingError(f"Feature {name!r}: {value} is outside the {kind} range [{low}, {high}].")
        return {"N": str(int(value))}
    if kind in ("float32", "float64"):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise _mistyped(name, ftype, value)
        return _encode_float(float(value), kind == "float32", name)
    if kind == "string":
        if not isinstance(value, str):
            raise _mistyped(name, ftype, value)
        return {"S": value}
    if kind == "bool":
        if not isinstance(value, bool):
            raise _mistyped(name, ftype, value)
        return {"BOOL": value}
    if kind == "bytes":
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise _mistyped(name, ftype, value)
        return {"B": bytes(value)}
    if kind == "timestamp":
        if not isinstance(value, (datetime, numbers.Integral)) or isinstance(value, bool):
            raise _mistyped(name, ftype, value)
        return {"N": str(to_epoch_micros(value, what=f"Feature {name!r}"))}
    raise ItemEncodingError(f"Feature {name!r} has unsupported type {ftype}.")  # unreachable once parsed


def _encode_float(value: float, single: bool, name: str) -> AttributeValue:
    if single:
        value, text = _to_float32(value, name)
    else:
        text = repr(value)
    # -0.0 is stored as text: DynamoDB would turn N "-0.0" into "0" and lose the sign.
    if math.isfinite(value) and not (value == 0.0 and math.copysign(1.0, value) < 0):
        if value == 0.0 or _N_MIN <= abs(Decimal(text)) <= _N_MAX:
            return {"N": text}
    if math.isnan(value):
        return {"S": "NaN"}
    if math.isinf(value):
        return {"S": "Infinity" if value > 0 else "-Infinity"}
    return {"S": text}


def _to_float32(value: float, name: str) -> tuple[float, str]:
    """Round to float32 and give the shortest decimal that reads back as the same float32."""
    if math.isfinite(value) and abs(value) > _FLOAT32_MAX:
        raise ItemEncodingError(f"Feature {name!r}: {value!r} is outside the float32 range.")
    single = struct.unpack("<f", struct.pack("<f", value))[0]
    if not math.isfinite(single) or single == 0.0:
        return single, repr(single)
    for digits in range(1, 10):  # 9 significant digits always suffice for float32
        text = f"{single:.{digits}g}"
        if abs(float(text)) <= _FLOAT32_MAX and struct.unpack("<f", struct.pack("<f", float(text)))[0] == single:
            return single, repr(float(text)) if "e" not in text else text
    return single, repr(single)


def _mistyped(name: str, ftype: FeatureType, value: object) -> ItemEncodingError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return ItemEncodingError(f"Feature {name!r} has type {ftype}, but got {type(value).__name__} {shown}.")


def decode_value(attribute: AttributeValue, feature_type: TypeSpec, *, name: str = "value") -> Any:
    """Decode a DynamoDB ``AttributeValue`` written by :func:`encode_value`.

    Parameters
    ----------
    attribute : dict
        The attribute value as the low-level client returns it.
    feature_type : str or FeatureType
        The feature type it was written with.
    name : str, optional
        The feature name, used in error messages.

    Returns
    -------
    object
        ``int``, ``float``, ``str``, ``bool``, ``bytes``, an aware UTC ``datetime`` (timestamps),
        a ``list`` (arrays) or None.

    Raises
    ------
    ItemEncodingError
        If the attribute's DynamoDB type does not belong to the feature type.

    Examples
    --------
    >>> decode_value({"S": "-Infinity"}, "float64")
    -inf
    """
    return _decode(attribute, parse_feature_type(feature_type), name)


def _decode(attribute: AttributeValue, ftype: FeatureType, name: str) -> Any:
    if "NULL" in attribute:
        return None
    kind = ftype.name
    try:
        if ftype.element is not None:
            element = ftype.element
            return [_decode(v, element, name) for v in attribute["L"]]
        if kind in _INT_RANGES:
            return int(Decimal(attribute["N"]))
        if kind in ("float32", "float64"):
            text = attribute["N"] if "N" in attribute else attribute["S"]
            number = float(text)
            return struct.unpack("<f", struct.pack("<f", number))[0] if kind == "float32" else number
        if kind == "string":
            return attribute["S"]
        if kind == "bool":
            return bool(attribute["BOOL"])
        if kind == "bytes":
            return bytes(attribute["B"])
        if kind == "timestamp":
            return from_epoch_micros(int(Decimal(attribute["N"])))
    except (KeyError, ValueError, TypeError) as exc:
        raise ItemEncodingError(
            f"Attribute {name!r} holds {attribute!r}, which is not a valid {ftype} value: {exc}."
        ) from exc
    raise ItemEncodingError(f"Attribute {name!r} has unsupported type {ftype}.")


# ----------------------------------------------------------------------------------------- size


def attribute_size(attribute: AttributeValue) -> int:
    """Size of an attribute value as DynamoDB counts it toward the 400 KB item limit, in bytes."""
    if "S" in attribute:
        return len(attribute["S"].encode("utf-8"))
    if "N" in attribute:
        digits = attribute["N"].lstrip("-").split("e")[0].split("E")[0].replace(".", "").strip("0")
        return (len(digits) + 1) // 2 + 1 if digits else 1
    if "B" in attribute:
        return len(attribute["B"])
    if "L" in attribute:
        return 3 + sum(1 + attribute_size(v) for v in attribute["L"])
    if "M" in attribute:
        return 3 + sum(1 + len(k.encode("utf-8")) + attribute_size(v) for k, v in attribute["M"].items())
    return 1  # NULL, BOOL


def item_size(item: Item) -> int:
    """Size of an item as DynamoDB counts it (attribute names plus values), in bytes."""
    return sum(len(name.encode("utf-8")) + attribute_size(value) for name, value in item.items())


# ----------------------------------------------------------------------------------------- items


@dataclass(frozen=True)
class DecodedItem:
    """An online item read back.

    Attributes
    ----------
    key : tuple
        The join-key values, decoded from ``pk``.
    values : dict
        Feature name to value (None for null or absent attributes).
    event_ts : int
        Event time, epoch microseconds.
    created_ts : int
        Created time, epoch microseconds (0 when the view has none).
    expire_at : int, optional
        The TTL attribute, epoch seconds.
    """

    key: tuple[Union[str, int], ...]
    values: dict[str, Any]
    event_ts: int
    created_ts: int
    expire_at: Optional[int] = None

    @property
    def event_timestamp(self) -> datetime:
        """The event time as an aware UTC datetime."""
        return from_epoch_micros(self.event_ts)


@dataclass(frozen=True)
class ItemLayout:
    """How one view's rows become items: join keys and features with their types, and the TTL.

    Picklable plain data, so it can travel to Spark executors. Build it with :meth:`build`.

    Attributes
    ----------
    keys : tuple of (str, str)
        Join-key names and types, in order.
    features : tuple of (str, FeatureType)
        Feature names and types, in order.
    ttl_micros : int, optional
        Time to live in microseconds; when set, items get ``expire_at``.
    """

    keys: tuple[tuple[str, str], ...]
    features: tuple[tuple[str, FeatureType], ...]
    ttl_micros: Optional[int] = None

    @classmethod
    def build(
        cls,
        keys: Mapping[str, str],
        features: Mapping[str, TypeSpec],
        ttl: Optional[timedelta] = None,
    ) -> ItemLayout:
        """Validate names and types and build a layout.

        Parameters
        ----------
        keys : mapping of str to str
            Join-key name to type (``string``, ``int32`` or ``int64``), in join-key order.
        features : mapping of str to str or FeatureType
            Feature name to feature type.
        ttl : timedelta, optional
            The view's time to live; None or zero means no ``expire_at``.

        Returns
        -------
        ItemLayout
            The layout.

        Raises
        ------
        ItemEncodingError
            If there is no key, a type is unknown or not allowed for keys, or a feature uses a
            reserved attribute name (``pk``, ``event_ts``, ``created_ts``, ``expire_at``).
        """
        if not keys:
            raise ItemEncodingError("An online layout needs at least one join key.")
        for name, key_type in keys.items():
            if key_type not in KEY_TYPES:
                raise ItemEncodingError(
                    f"Join key {name!r} has type {key_type!r}; online join keys must be one of "
                    f"{', '.join(KEY_TYPES)}. Cast the key column."
                )
        reserved = sorted(RESERVED_ATTRIBUTES.intersection(features))
        if reserved:
            raise ItemEncodingError(
                f"Feature name(s) {reserved} clash with attributes of the online item layout "
                f"({', '.join(sorted(RESERVED_ATTRIBUTES))}). Rename the feature(s)."
            )
        ttl_micros = None
        if ttl is not None:
            if ttl < timedelta(0):
                raise ItemEncodingError(f"ttl must not be negative, got {ttl}.")
            ttl_micros = (ttl // _ONE_MICROSECOND) or None
        return cls(
            keys=tuple(keys.items()),
            features=tuple((name, parse_feature_type(t)) for name, t in features.items()),
            ttl_micros=ttl_micros,
        )

    @property
    def key_names(self) -> tuple[str, ...]:
        """The join-key names."""
        return tuple(name for name, _ in self.keys)

    @property
    def key_types(self) -> tuple[str, ...]:
        """The join-key types."""
        return tuple(t for _, t in self.keys)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The feature names."""
        return tuple(name for name, _ in self.features)

    def partition_key(self, key_values: Sequence[object]) -> str:
        """The ``pk`` of the given join-key values (see :func:`encode_partition_key`)."""
        return encode_partition_key(key_values, self.key_types)

    def describe_key(self, key_values: Sequence[object]) -> str:
        """A readable ``name=value`` rendering of a key, for messages."""
        return ", ".join(f"{name}={value!r}" for name, value in zip(self.key_names, key_values))

    def encode(
        self,
        key_values: Sequence[object],
        values: Sequence[object],
        event_ts: Timestamp,
        created_ts: Optional[Timestamp] = None,
    ) -> Item:
        """Encode one entity's latest feature values as an item.

        Parameters
        ----------
        key_values : sequence
            Join-key values in :attr:`keys` order.
        values : sequence
            Feature values in :attr:`features` order (timestamps as datetime or epoch microseconds).
        event_ts : int or datetime
            Event time (epoch microseconds or datetime).
        created_ts : int or datetime, optional
            Created time; None is stored as 0.

        Returns
        -------
        dict
            The item.

        Raises
        ------
        ItemEncodingError
            If a value does not fit its type.
        ItemTooLargeError
            If the item is over DynamoDB's 400 KB limit; the message names the key and the size.
        """
        if len(values) != len(self.features):
            raise ItemEncodingError(f"Got {len(values)} feature values for {len(self.features)} features.")
        try:
            pk = self.partition_key(key_values)
        except ItemEncodingError as exc:
            raise ItemEncodingError(f"Key ({self.describe_key(key_values)}): {exc}") from exc
        event_us = to_epoch_micros(event_ts, what="event_ts")
        created_us = 0 if created_ts is None else to_epoch_micros(created_ts, what="created_ts")
        item: Item = {
            PK_ATTRIBUTE: {"S": pk},
            EVENT_TS_ATTRIBUTE: {"N": str(event_us)},
            CREATED_TS_ATTRIBUTE: {"N": str(created_us)},
        }
        if self.ttl_micros is not None:
            expire_us = event_us + self.ttl_micros
            item[EXPIRE_AT_ATTRIBUTE] = {"N": str(-(-expire_us // 1_000_000))}  # ceil to whole seconds
        for (name, ftype), value in zip(self.features, values):
            item[name] = _encode(value, ftype, name)
        size = item_size(item)
        if size > MAX_ITEM_BYTES:
            largest = sorted(((attribute_size(v), n) for n, v in item.items()), reverse=True)[:3]
            shown = ", ".join(f"{n} ({s} bytes)" for s, n in largest)
            raise ItemTooLargeError(
                f"The online item for key ({self.describe_key(key_values)}) is {size} bytes, over DynamoDB's "
                f"400 KB item limit ({MAX_ITEM_BYTES} bytes). Largest attributes: {shown}. Drop or shrink "
                f"those features (long arrays, strings or bytes) or move them to another feature view."
            )
        return item

    def decode(self, item: Item, features: Optional[Sequence[str]] = None) -> DecodedItem:
        """Decode an item written with this layout.

        Parameters
        ----------
        item : dict
            The item as the low-level client returns it.
        features : sequence of str, optional
            The features to decode (default: all of the layout's). Absent attributes decode to None.

        Returns
        -------
        DecodedItem
            The decoded item.

        Raises
        ------
        ItemEncodingError
            If ``pk`` or a timestamp is missing or malformed, or a value does not match its type.
        """
        types = dict(self.features)
        wanted = self.feature_names if features is None else tuple(features)
        try:
            pk = item[PK_ATTRIBUTE]["S"]
            event_us = int(Decimal(item[EVENT_TS_ATTRIBUTE]["N"]))
            created_us = int(Decimal(item.get(CREATED_TS_ATTRIBUTE, {"N": "0"})["N"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise ItemEncodingError(
                f"Item is not in the online layout (needs {PK_ATTRIBUTE} S and {EVENT_TS_ATTRIBUTE} N): {exc!r}."
            ) from exc
        values: dict[str, Any] = {}
        for name in wanted:
            if name not in types:
                raise ItemEncodingError(f"Feature {name!r} is not in the layout; known: {list(types)}.")
            attribute = item.get(name)
            values[name] = None if attribute is None else _decode(attribute, types[name], name)
        expire = item.get(EXPIRE_AT_ATTRIBUTE)
        return DecodedItem(
            key=decode_partition_key(pk),
            values=values,
            event_ts=event_us,
            created_ts=created_us,
            expire_at=int(Decimal(expire["N"])) if expire is not None and "N" in expire else None,
        )


def encode_item(
    *,
    keys: Mapping[str, str],
    key_values: Sequence[object],
    feature_types: Mapping[str, TypeSpec],
    values: Mapping[str, object],
    event_ts: Timestamp,
    created_ts: Optional[Timestamp] = None,
    ttl: Optional[timedelta] = None,
) -> Item:
    """Encode one item (convenience over :class:`ItemLayout` for a single call).

    Parameters
    ----------
    keys : mapping of str to str
        Join-key name to type, in order.
    key_values : sequence
        The join-key values, in the same order.
    feature_types : mapping of str to str
        Feature name to type.
    values : mapping of str to object
        Feature name to value; a feature missing from the mapping is stored as NULL.
    event_ts, created_ts : int or datetime
        Event and created time (epoch microseconds or datetime).
    ttl : timedelta, optional
        Time to live; sets ``expire_at``.

    Returns
    -------
    dict
        The item.

    Raises
    ------
    ItemEncodingError, ItemTooLargeError
        See :meth:`ItemLayout.encode`.

    Examples
    --------
    >>> encode_item(keys={"user": "string"}, key_values=["u1"], feature_types={"x": "float64"},
    ...             values={"x": 0.5}, event_ts=1_000_000)["x"]
    {'N': '0.5'}
    """
    layout = ItemLayout.build(keys, feature_types, ttl)
    return layout.encode(key_values, [values.get(name) for name in layout.feature_names], event_ts, created_ts)


def decode_item(
    item: Item,
    *,
    keys: Mapping[str, str],
    feature_types: Mapping[str, TypeSpec],
    features: Optional[Sequence[str]] = None,
) -> DecodedItem:
    """Decode one item (convenience over :meth:`ItemLayout.decode`).

    Parameters
    ----------
    item : dict
        The item as the low-level client returns it.
    keys : mapping of str to str
        Join-key name to type.
    feature_types : mapping of str to str
        Feature name to type.
    features : sequence of str, optional
        Features to decode (default all).

    Returns
    -------
    DecodedItem
        The decoded item.
    """
    return ItemLayout.build(keys, feature_types).decode(item, features)


def _show_values(values: Sequence[object]) -> str:
    shown = repr(tuple(values))
    return shown if len(shown) <= 120 else shown[:117] + "..."
