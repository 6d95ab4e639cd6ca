"""Validate the inputs of a point-in-time join and resolve them into :class:`ResolvedView` objects.

All checks here read schemas only; none runs a Spark job.
"""
from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Mapping, Optional, Sequence

from pyspark.sql import DataFrame
from pyspark.sql.types import (
    DataType,
    DateType,
    NumericType,
    StringType,
    StructType,
    TimestampNTZType,
    TimestampType,
)

from featurespark.errors import InvalidArgumentError, SchemaMismatchError
from featurespark.pit._common import (
    MAX_SPAN_MICROS,
    RESERVED_PREFIX,
    common_key_type,
    is_orderable,
)
from featurespark.pit.view import PitView

logger = logging.getLogger(__name__)

_ONE_MICRO = timedelta(microseconds=1)


@dataclass(frozen=True, eq=False)
class ResolvedView:
    """A :class:`PitView` checked against both schemas, with actual column names.

    Keys are sorted by entity column name so that views sharing an entity key set agree on order.
    """

    label: str
    feature_df: DataFrame
    entity_keys: tuple[str, ...]
    feature_keys: tuple[str, ...]
    entity_key_types: tuple[DataType, ...]
    feature_key_types: tuple[DataType, ...]
    feature_timestamp: str
    feature_timestamp_type: DataType
    created_timestamp: Optional[str]
    created_timestamp_type: Optional[DataType]
    ttl_micros: Optional[int]
    features: tuple[str, ...]
    feature_types: tuple[DataType, ...]
    outputs: tuple[str, ...]
    filter_by_created: bool

    def key_types(self) -> tuple[DataType, ...]:
        """The types this view's keys are compared in (see :func:`common_key_type`)."""
        return group_key_types([self])


def case_sensitive(df: DataFrame) -> bool:
    """Whether the session resolves column names case-sensitively (reads the conf, never sets it)."""
    return str(df.sparkSession.conf.get("spark.sql.caseSensitive", "false")).lower() == "true"


def _norm(name: str, sensitive: bool) -> str:
    return name if sensitive else name.lower()


def resolve_column(available: Sequence[str], name: object, *, frame: str, role: str, sensitive: bool) -> str:
    """Return the actual name of column ``name`` of a frame, or raise naming what is available."""
    if not isinstance(name, str):
        raise InvalidArgumentError(f"{role} column name must be a string, got {type(name).__name__} {name!r}")
    if name in available:
        return name
    if not sensitive:
        matches = [c for c in available if c.lower() == name.lower()]
        if len(matches) == 1:
            return matches[0]
    hint = difflib.get_close_matches(name, list(available), n=1)
    did_you_mean = f" Did you mean {hint[0]!r}?" if hint else ""
    listing = ", ".join(available) if available else "(none)"
    raise SchemaMismatchError(
        f"{role} column {name!r} not found in {frame}; available columns: {listing}.{did_you_mean}"
    )


def check_timestamp_type(dtype: DataType, name: str, *, frame: str, role: str) -> bool:
    """Accept TIMESTAMP and TIMESTAMP_NTZ; return True for TIMESTAMP_NTZ. Others raise with a fix."""
    if isinstance(dtype, TimestampType):
        return False
    if isinstance(dtype, TimestampNTZType):
        return True
    found = f"{role} column {name!r} of {frame} is {dtype.simpleString().upper()}"
    if isinstance(dtype, DateType):
        fix = (
            "a point-in-time join needs TIMESTAMP or TIMESTAMP_NTZ so that times within a day compare. "
            f"Convert it first, e.g. df.withColumn({name!r}, F.col({name!r}).cast('timestamp')) "
            "(midnight in the session time zone)."
        )
    elif isinstance(dtype, StringType):
        fix = f"parse it first, e.g. df.withColumn({name!r}, F.to_timestamp(F.col({name!r}), '<format>'))."
    elif isinstance(dtype, NumericType):
        fix = (
            f"if it holds epoch seconds convert it with F.timestamp_seconds(F.col({name!r})) "
            "(F.timestamp_millis / F.timestamp_micros for other units)."
        )
    else:
        fix = "it must be TIMESTAMP or TIMESTAMP_NTZ."
    raise SchemaMismatchError(f"{found}; {fix}")


def check_entity(entity_df: DataFrame, entity_timestamp: str, sensitive: bool) -> tuple[str, bool]:
    """Check the entity frame; return the actual timestamp column name and whether it is NTZ."""
    columns = entity_df.columns
    seen: dict[str, str] = {}
    for c in columns:
        key = _norm(c, sensitive)
        if key in seen:
            raise SchemaMismatchError(
                f"entity_df has more than one column named {c!r}; rename or drop the duplicates "
                "(for example after a join) before the point-in-time join."
            )
        seen[key] = c
        if c.lower().startswith(RESERVED_PREFIX):
            raise InvalidArgumentError(
                f"entity_df column {c!r} uses the prefix {RESERVED_PREFIX!r} reserved for "
                "point-in-time join internals; rename it."
            )
    ets = resolve_column(columns, entity_timestamp, frame="entity_df", role="entity timestamp", sensitive=sensitive)
    ntz = check_timestamp_type(entity_df.schema[ets].dataType, ets, frame="entity_df", role="entity timestamp")
    return ets, ntz


