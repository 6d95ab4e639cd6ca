"""Helpers shared by tests (plain functions; fixtures live in conftest.py)."""
from __future__ import annotations

import itertools
import json
import os
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import pytest
from dynamodb_local import set_dummy_aws_env
from pyspark.sql import SparkSession

from featurespark import FeatureStore
from featurespark.config import Config, parse_config
from featurespark.session import offline_catalog_conf

_counter = itertools.count()

#: The table formats of the offline store. A test runs once per format with ``@both_offline_formats`` (or
#: ``indirect`` parametrization of the ``offline_format`` fixture); without it, ``offline_format`` is "delta".
OFFLINE_FORMATS = ("delta", "iceberg")
both_offline_formats = pytest.mark.parametrize("offline_format", OFFLINE_FORMATS, indirect=True)


def make_config(root: Path | str, *, database: str | None = None, endpoint_url: str | None = None,
                offline_format: str = "delta", offline_extra: Mapping[str, object] | None = None) -> Config:
    """A config with the offline store under ``root`` (a folder or a URI) and a database unique to the test;
    ``offline_extra`` adds keys to its ``offline_store`` section.

    With ``offline_format="iceberg"`` the Iceberg catalog has a name unique to the test too (a Spark
    session keeps a catalog once used, with the warehouse it was first given): register it on the
    session with :func:`use_offline_catalog`.
    """
    n = next(_counter)
    offline = {"root": f"{str(root).rstrip('/')}/offline", "database": database or f"fs_test_{n}",
               "format": offline_format, **(offline_extra or {})}
    if offline_format == "iceberg":
        offline["iceberg_catalog"] = f"fs_iceberg_{n}"
    raw = {
        "project": {"name": "test"},
        "offline_store": offline,
        # Without an endpoint there is no DynamoDB to create tables in: leave tables alone.
        "online_store": {"endpoint_url": endpoint_url} if endpoint_url else {"manage_tables": False},
    }
    return parse_config(raw, source="test-config")


def use_offline_catalog(spark: SparkSession, config: Config) -> Config:
    """Register the config's Iceberg catalog on the running test session, as ``configure_spark`` does
    for a new one (nothing for Delta); return the config."""
    for key, value in offline_catalog_conf(config).items():
        spark.conf.set(key, value)
    return config


class SharedStores:
    """One FeatureStore per offline format for the tests of one module, each test on views of its own.

    Building a store and applying its definitions (a database, the registry table, a registry MERGE, the
    views' tables) takes seconds; a store per test made that a large share of the suite's time. A format's
    store is made on first use, with the definitions of every test of the module that runs on that format
    and uses the ``store`` fixture (from ``request.session.items``: the selected tests) applied in one
    ``apply``; a test collected otherwise gets its definitions applied when it asks for the store. Tests whose
    assertions need a registry or tables nobody else touches keep a store of their own.
    """

    def __init__(self, spark: SparkSession, root: Path, request: pytest.FixtureRequest,
                 definitions: Callable[[pytest.Item], Sequence[object]], *, endpoint_url: str | None = None) -> None:
        self.spark, self.root, self.definitions, self.endpoint_url = spark, root, definitions, endpoint_url
        self.items = [item for item in request.session.items
                      if getattr(item, "module", None) is request.module and "store" in getattr(item, "fixturenames", ())]
        self.stores: dict[str, FeatureStore] = {}
        self.applied: set[str] = set()  # node ids of the tests whose definitions are applied

    def get(self, offline_format: str, item: pytest.Item) -> FeatureStore:
        """The format's store, with ``item``'s definitions applied (and, when new, every module test's)."""
        store = self.stores.get(offline_format)
        if store is None:
            config = use_offline_catalog(self.spark, make_config(self.root / offline_format,
                                                                 endpoint_url=self.endpoint_url,
                                                                 offline_format=offline_format))
            store = self.stores[offline_format] = FeatureStore(self.spark, config)
            self._apply(store, [i for i in self.items if _offline_format_of(i) == offline_format])
        use_offline_catalog(self.spark, store.config)
        if item.nodeid not in self.applied:
            self._apply(store, [item])
        return store

    def _apply(self, store: FeatureStore, items: Sequence[pytest.Item]) -> None:
        """One ``apply`` of the items' definitions (each object once), with dummy AWS credentials for the
        DynamoDB tables (the tests' credential fixtures are function-scoped)."""
        objects = {(type(o), o.name): o for item in items for o in self.definitions(item)}  # type: ignore[attr-defined]
        with pytest.MonkeyPatch.context() as patch:
            set_dummy_aws_env(patch)
            store.apply(list(objects.values()))
        self.applied.update(item.nodeid for item in items)


