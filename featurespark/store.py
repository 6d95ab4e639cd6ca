"""The :class:`FeatureStore` facade: one object tying config, registry and stores together."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from featurespark.config import Config, load_config, online_region
from featurespark.definitions import DeltaSource, Entity, FeatureView, ManagedSource
from featurespark.errors import InvalidArgumentError, NotRegisteredError, SourceSchemaError
from featurespark.offline.sources import (
    check_source_schema,
    ensure_managed_table,
    managed_table_name,
    managed_table_path,
    read_source,
)
from featurespark.offline.time_travel import VersionedRead, read_delta
from featurespark.offline.writer import OnInvalid, WriteMode, WriteSummary, write_features
from featurespark.online.materialize import WriteSummary as OnlineWriteSummary
from featurespark.online.reader import OnlineReader
from featurespark.online.service import (
    OnlineResponse,
    ensure_online_tables,
    get_online_features,
    materialize_incremental,
    materialize_views,
)
from featurespark.registry import Plan, Registry
from featurespark.streaming import PushSummary, push, write_stream
from featurespark.training.historical import EntityInput, HistoricalRetrieval, retrieve

logger = logging.getLogger(__name__)


class FeatureStore:
    """Entry point of the library.

    Parameters
    ----------
    spark : SparkSession
        The session to use; featurespark never creates or reconfigures one.
    config : Config or str or Path
        A loaded config or the path of a YAML config file.

    Examples
    --------
    >>> store = FeatureStore(spark, "conf/local.yaml")  # doctest: +SKIP
    >>> store.apply([driver, driver_hourly_stats])  # doctest: +SKIP
    """

    def __init__(self, spark: SparkSession, config: Union[Config, str, Path]) -> None:
        self.spark = spark
        self.config = config if isinstance(config, Config) else load_config(config)
        self.registry = Registry(spark, self.config.offline_store.registry_path)
        self._reader: Optional[OnlineReader] = None
        self._views_cache: Optional[dict[str, FeatureView]] = None

    # ------------------------------------------------------------ definitions
    def plan(self, objects: Iterable[object], *, delete: bool = False) -> Plan:
        """Show what :meth:`apply` would change; writes nothing.

        Sources are checked too, so a plan that succeeds is one apply accepts.
        """
        objects = list(objects)
        plan = self.registry.plan(objects, delete=delete)
        self._check_sources(plan, objects)
        return plan

    def apply(self, objects: Iterable[object], *, delete: bool = False) -> Plan:
        """Register entities and feature views (create or update; delete only with ``delete=True``).

        Every created or changed view is checked against its source first (join keys, timestamp
        columns and features exist with compatible types); any problem raises before the
        registry is written. Managed views get their Delta table created.

        Raises
        ------
        DefinitionError, SourceSchemaError
            Bad definitions or sources; the registry is left unchanged.
        """
        objects = list(objects)
        plan = self.plan(objects, delete=delete)
        if not plan.has_changes:
            logger.info("Registry is up to date")
            return plan
        applied = self.registry.apply(objects, delete=delete)
        self._views_cache = None
        views = [o for o in objects if isinstance(o, FeatureView)]
        for view in views:
            if isinstance(view.source, ManagedSource):
                ensure_managed_table(self.spark, view, self.config.offline_store)
        if self.config.online_store.manage_tables:
            ensure_online_tables(self.config, views)
        return applied

    def _check_sources(self, plan: Plan, objects: list[object]) -> None:
        changed = {c.name for c in plan.changes if c.kind == "feature_view" and c.op in ("create", "update")}
        for obj in objects:
            if not isinstance(obj, FeatureView) or obj.name not in changed:
                continue
            if isinstance(obj.source, ManagedSource):
                if not self._managed_table_exists(obj):
                    continue  # created by apply from the definition itself
            try:
                df = read_source(self.spark, obj, self.config.offline_store)
            except SourceSchemaError:
                raise
            except Exception as exc:  # noqa: BLE001  # Spark raises many types for unreadable paths and tables
                raise SourceSchemaError(
                    f"FeatureView '{obj.name}': cannot read its source ({obj.source.describe()}): "
                    f"{_first_line(exc)}. Check the path, table or query."
                ) from exc
            check_source_schema(obj, df)

    def _managed_table_exists(self, view: FeatureView) -> bool:
        from delta.tables import DeltaTable

        return bool(DeltaTable.isDeltaTable(self.spark, managed_table_path(self.config.offline_store, view)))

    # ------------------------------------------------------------ offline store
    def _view(self, view: Union[str, FeatureView]) -> FeatureView:
        return view if isinstance(view, FeatureView) else self.registry.get_feature_view(view)

    def write_features(
        self,
        view: Union[str, FeatureView],
        df: Union[DataFrame, pd.DataFrame],
        *,
        mode: WriteMode = "append",
        on_invalid: OnInvalid = "fail",
    ) -> WriteSummary:
        """Validate and write rows into a managed view's Delta table.

        See :func:`featurespark.offline.writer.write_features` for the rules.

        Examples
        --------
        >>> store.write_features("driver_hourly_stats", pdf, mode="upsert").line()  # doctest: +SKIP
        'driver_hourly_stats (upsert): 24 rows in, 24 written, 0 updated, ...'
        """
        return write_features(self.spark, self._view(view), df, self.config.offline_store, mode=mode,
                              on_invalid=on_invalid)

    def read_features(
        self,
        view: Union[str, FeatureView],
        *,
        version: Optional[int] = None,
        as_of: Optional[datetime] = None,
    ) -> VersionedRead:
        """Read a view's rows, optionally as of a Delta version or a time, with the version read.

        Works for managed views and Delta sources. ``as_of`` without a time zone is read as UTC.

        Raises
        ------
        TimeTravelError
            If the version or time is outside the table's history.
        InvalidArgumentError
            For sources without versions (Parquet, tables, queries).
        """
        fv = self._view(view)
        if isinstance(fv.source, ManagedSource):
            path = managed_table_path(self.config.offline_store, fv)
        elif isinstance(fv.source, DeltaSource):
            path = fv.source.path
        else:
            raise InvalidArgumentError(
                f"Feature view '{fv.name}' reads from {fv.source.describe()}, which has no versions; "
                "only managed views and Delta sources can be read as of a version or time."
            )
        return read_delta(self.spark, path, version=version, as_of=as_of)

    # ------------------------------------------------------------ both stores at once
    def push(
        self,
        view: Union[str, FeatureView],
        df: Union[DataFrame, pd.DataFrame],
        *,
        on_invalid: OnInvalid = "fail",
        max_items_per_second: Optional[float] = None,
    ) -> PushSummary:
        """Upsert rows into a view's Delta table and push their latest values to its online table.

        Rows are validated as in :meth:`write_features`; the online write uses conditional puts,
        so an older row never replaces a newer online value. Offline-only views get the upsert only.
        See :func:`featurespark.streaming.push`.

        Examples
        --------
        >>> store.push("driver_hourly_stats", pdf).line()  # doctest: +SKIP
        'driver_hourly_stats: 3 rows in; offline 3 written, ...; online 2 items (0 skipped as older, ...); 1.4s'
        """
        fv = self._view(view)
        if fv.online and self.config.online_store.manage_tables:
            ensure_online_tables(self.config, [fv])
        return push(self.spark, self.config, fv, df, on_invalid=on_invalid, max_items_per_second=max_items_per_second)

    def write_stream(
        self,
        view: Union[str, FeatureView],
        streaming_df: DataFrame,
        *,
        checkpoint_location: str,
        trigger: Optional[Mapping[str, Any]] = None,
        max_items_per_second: Optional[float] = None,
        on_invalid: OnInvalid = "fail",
        output_mode: str = "update",
        query_name: Optional[str] = None,
    ) -> StreamingQuery:
        """Write a streaming DataFrame's micro-batches to the offline and online stores together.

        Each micro-batch is upserted into the view's Delta table in an idempotent transaction
        keyed by the query id and the batch id (a batch replayed after a restart is not written
        twice), then its latest row per key is pushed to DynamoDB with conditional writes (replays
        and out-of-order batches never regress online values). See ``docs/streaming.md`` and
        :func:`featurespark.streaming.write_stream` for every parameter.

        Examples
        --------
        >>> events = spark.readStream.format("kafka").option("subscribe", "trips").load()  # doctest: +SKIP
        >>> query = store.write_stream("driver_trip_stats", features_from(events),  # doctest: +SKIP
        ...                            checkpoint_location="s3://bucket/checkpoints/driver_trip_stats",
        ...                            trigger={"processingTime": "1 minute"}, max_items_per_second=500)
        """
        return write_stream(
            self.config, self._view(view), streaming_df, checkpoint_location=checkpoint_location, trigger=trigger,
            max_items_per_second=max_items_per_second, on_invalid=on_invalid, output_mode=output_mode,
            query_name=query_name,
        )

    # ------------------------------------------------------------ training sets
    def get_historical_features(
        self,
        entity_df: EntityInput,
        features: Sequence[str],
        *,
        full_feature_names: bool = False,
        entity_timestamp: str = "event_timestamp",
        algorithm: str = "auto",
        source_versions: Optional[Mapping[str, int]] = None,
    ) -> DataFrame:
        """Point-in-time correct training set: entity rows with the feature values current at their time.

        Parameters
        ----------
        entity_df : Spark DataFrame, pandas DataFrame, SQL query or table name
            Entity rows: the join keys of the requested views (or the columns their
            ``join_key_map`` names) and ``entity_timestamp``. All columns are kept.
        features : list of str
            ``"view:feature"`` references, or ``"view"`` for all of a view's features.
        full_feature_names : bool
            Name outputs ``view__feature``; required when two views share a feature name.
        entity_timestamp : str
            Timestamp column of the entity rows.
        algorithm : {"auto", "range", "asof"}
            Join algorithm (see ``docs/point_in_time.md``).
        source_versions : mapping, optional
            Delta version per view to read (from a manifest), for exact rebuilds.

        Returns
        -------
        DataFrame
            Lazy; one row per entity row.

        Examples
        --------
        >>> training = store.get_historical_features(  # doctest: +SKIP
        ...     orders, ["driver_hourly_stats:conv_rate", "customer_profile"])
        """
        return self.retrieve_training_set(
            entity_df, features, full_feature_names=full_feature_names, entity_timestamp=entity_timestamp,
            algorithm=algorithm, source_versions=source_versions,
        ).df

    def retrieve_training_set(
        self,
        entity_df: EntityInput,
        features: Sequence[str],
        *,
        full_feature_names: bool = False,
        entity_timestamp: str = "event_timestamp",
        algorithm: str = "auto",
        source_versions: Optional[Mapping[str, int]] = None,
        with_feature_timestamps: bool = False,
    ) -> HistoricalRetrieval:
        """Like :meth:`get_historical_features`, also returning the sources and versions read."""
        return retrieve(
            self.spark, self.registry.state().views, self.config.offline_store, entity_df, features,
            full_feature_names=full_feature_names, entity_timestamp=entity_timestamp, algorithm=algorithm,
            source_versions=source_versions, with_feature_timestamps=with_feature_timestamps,
        )

    # ------------------------------------------------------------ online store
    def materialize(
        self,
        start: datetime,
        end: datetime,
        views: Optional[Sequence[str]] = None,
        *,
        write_mode: str = "last_writer_wins",
        max_items_per_second: Optional[float] = None,
    ) -> dict[str, OnlineWriteSummary]:
        """Push the latest row per key with ``start <= event_ts < end`` of online views to DynamoDB.

        Parameters
        ----------
        start, end : datetime
            Event-time window (naive datetimes are UTC).
        views : list of str, optional
            View names; default every online view.
        write_mode : {"last_writer_wins", "monotonic"}
            ``last_writer_wins`` (default) overwrites whatever is online, so materializing an old
            window after a newer one puts older values online. ``monotonic`` uses conditional
            writes so an older event never replaces a newer one (slower: one request per item).
        max_items_per_second : float, optional
            Rate limit for the whole job, split across Spark tasks.

        Returns
        -------
        dict
            A write summary per view (items, requests, retries, seconds).

        Examples
        --------
        >>> store.materialize(datetime(2026, 1, 1), datetime(2026, 1, 2))  # doctest: +SKIP
        """
        return materialize_views(self.spark, self.config, self.registry.state().views, start, end, names=views,
                                 write_mode=write_mode, max_items_per_second=max_items_per_second)

    def materialize_incremental(
        self,
        end: datetime,
        views: Optional[Sequence[str]] = None,
        *,
        lookback: Optional[timedelta] = None,
        write_mode: str = "last_writer_wins",
        max_items_per_second: Optional[float] = None,
    ) -> dict[str, OnlineWriteSummary]:
        """Materialize each online view from its registry watermark to ``end`` and move the watermark.

        See :func:`featurespark.online.service.materialize_incremental`.
        """
        return materialize_incremental(self.spark, self.config, self.registry, end, names=views, lookback=lookback,
                                       write_mode=write_mode, max_items_per_second=max_items_per_second)

    @property
    def online_reader(self) -> OnlineReader:
        """The DynamoDB reader, built on first use and reused."""
        if self._reader is None:
            cfg = self.config.online_store
            self._reader = OnlineReader(region=online_region(self.config), endpoint_url=cfg.endpoint_url)
        return self._reader

    def get_online_features(
        self,
        features: Sequence[str],
        entity_rows: Sequence[Mapping[str, Any]],
        *,
        full_feature_names: bool = False,
    ) -> OnlineResponse:
        """Latest online values for entity rows, in request order.

        Parameters
        ----------
        features : list of str
            ``"view:feature"`` or ``"view"`` references of online views.
        entity_rows : list of dict
            Join-key values per entity, e.g. ``[{"driver_id": 1001}]``.
        full_feature_names : bool
            Name outputs ``view__feature``.

        Returns
        -------
        OnlineResponse
            ``to_dict()`` (column to list) and ``to_pandas()``; missing or expired values are None.

        Examples
        --------
        >>> store.get_online_features(["driver_hourly_stats:conv_rate"], [{"driver_id": 1}]).to_dict()  # doctest: +SKIP
        {'driver_id': [1], 'conv_rate': [0.42]}
        """
        return get_online_features(self.online_reader, self.config, self._online_views(), features, entity_rows,
                                   full_feature_names=full_feature_names)

    def _online_views(self) -> dict[str, FeatureView]:
        # Registry reads are Spark jobs; cache the views for low-latency lookups (refresh_registry() clears).
        if self._views_cache is None:
            self._views_cache = self.registry.state().views
        return self._views_cache

    def refresh_registry(self) -> None:
        """Forget cached registry contents used by online lookups."""
        self._views_cache = None

    def list_entities(self) -> list[Entity]:
        """Registered entities."""
        return self.registry.list_entities()

    def list_feature_views(self) -> list[FeatureView]:
        """Registered feature views."""
        return self.registry.list_feature_views()

    def get_feature_view(self, name: str) -> FeatureView:
        """A registered feature view by name."""
        return self.registry.get_feature_view(name)

    def describe(self, name: str) -> dict[str, Any]:
        """Spec, version and storage of a registered entity or feature view."""
        state = self.registry.state()
        for kind in ("feature_view", "entity"):
            if (kind, name) in state.specs:
                out: dict[str, Any] = {
                    "kind": kind,
                    "version": state.versions[(kind, name)],
                    "spec": state.specs[(kind, name)],
                }
                if kind == "feature_view" and isinstance(state.views[name].source, ManagedSource):
                    out["table"] = managed_table_name(self.config.offline_store, state.views[name])
                    out["location"] = managed_table_path(self.config.offline_store, state.views[name])
                if name in state.materialization:
                    out["materialization"] = state.materialization[name]
                return out
        known = sorted(state.views) + sorted(state.entities)
        raise NotRegisteredError(f"'{name}' is not registered. Registered objects: {', '.join(known) or '(none)'}.")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
