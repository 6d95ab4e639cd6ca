"""Where a feature view's rows come from.

Every source names its event-time column (``timestamp_field``) and optionally a
``created_timestamp_field`` that orders corrections of the same event.

- :class:`ManagedSource`: a Delta table featurespark owns in the offline store
  (``<offline_store.root>/<view>``, registered as ``<database>.<view>``), filled by ingestion.
- :class:`DeltaSource` / :class:`ParquetSource`: files at a path or URI.
- :class:`TableSource`: a metastore table (Hive locally, Glue on EMR).
- :class:`QuerySource`: a Spark SQL query, written by the user.
- :class:`IcebergSource` / :class:`HudiSource`: an Apache Iceberg or Apache Hudi table, by catalog name or
  by path; training sets record the snapshot (Iceberg) or commit instant (Hudi) they read.
- :class:`JdbcSource` / :class:`RedshiftSource`: a table or query of a database, read through Spark's JDBC
  reader or the Spark Redshift connector EMR ships (credentials come from the environment, never from
  the definition).
"""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Any, Callable, ClassVar, Optional, TypeVar

from featurespark.definitions.field import check_name
from featurespark.errors import DefinitionError

__all__ = [
    "DeltaSource", "HudiSource", "IcebergSource", "JdbcSource", "ManagedSource", "ParquetSource", "QuerySource",
    "RedshiftSource", "Source", "TIMESTAMP_ENCODINGS", "TableSource",
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
        classes = {cls.kind: cls for cls in (ManagedSource, DeltaSource, ParquetSource, TableSource, QuerySource,
                                             IcebergSource, HudiSource, JdbcSource, RedshiftSource)}
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


def _check_options(owner: str, options: Optional[dict[str, str]], allowed: tuple[str, ...], hint: str) -> None:
    if options is None:
        return
    if not isinstance(options, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in options.items()):
        raise DefinitionError(f"{owner}.options must map option names to string values; found {options!r}.")
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise DefinitionError(
            f"{owner}.options has unknown option(s) {', '.join(map(repr, unknown))}; allowed: "
            f"{', '.join(allowed)}. {hint}"
        )


def _one_of(owner: str, values: dict[str, Optional[str]], example: str) -> None:
    given = [name for name, value in values.items() if value is not None]
    names = " or ".join(values)
    if len(given) != 1:
        raise DefinitionError(
            f"{owner} needs exactly one of {names}, e.g. {owner}({example}, timestamp_field='event_timestamp'); "
            f"found {', '.join(given) if given else 'neither'}."
        )
    _require_text(values[given[0]], what=f"{owner}.{given[0]}", example=example.split("=", 1)[1])


#: Read options an Iceberg source may set; time travel (``snapshot-id``, ``as-of-timestamp``, ...) is
#: featurespark's own (training sets pin the snapshot they read), so it is not among them.
ICEBERG_READ_OPTIONS = ("split-size", "lookback", "file-open-cost", "vectorization-enabled", "batch-size")
#: Read options a Hudi source may set; ``as.of.instant`` is featurespark's own (pinned rebuilds).
HUDI_READ_OPTIONS = ("hoodie.metadata.enable", "hoodie.file.index.enable", "hoodie.schema.on.read.enable",
                     "hoodie.datasource.read.extract.partition.from.path")
#: Options of Spark's JDBC reader a JDBC or Redshift source may set. Credentials are not among them:
#: ``user_env`` / ``password_env`` name environment variables instead.
JDBC_READ_OPTIONS = ("fetchsize", "partitionColumn", "lowerBound", "upperBound", "numPartitions", "queryTimeout",
                     "sessionInitStatement", "pushDownPredicate", "customSchema", "driver")


@_keyword_only
@dataclass(frozen=True)
class _TableFormatSource(Source):
    """A table of an open table format (Iceberg, Hudi), by catalog name or by path."""

    table: Optional[str] = None
    path: Optional[str] = None
    options: Optional[dict[str, str]] = None
    _example: ClassVar[str] = ""
    _allowed_options: ClassVar[tuple[str, ...]] = ()
    _pinned: ClassVar[str] = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        owner = type(self).__name__
        _one_of(owner, {"table": self.table, "path": self.path}, self._example)
        _check_options(owner, self.options, self._allowed_options,
                       f"Training sets pin the {self._pinned} themselves (--pin-versions).")

    def describe(self) -> str:
        return f"{self.kind} table {self.table}" if self.table else f"{self.kind} at {self.path}"


@_keyword_only
@dataclass(frozen=True)
class IcebergSource(_TableFormatSource):
    """An Apache Iceberg table, by catalog name or by path.

    Parameters
    ----------
    table : str, optional
        ``catalog.database.table``: ``iceberg.db.t`` locally (the Hadoop catalog ``configure_spark`` sets
        up), the Glue catalog on EMR (see docs/offline_store.md).
    path : str, optional
        The table's folder (a Hadoop table), when it is not in a catalog.
    options : dict, optional
        Iceberg read options among :data:`ICEBERG_READ_OPTIONS`.

    Examples
    --------
    >>> IcebergSource(table="iceberg.db.trips", timestamp_field="ts").describe()
    'iceberg table iceberg.db.trips'
    >>> IcebergSource(timestamp_field="ts")
    Traceback (most recent call last):
    ...
    featurespark.errors.DefinitionError: IcebergSource needs exactly one of table or path, e.g. \
IcebergSource(table='iceberg.db.trips', timestamp_field='event_timestamp'); found neither.
    """

    kind: ClassVar[str] = "iceberg"
    _example: ClassVar[str] = "table='iceberg.db.trips'"
    _allowed_options: ClassVar[tuple[str, ...]] = ICEBERG_READ_OPTIONS
    _pinned: ClassVar[str] = "snapshot"


@_keyword_only
@dataclass(frozen=True)
class HudiSource(_TableFormatSource):
    """An Apache Hudi table (snapshot query), by metastore name or by path.

    Hudi publishes Spark bundles up to Spark 3.5 (EMR 7.x); see docs/offline_store.md.

    Parameters
    ----------
    table : str, optional
        ``database.table`` in the metastore (Hive locally, Glue on EMR).
    path : str, optional
        The table's base path.
    options : dict, optional
        Hudi read options among :data:`HUDI_READ_OPTIONS`.

    Examples
    --------
    >>> HudiSource(path="s3://bucket/hudi/trips", timestamp_field="ts").describe()
    'hudi at s3://bucket/hudi/trips'
    """

    kind: ClassVar[str] = "hudi"
    _example: ClassVar[str] = "path='s3://bucket/hudi/trips'"
    _allowed_options: ClassVar[tuple[str, ...]] = HUDI_READ_OPTIONS
    _pinned: ClassVar[str] = "commit instant"


def _check_env_name(owner: str, field: str, value: Optional[str]) -> None:
    if value is not None and (not isinstance(value, str) or not value.replace("_", "").isalnum()):
        raise DefinitionError(
            f"{owner}.{field} names an environment variable holding the credential (e.g. 'PGPASSWORD'), "
            f"not the credential itself; found a value that is not a variable name."
        )


@_keyword_only
@dataclass(frozen=True)
class JdbcSource(Source):
    """A table or query of a database, read with Spark's JDBC reader.

    Parameters
    ----------
    url : str
        JDBC URL without credentials, e.g. ``jdbc:postgresql://db.internal:5432/features``.
    table : str, optional
        Table (or view) to read.
    query : str, optional
        A query whose result is read instead of a table.
    user_env, password_env : str, optional
        Names of environment variables holding the user and password (never the values themselves).
    options : dict, optional
        Options of Spark's JDBC reader among :data:`JDBC_READ_OPTIONS`.

    Examples
    --------
    >>> JdbcSource(url="jdbc:postgresql://db:5432/f", table="public.trips", password_env="PGPASSWORD",
    ...            timestamp_field="ts").describe()
    'jdbc table public.trips at jdbc:postgresql://db:5432/f'
    """

    url: str = ""
    table: Optional[str] = None
    query: Optional[str] = None
    user_env: Optional[str] = None
    password_env: Optional[str] = None
    options: Optional[dict[str, str]] = None
    kind: ClassVar[str] = "jdbc"

    def __post_init__(self) -> None:
        super().__post_init__()
        owner = type(self).__name__
        if self.kind == "jdbc":
            _require_text(self.url, what=f"{owner}.url", example="'jdbc:postgresql://db.internal:5432/features'")
            if not self.url.startswith("jdbc:"):
                raise DefinitionError(f"{owner}.url must start with 'jdbc:', e.g. "
                                      "'jdbc:postgresql://db.internal:5432/features'.")
            if "password=" in self.url.lower():
                raise DefinitionError(f"{owner}.url holds a password; remove it and name an environment variable "
                                      "in password_env instead.")
        _one_of(owner, {"table": self.table, "query": self.query}, "table='public.trips'")
        _check_env_name(owner, "user_env", self.user_env)
        _check_env_name(owner, "password_env", self.password_env)
        _check_options(owner, self.options, JDBC_READ_OPTIONS,
                       "Credentials come from user_env / password_env, never from options.")

    def describe(self) -> str:
        what = f"table {self.table}" if self.table else f"query: {' '.join((self.query or '').split())[:60]}"
        return f"{self.kind} {what} at {self.url}" if self.url else f"{self.kind} {what}"


@_keyword_only
@dataclass(frozen=True)
class RedshiftSource(JdbcSource):
    """A Redshift table or query, read through the Spark Redshift connector EMR ships
    (``io.github.spark_redshift_community.spark.redshift``): Redshift UNLOADs to an S3 temp dir that
    Spark then reads.

    The JDBC URL, temp dir and IAM role come from the ``redshift`` section of the config (docs/config.md);
    ``url`` may override the config's URL for this source.

    Examples
    --------
    >>> RedshiftSource(table="analytics.trips", timestamp_field="ts").describe()
    'redshift table analytics.trips'
    """

    kind: ClassVar[str] = "redshift"
