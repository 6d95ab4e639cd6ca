"""Where a feature view's rows come from.

Every source names its event-time column (``timestamp_field``) and optionally a
``created_timestamp_field`` that orders corrections of the same event.

- :class:`ManagedSource`: a Delta table featurespark owns in the offline store
  (``<offline_store.root>/<view>``, registered as ``<database>.<view>``), filled by ingestion.
- :class:`DeltaSource` / :class:`ParquetSource`: files at a path or URI.
- :class:`TableSource`: a metastore table (Hive locally, Glue on EMR).
- :class:`QuerySource`: a Spark SQL query, written by the user.
"""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Any, Callable, ClassVar, Optional, TypeVar

from featurespark.definitions.field import check_name
from featurespark.errors import DefinitionError

__all__ = [
    "DeltaSource", "ManagedSource", "ParquetSource", "QuerySource", "Source", "TIMESTAMP_ENCODINGS",
    "TableSource",
]


_T = TypeVar("_T")


def _keyword_only(cls: type[_T]) -> type[_T]:
    """Make a dataclass's ``__init__`` take keyword arguments only.

    ``dataclass(kw_only=True)`` needs Python 3.10; EMR 7.x runs Python 3.9. Positional arguments
    would silently fill ``timestamp_field`` with a path, so they are refused with a clear error.
    """
    init: Callable[..., None] = cls.__init__

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if args:
            raise DefinitionError(
                f"{cls.__name__} takes keyword arguments only, e.g. "
                f"{cls.__name__}(timestamp_field='event_timestamp'); found positional {args!r}."
            )
        init(self, **kwargs)

    cls.__init__ = __init__  # type: ignore[method-assign]
    return cls


#: Ways a source may encode its timestamp columns other than as Spark timestamps.
TIMESTAMP_ENCODINGS = ("epoch_seconds", "epoch_millis", "epoch_micros", "date")


@_keyword_only
@dataclass(frozen=True)
class Source:
    """Base of all sources; use one of the subclasses.

    Parameters
    ----------
    timestamp_field : str
        Event-time column.
    created_timestamp_field : str, optional
        Column ordering corrections of the same event (later wins).
    timestamp_encoding : str, optional
        How the timestamp columns are stored when they are not timestamps: ``epoch_seconds``,
        ``epoch_millis``, ``epoch_micros`` or ``date`` (midnight UTC). Unset means they must be
        timestamps; dates and numbers are then refused rather than guessed.
    """

    timestamp_field: str = "event_timestamp"
    created_timestamp_field: Optional[str] = None
    timestamp_encoding: Optional[str] = None

    kind: ClassVar[str] = ""

    def __post_init__(self) -> None:
        check_name(self.timestamp_field, what=f"{type(self).__name__}.timestamp_field")
        if self.timestamp_encoding is not None and self.timestamp_encoding not in TIMESTAMP_ENCODINGS:
            raise DefinitionError(
                f"{type(self).__name__}.timestamp_encoding {self.timestamp_encoding!r} is not supported; "
                f"use one of {', '.join(TIMESTAMP_ENCODINGS)}, or leave it unset for timestamp columns."
            )
        if self.created_timestamp_field is not None:
            check_name(self.created_timestamp_field, what=f"{type(self).__name__}.created_timestamp_field")
            if self.created_timestamp_field == self.timestamp_field:
                raise DefinitionError(
                    f"{type(self).__name__}: created_timestamp_field and timestamp_field are both "
                    f"{self.timestamp_field!r}. Leave created_timestamp_field unset if there is none."
                )

    def describe(self) -> str:
        """One-line human description."""
        return self.kind

    def to_dict(self) -> dict[str, Any]:
        """Plain form for the registry."""
        return {"kind": self.kind, **asdict(self)}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "Source":
        """Inverse of :meth:`to_dict`."""
        fields = dict(data)
        kind = fields.pop("kind")
        classes = {cls.kind: cls for cls in (ManagedSource, DeltaSource, ParquetSource, TableSource, QuerySource)}
        if kind not in classes:
            raise DefinitionError(f"Unknown source kind {kind!r} in the registry; expected one of {sorted(classes)}.")
        return classes[kind](**fields)


def _require_text(value: Any, *, what: str, example: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise DefinitionError(f"{what} must be a non-empty string, e.g. {example}; found {value!r}.")


@_keyword_only
@dataclass(frozen=True)
class ManagedSource(Source):
    """Rows ingested with ``FeatureStore.write_features`` into a Delta table featurespark owns.

    Examples
    --------
    >>> ManagedSource(timestamp_field="event_timestamp", created_timestamp_field="created")
    ManagedSource(timestamp_field='event_timestamp', created_timestamp_field='created', timestamp_encoding=None)
    """

    kind: ClassVar[str] = "managed"

    def describe(self) -> str:
        return "managed Delta table in the offline store"


@_keyword_only
@dataclass(frozen=True)
class DeltaSource(Source):
    """A Delta table at a path or URI (``s3://``, ``s3a://`` or local)."""

    path: str = ""
    kind: ClassVar[str] = "delta"

    def __post_init__(self) -> None:
        super().__post_init__()
        _require_text(self.path, what="DeltaSource.path", example="'s3://bucket/features/drivers'")

    def describe(self) -> str:
        return f"delta at {self.path}"


@_keyword_only
@dataclass(frozen=True)
class ParquetSource(Source):
    """Parquet files at a path or URI."""

    path: str = ""
    kind: ClassVar[str] = "parquet"

    def __post_init__(self) -> None:
        super().__post_init__()
        _require_text(self.path, what="ParquetSource.path", example="'s3://bucket/raw/drivers/'")

    def describe(self) -> str:
        return f"parquet at {self.path}"


@_keyword_only
@dataclass(frozen=True)
class TableSource(Source):
    """A metastore table, ``database.table`` or ``table``."""

    table: str = ""
    kind: ClassVar[str] = "table"

    def __post_init__(self) -> None:
        super().__post_init__()
        _require_text(self.table, what="TableSource.table", example="'analytics.driver_stats'")

    def describe(self) -> str:
        return f"table {self.table}"


@_keyword_only
@dataclass(frozen=True)
class QuerySource(Source):
    """The result of a Spark SQL query (the query is the user's own text)."""

    query: str = ""
    kind: ClassVar[str] = "query"

    def __post_init__(self) -> None:
        super().__post_init__()
        _require_text(self.query, what="QuerySource.query", example="'SELECT * FROM analytics.trips'")

    def describe(self) -> str:
        return f"query: {' '.join(self.query.split())[:60]}"