def _offline_format_of(item: pytest.Item) -> str:
    """The ``offline_format`` a collected test runs with (see the ``offline_format`` fixture)."""
    callspec = getattr(item, "callspec", None)
    return str(callspec.params.get("offline_format", "delta")) if callspec is not None else "delta"


def node_name(item: pytest.Item) -> str:
    """The test's name with its parameters, as a name's characters ([A-Za-z0-9_])."""
    return re.sub(r"\W", "_", item.name).strip("_")


def append_then_upsert(store: Any, view: str, rows: Any, update: Any) -> int:
    """Append ``rows`` to the managed view ``view``, then upsert ``update`` (one changed, one new row); return
    the version the append made, for time-travel reads."""
    assert store.write_features(view, rows).rows_written == rows.count()
    version = int(store.read_features(view).version)
    summary = store.write_features(view, update, mode="upsert")
    assert (summary.rows_written, summary.rows_updated) == (1, 1)
    return version


def write_json_file(path: Path, records: Iterable[Mapping[str, Any]], *, mtime: int) -> None:
    """One JSON object per line, with the given modification time: a streaming file source takes files in
    the order of their modification times, so increasing ``mtime`` gives one file per micro-batch in order
    (with ``maxFilesPerTrigger=1``)."""
    path.write_text("".join(json.dumps(dict(r)) + "\n" for r in records))
    os.utime(path, (mtime, mtime))


def delta_commits(table_path: Path) -> list[dict[str, Any]]:
    """Every commit of a Delta table, read from its log: the operation and the idempotent-write
    transaction (``{"appId": ..., "version": ...}``) it carried, if any."""
    commits = []
    for path in sorted((table_path / "_delta_log").glob("*.json")):
        actions = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        info = next(a["commitInfo"] for a in actions if "commitInfo" in a)
        txn = next((a["txn"] for a in actions if "txn" in a), None)
        commits.append({"operation": info["operation"], "txn": txn})
    return commits


def crash_on_call(real: Callable[..., Any], error: Exception, *, call: int = 2, after: bool) -> Callable[..., Any]:
    """``real``, except that its ``call``-th call raises ``error``: before doing anything, or (``after=True``)
    after ``real`` has done its work, as a process that dies before recording that work would."""
    calls = {"n": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == call and not after:
            raise error
        result = real(*args, **kwargs)
        if calls["n"] == call and after:
            raise error
        return result

    return wrapper


def quick_start_jvm(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` for an end-to-end test's own short-lived JVMs (a CLI run, a script, a notebook kernel's
    session): the JIT's first tier only (``-XX:TieredStopAtLevel=1``), added to any ``JAVA_TOOL_OPTIONS``.

    Such a JVM spends most of its life starting up on little data, while the optimizing compiler's threads
    compete with it for the machine's two cores: the `featurespark init` end-to-end test took 59 s with it
    instead of 107 s. The code run is the same. Not for the suite's own sessions, which run for minutes:
    there, some of tests/test_training_aggregations.py's tests took twice as long without the optimizing
    compiler.
    """
    options = " ".join(o for o in (env.get("JAVA_TOOL_OPTIONS", ""), "-XX:TieredStopAtLevel=1") if o)
    return {**env, "JAVA_TOOL_OPTIONS": options}