def ttl_to_micros(ttl: object, label: str) -> Optional[int]:
    """Validate a TTL and return it in microseconds; None means unbounded."""
    if ttl is None:
        return None
    if not isinstance(ttl, timedelta):
        raise InvalidArgumentError(
            f"ttl of {label} must be a datetime.timedelta or None, got {type(ttl).__name__} {ttl!r}; "
            "for example ttl=timedelta(hours=2)."
        )
    if ttl < timedelta(0):
        raise InvalidArgumentError(
            f"ttl of {label} is negative ({ttl}); a TTL is how far back from the entity timestamp a "
            "feature row may be. Use a positive timedelta, timedelta(0) for exact-time matches, or None."
        )
    if ttl % _ONE_MICRO:
        raise InvalidArgumentError(
            f"ttl of {label} ({ttl!r}) is not a whole number of microseconds, the resolution of Spark "
            "timestamps; round it to microseconds."
        )
    micros = ttl // _ONE_MICRO
    if micros >= MAX_SPAN_MICROS:
        logger.debug("ttl of %s covers the whole timestamp range; treated as unbounded", label)
        return None
    return micros


def _key_pairs(keys: object, label: str) -> list[tuple[str, str]]:
    if isinstance(keys, str) or keys is None:
        raise InvalidArgumentError(
            f"keys of {label} must be a list of column names or a mapping {{entity_column: feature_column}}, "
            f"got {keys!r}; for one key write keys=[{keys!r}]."
        )
    if isinstance(keys, Mapping):
        pairs = [(e, f) for e, f in keys.items()]
    elif isinstance(keys, Sequence):
        pairs = [(k, k) for k in keys]
    else:
        raise InvalidArgumentError(
            f"keys of {label} must be a list of column names or a mapping, got {type(keys).__name__}."
        )
    if not pairs:
        raise InvalidArgumentError(
            f"keys of {label} is empty; a point-in-time join needs at least one join key. For a view "
            "without entities add the same constant column to both frames and join on it."
        )
    return pairs


def _name_list(values: object, what: str, label: str) -> list[str]:
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise InvalidArgumentError(f"{what} of {label} must be a list of column names, got {values!r}.")
    return list(values)


def resolve_view(
    view: PitView,
    label: str,
    entity_df: DataFrame,
    entity_ntz: bool,
    sensitive: bool,
) -> ResolvedView:
    """Check one view against the entity schema and its own schema."""
    if not isinstance(view, PitView):
        raise InvalidArgumentError(f"{label} must be a PitView, got {type(view).__name__}.")
    frame = label if label == "feature_df" else f"feature_df of {label}"
    fcols = view.feature_df.columns
    fschema: StructType = view.feature_df.schema
    eschema: StructType = entity_df.schema

    pairs = []
    for e, f in _key_pairs(view.keys, label):
        ec = resolve_column(entity_df.columns, e, frame="entity_df", role="join key", sensitive=sensitive)
        fc = resolve_column(fcols, f, frame=frame, role="join key", sensitive=sensitive)
        pairs.append((ec, fc))
    if len({_norm(e, sensitive) for e, _ in pairs}) != len(pairs):
        raise InvalidArgumentError(f"keys of {label} name an entity column more than once: {pairs}.")
    pairs.sort(key=lambda p: p[0])
    for ec, fc in pairs:
        et, ft = eschema[ec].dataType, fschema[fc].dataType
        if not is_orderable(et) or not is_orderable(ft):
            raise SchemaMismatchError(
                f"join key {ec!r} ({et.simpleString()} in entity_df, {ft.simpleString()} in {frame}) holds maps "
                "or variants, which Spark cannot compare for equality; join on scalar columns instead."
            )
        if common_key_type([et, ft]) is None:
            raise SchemaMismatchError(
                f"join key {ec!r} is {et.simpleString()} in entity_df but {fc!r} is {ft.simpleString()} in "
                f"{frame}; the two cannot be compared. Cast one side to the other's type first, e.g. "
                f"df.withColumn({fc!r}, F.col({fc!r}).cast({et.simpleString()!r}))."
            )

    fts = resolve_column(fcols, view.feature_timestamp, frame=frame, role="feature timestamp", sensitive=sensitive)
    fts_type = fschema[fts].dataType
    _check_kind(fts_type, fts, frame, "feature timestamp", entity_ntz)
    cts: Optional[str] = None
    cts_type: Optional[DataType] = None
    if view.created_timestamp is not None:
        cts = resolve_column(
            fcols, view.created_timestamp, frame=frame, role="created timestamp", sensitive=sensitive
        )
        cts_type = fschema[cts].dataType
        _check_kind(cts_type, cts, frame, "created timestamp", entity_ntz)
    if view.filter_by_created_timestamp and cts is None:
        raise InvalidArgumentError(
            f"filter_by_created_timestamp=True for {label} needs created_timestamp (the column saying "
            "when each feature row was written)."
        )

    ttl_micros = ttl_to_micros(view.ttl, label)
    reserved = {_norm(c, sensitive) for c in [fts, cts, *[f for _, f in pairs]] if c is not None}
    if view.features is None:
        features = [c for c in fcols if _norm(c, sensitive) not in reserved]
        if not features:
            raise InvalidArgumentError(
                f"{frame} has no columns besides its keys and timestamps, so there is nothing to join; "
                "pass features=[...] naming the columns to return."
            )
    else:
        features = [
            resolve_column(fcols, f, frame=frame, role="feature", sensitive=sensitive)
            for f in _name_list(view.features, "features", label)
        ]
        if not features:
            raise InvalidArgumentError(f"features of {label} is empty; name at least one column to return.")
        if len({_norm(f, sensitive) for f in features}) != len(features):
            raise InvalidArgumentError(f"features of {label} lists a column more than once: {features}.")

    outputs = _output_names(view, label, frame, features, fcols, sensitive)
    return ResolvedView(
        label=label,
        feature_df=view.feature_df,
        entity_keys=tuple(e for e, _ in pairs),
        feature_keys=tuple(f for _, f in pairs),
        entity_key_types=tuple(eschema[e].dataType for e, _ in pairs),
        feature_key_types=tuple(fschema[f].dataType for _, f in pairs),
        feature_timestamp=fts,
        feature_timestamp_type=fts_type,
        created_timestamp=cts,
        created_timestamp_type=cts_type,
        ttl_micros=ttl_micros,
        features=tuple(features),
        feature_types=tuple(fschema[f].dataType for f in features),
        outputs=tuple(outputs),
        filter_by_created=bool(view.filter_by_created_timestamp),
    )


