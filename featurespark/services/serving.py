"""Serving service: online feature lookups from the registry snapshot and DynamoDB, without Spark.

:class:`FeatureServer` needs boto3 and the config alone: it reads the live definitions from the
registry snapshot (:func:`featurespark.registry.load_snapshot`, local disk or S3) and the values with
``BatchGetItem``, so it runs in a Lambda or a web service. :meth:`FeatureStore.get_online_features`
uses the same code with the definitions it already holds.

One request may mix feature views (latest values) and online aggregation views (window values at the
lookup time, evaluated from their tiled items, :mod:`featurespark.online.tiles`); the items of both
come from the same ``BatchGetItem`` requests.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Sequence, Union

from featurespark._files import DirectFiles, TextFiles
from featurespark.config import Config, load_config, online_region
from featurespark.definitions import AggregationView
from featurespark.definitions.views import AnyView
from featurespark.errors import InvalidArgumentError
from featurespark.online.reader import OnlineReader, TableRead
from featurespark.online.tiles.layout import TiledLayout
from featurespark.online.tiles.read import evaluate_items
from featurespark.registry.references import ViewSelection, resolve_references
from featurespark.registry.snapshot import load_snapshot
from featurespark.services.locations import online_table_name, registry_glue_table, registry_path

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

__all__ = ["FeatureServer", "OnlineResponse", "get_online_features"]


@dataclass(frozen=True)
class OnlineResponse:
    """Online feature values in request order.

    Attributes
    ----------
    columns : dict
        Column name to list of values: the entity key columns first, then the features.

    Examples
    --------
    >>> OnlineResponse({"driver_id": [1], "conv_rate": [0.5]}).to_dict()
    {'driver_id': [1], 'conv_rate': [0.5]}
    """

    columns: dict[str, list[Any]]

    def to_dict(self) -> dict[str, list[Any]]:
        """Column name to list of values, in request order."""
        return {k: list(v) for k, v in self.columns.items()}

    def to_pandas(self) -> pd.DataFrame:
        """The values as a pandas DataFrame (one row per entity row)."""
        import pandas as pd

        return pd.DataFrame(self.columns)


@dataclass(frozen=True)
class _LookupPlan:
    """What a list of feature references reads: computed once per distinct request shape.

    ``reads`` and ``layouts`` pair with ``selections``; a layout is None for a feature view (its values are
    decoded by the reader) and the tiled layout for an aggregation view (its whole items are read)."""

    selections: tuple[ViewSelection, ...]
    reads: tuple[TableRead, ...]
    layouts: tuple[Optional[TiledLayout], ...]
    key_columns: tuple[str, ...]


def _lookup_plan(config: Config, views: Mapping[str, AnyView], features: Sequence[str],
                 full_feature_names: bool) -> _LookupPlan:
    selections = resolve_references(features, views, full_feature_names=full_feature_names)
    offline_only = [s.view.name for s in selections if not s.view.online]
    if offline_only:
        raise InvalidArgumentError(f"Views {offline_only} are not online (online=False); they cannot be served.")
    reads, layouts = [], []
    for s in selections:
        view = s.view
        reads.append(TableRead(  # an aggregation view's items are read whole, its layout decodes them
            table_name=online_table_name(config, view),
            keys={k.name: k.dtype for k in view.join_key_fields},
            features={} if isinstance(view, AggregationView) else {f: view.feature(f).dtype for f in s.features},
            ttl=None if isinstance(view, AggregationView) else view.ttl,
        ))
        layouts.append(view.online_layout() if isinstance(view, AggregationView) else None)
    key_columns = tuple(dict.fromkeys(c for s in selections for c in s.view.entity_columns.values()))
    return _LookupPlan(tuple(selections), tuple(reads), tuple(layouts), key_columns)


def get_online_features(
    reader: OnlineReader,
    config: Config,
    views: Mapping[str, AnyView],
    features: Sequence[str],
    entity_rows: Sequence[Mapping[str, Any]],
    *,
    full_feature_names: bool = False,
    now: Optional[datetime] = None,
) -> OnlineResponse:
    """Look up the online values of ``features`` for ``entity_rows`` as of ``now``.

    All tables are read in shared parallel ``BatchGetItem`` requests. Feature views give their latest
    values: missing keys and values older than the view's TTL give None. Aggregation views give their
    window values at ``now`` (``t - w <= event_ts < t``): a key without events gives 0 for counts and
    None otherwise.

    Parameters
    ----------
    now : datetime, optional
        The lookup time (default: the current time, UTC): the end of aggregation windows and the time
        TTLs count back from.

    Raises
    ------
    InvalidArgumentError, NotRegisteredError
        Bad references, offline-only views, or entity rows that are not mappings.
    EntityKeyError, OnlineStoreError
        Missing or mistyped join keys, DynamoDB failures.
    StaleItemError
        An aggregation item that cannot answer exactly at ``now`` (before its last materialization's end,
        or more than its ``horizon`` after it): materialize the view again.
    """
    plan = _lookup_plan(config, views, features, full_feature_names)
    return _lookup(reader, plan, entity_rows, now)


def _lookup(reader: OnlineReader, plan: _LookupPlan, entity_rows: Sequence[Mapping[str, Any]],
            now: Optional[datetime]) -> OnlineResponse:
    renames = [(key, column) for s in plan.selections for key, column in s.view.entity_columns.items()
               if key != column]
    rows: Sequence[Mapping[str, Any]] = entity_rows
    if renames or not all(isinstance(r, Mapping) for r in entity_rows):
        translated = []
        for i, row in enumerate(entity_rows):
            if not isinstance(row, Mapping):
                raise InvalidArgumentError(f"entity_rows[{i}] must be a mapping of join key to value, found {row!r}.")
            keyed = dict(row)
            for key, column in renames:
                if column in row:
                    keyed[key] = row[column]
            translated.append(keyed)
        rows = translated
    at = now if now is not None else datetime.now(timezone.utc)
    pairs = list(zip(plan.reads, plan.layouts))
    values, items = reader.get_values_and_items([r for r, layout in pairs if layout is None], rows, now=at,
                                                item_reads=[r for r, layout in pairs if layout is not None])
    columns: dict[str, list[Any]] = {c: [r.get(c) for r in entity_rows] for c in plan.key_columns}
    for sel, read, layout in zip(plan.selections, plan.reads, plan.layouts):
        if layout is None:
            table_rows = values[read.table_name]
        else:
            table_rows = evaluate_items(layout, items[read.table_name], [at] * len(entity_rows))
        for feature, out in zip(sel.features, sel.output_names):
            columns[out] = [r.get(feature) for r in table_rows]
    return OnlineResponse(columns)


class FeatureServer:
    """Online lookups with boto3 alone: definitions from the registry snapshot, values from DynamoDB.

    Build one per process and reuse it (it holds a DynamoDB client and a thread pool). The snapshot
    is read on first use and again after ``refresh_interval_s`` (or on :meth:`refresh`), so newly
    applied views appear without a restart.

    Parameters
    ----------
    config : Config, str or Path
        A loaded config or the path of its YAML file.
    reader : OnlineReader, optional
        Default: one built from ``online_store`` (region, endpoint).
    refresh_interval_s : float
        Seconds a snapshot is used before it is read again.
    files : TextFiles, optional
        How the snapshot is read; default local disk or boto3 for S3.
    views_source : callable, optional
        Where the live views come from instead of the snapshot (``FeatureStore`` passes its registry).

    Examples
    --------
    >>> server = FeatureServer("s3://my-bucket/featurespark/conf/emr.yaml")  # doctest: +SKIP
    >>> server.get_online_features(["driver_hourly_stats:conv_rate"], [{"driver_id": 1001}]).to_dict()  # doctest: +SKIP
    {'driver_id': [1001], 'conv_rate': [0.42]}
    """

    def __init__(
        self,
        config: Union[Config, str, Path],
        *,
        reader: Optional[OnlineReader] = None,
        refresh_interval_s: float = 60.0,
        files: Optional[TextFiles] = None,
        clock: Callable[[], float] = time.monotonic,
        views_source: Optional[Callable[[], Mapping[str, AnyView]]] = None,
    ) -> None:
        self.config = config if isinstance(config, Config) else load_config(config)
        cfg = self.config.online_store
        self._reader = reader or OnlineReader(region=online_region(self.config), endpoint_url=cfg.endpoint_url)
        self._files = files or DirectFiles()
        self._interval = refresh_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._views: Optional[Mapping[str, AnyView]] = None
        self._loaded_at = 0.0
        self._plans = lru_cache(maxsize=256)(self._plan)
        self._views_source = views_source

    def refresh(self) -> Mapping[str, AnyView]:
        """Read the live feature views and aggregation views now (from the registry snapshot); return them."""
        if self._views_source is not None:
            views = dict(self._views_source())
        else:
            state = load_snapshot(registry_path(self.config), files=self._files, allow_stale=True,
                                  table_format=self.config.offline_store.format,
                                  glue=registry_glue_table(self.config))
            views = dict(state.all_views)
            logger.info("Registry snapshot loaded (log version %s, %d views)", state.log_version, len(views))
        with self._lock:
            self._views = views
            self._loaded_at = self._clock()
            self._plans.cache_clear()
        return views

    def refresh_later(self) -> None:
        """Make the next lookup read the views again."""
        with self._lock:
            self._views = None

    def views(self) -> Mapping[str, AnyView]:
        """The live views, from a snapshot at most ``refresh_interval_s`` old."""
        views = self._views
        if views is None or self._clock() - self._loaded_at > self._interval:
            return self.refresh()
        return views

    def _plan(self, features: tuple[str, ...], full_feature_names: bool) -> _LookupPlan:
        return _lookup_plan(self.config, self.views(), features, full_feature_names)

    def get_online_features(
        self,
        features: Sequence[str],
        entity_rows: Sequence[Mapping[str, Any]],
        *,
        full_feature_names: bool = False,
        now: Optional[datetime] = None,
    ) -> OnlineResponse:
        """Online values for entity rows as of ``now``, in request order (see :func:`get_online_features`)."""
        self.views()  # refreshes (and clears the plan cache) when the snapshot is old
        if isinstance(features, str):
            raise InvalidArgumentError(
                f"features must be a list of 'view:feature' or 'view' references, found the string {features!r}."
            )
        return _lookup(self._reader, self._plans(tuple(features), full_feature_names), entity_rows, now)

    def close(self) -> None:
        """Release the reader's thread pool."""
        self._reader.close()
