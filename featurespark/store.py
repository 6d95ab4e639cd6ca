"""The :class:`FeatureStore` facade: one object over the services (apply, offline writes, training
sets, materialize, push and stream, serving), holding the session, the config and the registry."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional, Sequence, Union

from featurespark._session_checks import require_delta, require_iceberg, require_utc_session
from featurespark.config import Config, load_config, online_region
from featurespark.definitions import AggregationView, DeltaSource, Entity, FeatureView, ManagedSource
from featurespark.errors import InvalidArgumentError, NotRegisteredError
from featurespark.options import Algorithm, OnInvalid, OnlineWriteMode, StreamOutputMode, WriteMode
from featurespark.registry import Plan, Registry
from featurespark.services.locations import managed_table_of, registry_glue_table, registry_path

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

    from featurespark.offline.time_travel import VersionedRead
    from featurespark.offline.writer import OfflineWriteSummary
    from featurespark.online.materialize import OnlineWriteSummary
    from featurespark.online.reader import OnlineReader
    from featurespark.services.push import PushSummary
    from featurespark.services.online_aggregates import ConsistencyReport
    from featurespark.services.serving import FeatureServer, OnlineResponse
    from featurespark.services.stream import FeatureStream
    from featurespark.services.training import EntityInput, HistoricalRetrieval

logger = logging.getLogger(__name__)

__all__ = ["FeatureStore"]


class FeatureStore:
    """Entry point of the library.

    Parameters
    ----------
    spark : SparkSession
        The session to use; featurespark never creates or reconfigures one. Its time zone must be
        UTC (:func:`featurespark.configure_spark` sets it).
    config : Config or str or Path
        A loaded config or the path of a YAML config file.

    Raises
    ------
    ConfigError
        If the session time zone is not UTC, or the config file is invalid.

    Examples
    --------
    >>> from datetime import timedelta
    >>> import pandas as pd
    >>> from featurespark import Entity, FeatureView, Field, parse_config
    >>> config = parse_config({"project": {"name": "doc"}, "offline_store": {"root": str(tmp_path), "database": "doc"},
    ...                        "online_store": {"manage_tables": False}})
    >>> store = FeatureStore(spark, config)
    >>> driver = Entity("driver", join_keys={"driver_id": "int64"})
    >>> stats = FeatureView(name="stats", entities=[driver], schema=[Field("rate", "float64")],
    ...                     ttl=timedelta(days=1), online=False)
    >>> store.apply([driver, stats]).has_changes
    True
    >>> rows = pd.DataFrame({"driver_id": [1], "event_timestamp": pd.to_datetime(["2026-01-01 10:00"]), "rate": [0.5]})
    >>> store.write_features("stats", rows).rows_written
    1
    >>> orders = pd.DataFrame({"driver_id": [1, 2], "event_timestamp": pd.to_datetime(["2026-01-01 12:00"] * 2)})
    >>> store.get_historical_features(orders, ["stats:rate"]).orderBy("driver_id").select("rate").collect()
    [Row(rate=0.5), Row(rate=None)]
    """

    def __init__(self, spark: SparkSession, config: Union[Config, str, Path]) -> None:
        require_utc_session(spark, what="FeatureStore")
        self.spark = spark
        self.config = config if isinstance(config, Config) else load_config(config)
        require_delta(spark, config_source=self.config.source)
        offline = self.config.offline_store
        if offline.format == "iceberg":
            require_iceberg(spark, catalog=offline.iceberg_catalog, config_source=self.config.source)
        self.registry = Registry(spark, registry_path(self.config), table_format=offline.format,
                                 table_name=offline.registry_table, glue=registry_glue_table(self.config))
        self._reader: Optional[OnlineReader] = None
        self._server: Optional[FeatureServer] = None

    # ------------------------------------------------------------ definitions
    def plan(self, objects: Iterable[object], *, delete: bool = False, drop_data: bool = False) -> Plan:
        """Show what :meth:`apply` would change; writes nothing.

        Sources are checked too, so a plan that succeeds is one apply accepts. ``Plan.storage`` says
        what happens to tables (columns added or kept; tables of deleted views kept or dropped).
        """
        from featurespark.services import apply as apply_service

        return apply_service.plan(self.spark, self.config, self.registry, objects, delete=delete, drop_data=drop_data)

    def apply(self, objects: Iterable[object], *, delete: bool = False, drop_data: bool = False) -> Plan:
        """Register entities, feature views and aggregation views (create or update; delete only with ``delete=True``).

        Every created or changed view is checked against its source first (join keys, timestamp
        columns and features exist with compatible types); any problem raises before anything is
        written. The views' tables (managed Delta tables, DynamoDB tables) are created before the
        registry is committed, and applying again creates any that went missing.

        A managed view may gain features (its table gets nullable columns; older rows read null) and
        lose them (the columns and their data stay, unread); a feature may not change type.
        Deleted views (``delete=True``) keep their tables unless ``drop_data=True``; their watermarks
        are reset either way, so a new view of the same name starts afresh.

        Raises
        ------
        DefinitionError, SourceSchemaError
            Bad definitions or sources; nothing was written.
        OnlineStoreError
            A DynamoDB table could not be created; the registry is unchanged.
        """
        from featurespark.services import apply as apply_service

        self.refresh_registry()
        return apply_service.apply(self.spark, self.config, self.registry, objects, delete=delete,
                                   drop_data=drop_data)

    def drop_data(self, name: str) -> list[str]:
        """Drop the tables a deleted view left behind (Delta, quarantine, DynamoDB); returns what was dropped.

        Raises
        ------
        InvalidArgumentError
            If ``name`` is still a registered view.
        """
        from featurespark.services import apply as apply_service

        return apply_service.drop_unregistered_data(self.spark, self.config, self.registry, name)

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
    ) -> OfflineWriteSummary:
        """Validate and write rows into a managed view's Delta table.

        See :func:`featurespark.offline.writer.write_features` for the rules.
        """
        from featurespark.offline.writer import write_features

        fv = self._view(view)
        return write_features(self.spark, fv, df, managed_table_of(self.config, fv), mode=mode, on_invalid=on_invalid)

    def read_features(
        self,
        view: Union[str, FeatureView],
        *,
        version: Optional[int] = None,
        as_of: Optional[datetime] = None,
    ) -> VersionedRead:
        """Read a view's rows, optionally as of a version or a time, with the version read.

        Works for managed views (a Delta version or an Iceberg snapshot id) and Delta sources. ``as_of``
        without a time zone is read as UTC.

        Raises
        ------
        TimeTravelError
            If the version or time is outside the table's history.
        InvalidArgumentError
            For sources without versions (Parquet, tables, queries).
        """
        from featurespark.offline.table_format import table_format
        from featurespark.offline.time_travel import read_delta, read_versioned

        fv = self._view(view)
        if isinstance(fv.source, ManagedSource):
            table = managed_table_of(self.config, fv)
            return read_versioned(self.spark, table_format(table.format), table.ref, version=version, as_of=as_of)
        if isinstance(fv.source, DeltaSource):
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
        view: Union[str, FeatureView, AggregationView],
        df: Union[DataFrame, pd.DataFrame],
        *,
        on_invalid: OnInvalid = "fail",
        max_items_per_second: Optional[float] = None,
    ) -> PushSummary:
        """Upsert rows into a view's Delta table and push their latest values to its online table.

        Rows are validated as in :meth:`write_features`; the online write uses conditional puts,
        so an older row never replaces a newer online value. Offline-only views get the upsert only.
        See :func:`featurespark.services.push.push`.

        For an aggregation view (with a ``DeltaSource``) the rows are events: they are appended to the
        source and, for an online view, the items of the keys they touch are rebuilt from the source as
        of now (``on_invalid`` must be ``"fail"``); see :func:`featurespark.services.push_events.push_events`.
        """
        from featurespark.services.materialize import ensure_online_tables
        from featurespark.services.push import push

        chosen = self._pushable_view(view)
        if chosen.online and self.config.online_store.manage_tables:
            ensure_online_tables(self.config, [chosen])
        if isinstance(chosen, AggregationView):
            from featurespark.services.push_events import push_events

            return push_events(self.spark, self.config, chosen, df, on_invalid=on_invalid,
                               max_items_per_second=max_items_per_second)
        return push(self.spark, self.config, chosen, df, on_invalid=on_invalid,
                    max_items_per_second=max_items_per_second)

    def _pushable_view(self, view: Union[str, FeatureView, AggregationView]) -> Union[FeatureView, AggregationView]:
        """A view given by object or name, aggregation views included (push and stream take both kinds)."""
        if not isinstance(view, str):
            return view
        aggregation_views = self.registry.state().aggregation_views
        return aggregation_views[view] if view in aggregation_views else self._view(view)

    def write_stream(
        self,
        view: Union[str, FeatureView, AggregationView],
        streaming_df: DataFrame,
        *,
        checkpoint_location: str,
        trigger: Optional[Mapping[str, Any]] = None,
        max_items_per_second: Optional[float] = None,
        on_invalid: OnInvalid = "fail",
        output_mode: StreamOutputMode = "update",
        query_name: Optional[str] = None,
    ) -> FeatureStream:
        """Write a streaming DataFrame's micro-batches to the offline and online stores together.

        Each micro-batch is upserted into the view's Delta table in an idempotent transaction
        keyed by the query id and the batch id (a batch replayed after a restart is not written
        twice), then its latest row per key is pushed to DynamoDB with conditional writes (replays
        and out-of-order batches never regress online values). See ``docs/streaming.md`` and
        :func:`featurespark.services.stream.write_stream` for every parameter. For an aggregation view each
        batch's events are appended to its Delta source and the items of the keys they touch are rebuilt.

        Returns
        -------
        FeatureStream
            The running query (every ``StreamingQuery`` attribute works on it), its batch summaries
            and its error line; ``stop()`` or ``await_termination()`` also remove its listener.
        """
        from featurespark.services.stream import write_stream

        return write_stream(
            self.config, self._pushable_view(view), streaming_df, checkpoint_location=checkpoint_location, trigger=trigger,
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
        algorithm: Algorithm = "auto",
        source_versions: Optional[Mapping[str, int]] = None,
        hot_key_buckets: Optional[int] = None,
        as_known_at_query_time: bool = False,
    ) -> DataFrame:
        """Point-in-time correct training set: entity rows with the feature values current at their time.

        Feature views give the values of their newest row at or before each entity row's time (within
        the TTL); aggregation views give their windowed aggregates of the events before it
        (``docs/aggregations.md``). Both mix in one call.

        Parameters
        ----------
        entity_df : Spark DataFrame, pandas DataFrame, SQL query or table name
            Entity rows: the join keys of the requested views (or the columns their
            ``join_key_map`` names) and ``entity_timestamp``. All columns are kept.
        features : list of str
            ``"view:feature"`` references, or ``"view"`` for all of a view's features, of feature views
            and aggregation views (e.g. ``"driver_trip_aggs:fare_sum_7d"``).
        full_feature_names : bool
            Name outputs ``view__feature``; required when two views share a feature name.
        entity_timestamp : str
            Timestamp column of the entity rows.
        algorithm : {"auto", "range", "asof"}
            Join algorithm (see ``docs/point_in_time.md``).
        source_versions : mapping, optional
            Delta version per view to read (from a manifest), for exact rebuilds.
        hot_key_buckets : int, optional
            Split each key's timeline into this many time buckets in the as-of join, so a key
            holding a large share of the rows is not sorted by one task. None (default) measures the
            skew of the entity keys and splits skewed ones automatically; 0 never splits (also for
            aggregation views).
        as_known_at_query_time : bool
            Aggregation views count an event for an entity row only if it was created by the row's
            time (the values online serving could have seen); needs a ``created_timestamp_field``.

        Returns
        -------
        DataFrame
            Lazy; one row per entity row: its columns, then the features in the order requested.
        """
        return self.retrieve_training_set(
            entity_df, features, full_feature_names=full_feature_names, entity_timestamp=entity_timestamp,
            algorithm=algorithm, source_versions=source_versions, hot_key_buckets=hot_key_buckets,
            as_known_at_query_time=as_known_at_query_time,
        ).df

    def retrieve_training_set(
        self,
        entity_df: EntityInput,
        features: Sequence[str],
        *,
        full_feature_names: bool = False,
        entity_timestamp: str = "event_timestamp",
        algorithm: Algorithm = "auto",
        source_versions: Optional[Mapping[str, int]] = None,
        with_feature_timestamps: bool = False,
        hot_key_buckets: Optional[int] = None,
        as_known_at_query_time: bool = False,
    ) -> HistoricalRetrieval:
        """Like :meth:`get_historical_features`, also returning the sources and versions read."""
        from featurespark.services.training import retrieve

        return retrieve(
            self.spark, self.config, self.registry.state().all_views, entity_df, features,
            full_feature_names=full_feature_names, entity_timestamp=entity_timestamp, algorithm=algorithm,
            source_versions=source_versions, with_feature_timestamps=with_feature_timestamps,
            hot_key_buckets=hot_key_buckets, as_known_at_query_time=as_known_at_query_time,
        )

    # ------------------------------------------------------------ online store
    def materialize(
        self,
        start: datetime,
        end: datetime,
        views: Optional[Sequence[str]] = None,
        *,
        write_mode: OnlineWriteMode = "last_writer_wins",
        max_items_per_second: Optional[float] = None,
    ) -> dict[str, OnlineWriteSummary]:
        """Push the latest row per key with ``start <= event_ts < end`` of online views to DynamoDB.

        Online aggregation views are included: their items are rebuilt from the source as of ``end``
        with the view's ``horizon`` and ``tile_sizes`` (``start`` only checks the gap since the previous
        run against the horizon; rerunning adds nothing twice).

        Parameters
        ----------
        start, end : datetime
            Event-time window (naive datetimes are UTC).
        views : list of str, optional
            Names of feature views or aggregation views; default every online view of both kinds.
        write_mode : {"last_writer_wins", "monotonic"}
            ``last_writer_wins`` (default) overwrites whatever is online, so materializing an old
            window after a newer one puts older values online. ``monotonic`` uses conditional
            writes so an older event never replaces a newer one (slower: one request per item).
            Aggregation views are always written ``monotonic`` (an item rebuilt as of an earlier ``end``
            never replaces a newer one, for example one a ``push`` rebuilt).
        max_items_per_second : float, optional
            Rate limit for the whole run, split between the views written at the same time (up to
            four) and across their Spark tasks.

        Returns
        -------
        dict
            A write summary per view (items, requests, retries, seconds).
        """
        from featurespark.services.materialize import materialize_views

        return materialize_views(self.spark, self.config, self.registry.state().all_views, start, end, names=views,
                                 write_mode=write_mode, max_items_per_second=max_items_per_second)

    def materialize_incremental(
        self,
        end: datetime,
        views: Optional[Sequence[str]] = None,
        *,
        lookback: Optional[timedelta] = None,
        write_mode: OnlineWriteMode = "last_writer_wins",
        max_items_per_second: Optional[float] = None,
    ) -> dict[str, OnlineWriteSummary]:
        """Materialize each online view (feature and aggregation views) from its registry watermark to ``end``
        and move the watermark.

        See :func:`featurespark.services.materialize.materialize_incremental`.
        """
        from featurespark.services.materialize import materialize_incremental

        return materialize_incremental(self.spark, self.config, self.registry, end, names=views, lookback=lookback,
                                       write_mode=write_mode, max_items_per_second=max_items_per_second)

    def consistency(
        self,
        view: str,
        *,
        at: Optional[Sequence[datetime]] = None,
        sample_keys: int = 100,
        seed: int = 0,
    ) -> ConsistencyReport:
        """Compare an online aggregation view's values with an offline recompute from its source.

        Samples up to ``sample_keys`` keys of the view's events, looks each up online at every time of
        ``at`` and recomputes the same windows offline; see
        :func:`featurespark.services.online_aggregates.consistency`.

        Parameters
        ----------
        view : str
            A registered aggregation view with ``online=True``.
        at : list of datetime, optional
            Lookup times (naive means UTC); default now. Items answer exactly from their last
            materialization's ``end`` until ``end + horizon``.
        sample_keys : int
            Keys to sample.
        seed : int
            Seed of the key sample.

        Returns
        -------
        ConsistencyReport
            Per feature: rows compared, matching, missing and extra, absolute differences; ``all_match``
            and a ``summary`` line.

        Raises
        ------
        NotRegisteredError
            If ``view`` is not a registered aggregation view.
        InvalidArgumentError
            If the view is not online, or for a bad sample size.
        """
        from featurespark.services.online_aggregates import consistency

        aggregation_views = self.registry.state().aggregation_views
        if view not in aggregation_views:
            raise NotRegisteredError(f"Aggregation view '{view}' is not registered. Registered aggregation views: "
                                     f"{', '.join(sorted(aggregation_views)) or '(none)'}.")
        chosen = aggregation_views[view]
        if not chosen.online:
            raise InvalidArgumentError(f"Aggregation view '{view}' has online=False: there are no online values to "
                                       "compare. Set online=True and a horizon, apply and materialize it.")
        times = list(at) if at is not None else [datetime.now(timezone.utc)]
        return consistency(self.spark, self.config, chosen, at=times, sample_keys=sample_keys, seed=seed,
                           reader=self.online_reader)

    @property
    def online_reader(self) -> OnlineReader:
        """The DynamoDB reader, built on first use and reused."""
        if self._reader is None:
            from featurespark.online.reader import OnlineReader

            cfg = self.config.online_store
            self._reader = OnlineReader(region=online_region(self.config), endpoint_url=cfg.endpoint_url)
        return self._reader

    def get_online_features(
        self,
        features: Sequence[str],
        entity_rows: Sequence[Mapping[str, Any]],
        *,
        full_feature_names: bool = False,
        now: Optional[datetime] = None,
    ) -> OnlineResponse:
        """Online values for entity rows, in request order: the latest values of feature views and the
        window values of aggregation views as of now (or ``now``), mixed in one call.

        No Spark job runs: the definitions are read from the registry once and kept (for up to a
        minute, or until :meth:`refresh_registry`), each distinct list of references is resolved
        once, and the values come from ``BatchGetItem``. A service without Spark uses
        :class:`featurespark.services.serving.FeatureServer` directly.

        Parameters
        ----------
        features : list of str
            ``"view:feature"`` or ``"view"`` references of online feature views and aggregation views, e.g.
            ``["driver_trip_aggs:fare_sum_1h", "driver_hourly_stats:conv_rate"]``.
        entity_rows : list of dict
            Join-key values per entity, e.g. ``[{"driver_id": 1001}]``.
        full_feature_names : bool
            Name outputs ``view__feature``.
        now : datetime, optional
            The lookup time (default: the current time): where aggregation windows end and TTLs count
            back from. It must lie within an aggregation view's ``horizon`` after its last materialization.

        Returns
        -------
        OnlineResponse
            ``to_dict()`` (column to list) and ``to_pandas()``; missing or expired values are None (counts
            of keys without events are 0).

        Raises
        ------
        StaleItemError
            An aggregation view's item cannot answer exactly at the lookup time (materialize again).
        """
        if self._server is None:
            from featurespark.services.serving import FeatureServer

            self._server = FeatureServer(self.config, reader=self.online_reader,
                                         views_source=lambda: self.registry.state().all_views)
        return self._server.get_online_features(features, entity_rows, full_feature_names=full_feature_names,
                                                now=now)

    def refresh_registry(self) -> None:
        """Forget the definitions cached for online lookups (the next lookup reads the registry again)."""
        if self._server is not None:
            self._server.refresh_later()

    def list_entities(self) -> list[Entity]:
        """Registered entities."""
        return self.registry.list_entities()

    def list_feature_views(self) -> list[FeatureView]:
        """Registered feature views."""
        return self.registry.list_feature_views()

    def list_aggregation_views(self) -> list[AggregationView]:
        """Registered aggregation views."""
        return self.registry.list_aggregation_views()

    def get_feature_view(self, name: str) -> FeatureView:
        """A registered feature view by name."""
        return self.registry.get_feature_view(name)

    def migrate_registry(self) -> Optional[str]:
        """Move the registry from the Hadoop catalog where featurespark kept it for ``iceberg_catalog_type: glue``
        into the Glue catalog (``featurespark migrate-registry``); return the metadata file registered in Glue,
        or None when the registry was already there.

        Iceberg's ``register_table`` makes Glue point at the Hadoop catalog's newest metadata file: the log, its
        history and the watermarks stay where they are. Stop jobs that run an older featurespark first.

        Raises
        ------
        ConfigError
            If the offline store is not Iceberg in a Glue catalog.
        RegistryError
            If there is no registry to move, or it changed while being registered (nothing is left changed).
        """
        from featurespark.services.registry_migration import migrate_registry

        return migrate_registry(self.spark, self.config)

    def describe(self, name: str) -> dict[str, Any]:
        """Spec, version, storage and materialization state of a registered entity, feature view or aggregation view."""
        from featurespark.services.catalog import describe_object

        return describe_object(self.config, self.registry.state(), name)

    def close(self) -> None:
        """Release the online reader's threads (the session is the caller's to stop)."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._server = None