def _check_kind(dtype: DataType, name: str, frame: str, role: str, entity_ntz: bool) -> None:
    ntz = check_timestamp_type(dtype, name, frame=frame, role=role)
    if ntz != entity_ntz:
        kinds = {True: "TIMESTAMP_NTZ", False: "TIMESTAMP"}
        raise SchemaMismatchError(
            f"{role} column {name!r} of {frame} is {kinds[ntz]} but the entity timestamp is "
            f"{kinds[entity_ntz]}; both must be the same kind to compare. Cast one side first: "
            "F.col(c).cast('timestamp') reads a TIMESTAMP_NTZ wall-clock time in the session time zone, "
            "F.col(c).cast('timestamp_ntz') takes the wall-clock time of an instant in that zone."
        )


def _output_names(
    view: PitView, label: str, frame: str, features: list[str], fcols: Sequence[str], sensitive: bool
) -> list[str]:
    prefix = view.prefix or ""
    if not isinstance(prefix, str):
        raise InvalidArgumentError(f"prefix of {label} must be a string, got {prefix!r}.")
    renames: dict[str, str] = {}
    for f, out in (view.output_names or {}).items():
        actual = resolve_column(fcols, f, frame=frame, role="output_names", sensitive=sensitive)
        if actual not in features:
            raise InvalidArgumentError(
                f"output_names of {label} renames {f!r}, which is not among the joined features {features}."
            )
        if not isinstance(out, str) or not out:
            raise InvalidArgumentError(f"output_names of {label} maps {f!r} to {out!r}; expected a column name.")
        renames[actual] = out
    return [renames.get(f, prefix + f) for f in features]


def check_outputs(entity_columns: Sequence[str], views: Sequence[ResolvedView], sensitive: bool) -> None:
    """Output columns must not clash with entity columns, with each other, or with internal names."""
    owner = {_norm(c, sensitive): f"entity_df column {c!r}" for c in entity_columns}
    for view in views:
        for feature, out in zip(view.features, view.outputs):
            if out.lower().startswith(RESERVED_PREFIX):
                raise InvalidArgumentError(
                    f"output column {out!r} of {view.label} uses the prefix {RESERVED_PREFIX!r} reserved for "
                    "point-in-time join internals; choose another name."
                )
            key = _norm(out, sensitive)
            if key in owner:
                raise InvalidArgumentError(
                    f"output column {out!r} (feature {feature!r} of {view.label}) clashes with {owner[key]}. "
                    "Set prefix=... or output_names={...} for the view, or rename/drop the entity column."
                )
            owner[key] = f"output column {out!r} of {view.label}"


def group_key_types(views: Sequence[ResolvedView]) -> tuple[DataType, ...]:
    """Common key types of views sharing one entity key set (entity and every view's key types)."""
    first = views[0]
    result = []
    for j, ename in enumerate(first.entity_keys):
        types = [first.entity_key_types[j], *[v.feature_key_types[j] for v in views]]
        common = common_key_type(types)
        if common is None:
            found = ", ".join(f"{v.label}: {v.feature_key_types[j].simpleString()}" for v in views)
            raise SchemaMismatchError(
                f"join key {ename!r} has types that cannot be compared across views ({found}); "
                "cast the feature keys to one type."
            )
        result.append(common)
    return tuple(result)
