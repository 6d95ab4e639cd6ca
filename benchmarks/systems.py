"""The two systems under test, defined over the same Parquet files and the same DynamoDB endpoint.

Both get the same three feature views (names, features, TTLs and sources):

===================== ================================ ============ ===========================
view                  keys                             TTL          features
===================== ================================ ============ ===========================
driver_hourly_stats   driver_id (int64)                2 days       conv_rate, acc_rate, avg_daily_trips
customer_profile      customer_id (string)             none         current_balance, lifetime_trip_count, segment
driver_customer_stats driver_id, customer_id           14 days      trips_together, avg_rating_given
===================== ================================ ============ ===========================

``driver_hourly_stats`` has a created timestamp (``created``) that breaks ties between a row and
its late correction. featurespark reads the files as :class:`~featurespark.ParquetSource`; Feast
as ``SparkSource(file_format="parquet")``. Feast is imported lazily, so this module (and the data
generator) also load in the main virtualenv, where Feast is not installed.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from pyspark.sql import SparkSession

#: Region of the (local) DynamoDB endpoint; any non-empty credentials work with DynamoDB Local.
REGION = "us-east-1"
#: Project name prefixes of featurespark, Feast and the raw loop; the size is appended
#: (``featurespark_M``), so every size gets fresh DynamoDB tables ``<project>.<view>``.
FS_PROJECT = "featurespark"
FEAST_PROJECT = "feast"
RAW_PROJECT = "raw"


def project(prefix: str, size_name: str) -> str:
    """The project (and DynamoDB table prefix) of one system for one size."""
    return f"{prefix}_{size_name}"


@dataclass(frozen=True)
class ViewSpec:
    """One feature view, described once for both systems."""

    name: str
    table: str
    keys: Mapping[str, str]
    features: Mapping[str, str]
    ttl: Optional[timedelta]
    created: Optional[str] = None


VIEWS: List[ViewSpec] = [
    ViewSpec("driver_hourly_stats", "driver_hourly_stats", {"driver_id": "int64"},
             {"conv_rate": "float64", "acc_rate": "float32", "avg_daily_trips": "int64"},
             timedelta(days=2), created="created"),
    ViewSpec("customer_profile", "customer_profile", {"customer_id": "string"},
             {"current_balance": "float64", "lifetime_trip_count": "int64", "segment": "string"}, None),
    ViewSpec("driver_customer_stats", "driver_customer_stats", {"driver_id": "int64", "customer_id": "string"},
             {"trips_together": "int32", "avg_rating_given": "float64"}, timedelta(days=14)),
]
#: Every feature of every view, as ``view:feature`` references (the same list for both systems).
FEATURES: List[str] = [f"{v.name}:{f}" for v in VIEWS for f in v.features]
VIEW_NAMES: List[str] = [v.name for v in VIEWS]


def featurespark_store(spark: SparkSession, paths: Mapping[str, str], workdir: Path, endpoint_url: str,
                       size_name: str) -> Any:
    """A featurespark :class:`~featurespark.FeatureStore` with the three views applied.

    Parameters
    ----------
    spark : SparkSession
        The benchmark session (configured with :func:`featurespark.configure_spark`).
    paths : mapping
        Table name to Parquet path (from :func:`benchmarks.data.write_dataset`).
    workdir : Path
        Folder of this size's registry (the offline root).
    endpoint_url : str
        DynamoDB Local endpoint.
    size_name : str
        Size label, part of the project name.

    Returns
    -------
    featurespark.FeatureStore
    """
    from featurespark import Entity, FeatureStore, FeatureView, Field, ParquetSource
    from featurespark.config import parse_config

    config = parse_config(
        {
            "project": {"name": project(FS_PROJECT, size_name)},
            "offline_store": {"root": str(workdir / "featurespark_offline"),
                              "database": project(FS_PROJECT, size_name).lower()},
            "online_store": {"region": REGION, "endpoint_url": endpoint_url},
        },
        source="benchmarks/systems.py",
    )
    entities = {
        "driver_id": Entity("driver", join_keys={"driver_id": "int64"}),
        "customer_id": Entity("customer", join_keys={"customer_id": "string"}),
    }
    views = [
        FeatureView(
            name=v.name,
            entities=[entities[k] for k in v.keys],
            schema=[Field(name, dtype) for name, dtype in v.features.items()],
            source=ParquetSource(path=paths[v.table], timestamp_field="event_timestamp",
                                 created_timestamp_field=v.created),
            ttl=v.ttl,
            online=True,
        )
        for v in VIEWS
    ]
    store = FeatureStore(spark, config)
    store.apply([*entities.values(), *views])
    return store


def feast_store(paths: Mapping[str, str], workdir: Path, endpoint_url: str, spark_conf: Dict[str, str],
                size_name: str) -> Any:
    """A Feast ``FeatureStore`` (Spark offline store, DynamoDB online store) with the views applied.

    The repo config is built in code (no ``feature_store.yaml``); the registry is a local file.
    Feast's Spark offline store uses the active Spark session, so both systems share one session.

    Parameters
    ----------
    paths : mapping
        Table name to Parquet path.
    workdir : Path
        Folder of Feast's registry for this size.
    endpoint_url : str
        DynamoDB Local endpoint.
    spark_conf : dict
        The benchmark's Spark settings (used by Feast only if it had to start a session itself).
    size_name : str
        Size label, part of the project name (Feast's re-apply on existing tables calls
        ``ListTagsOfResource``, which DynamoDB Local does not support, so each size gets new tables).

    Returns
    -------
    feast.FeatureStore
    """
    from feast import Entity, FeatureStore, FeatureView, Field, RepoConfig, ValueType
    from feast.infra.offline_stores.contrib.spark_offline_store.spark import SparkOfflineStoreConfig
    from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource
    from feast.infra.online_stores.dynamodb import DynamoDBOnlineStoreConfig
    from feast.repo_config import RegistryConfig
    from feast.types import Float32, Float64, Int32, Int64, String

    types = {"float64": Float64, "float32": Float32, "int64": Int64, "int32": Int32, "string": String}
    value_types = {"int64": ValueType.INT64, "string": ValueType.STRING}
    repo = workdir / "feast_repo"
    repo.mkdir(parents=True, exist_ok=True)
    config = RepoConfig(
        project=project(FEAST_PROJECT, size_name),
        provider="local",
        registry=RegistryConfig(registry_type="file", path=str(repo / "registry.db"), cache_ttl_seconds=600),
        offline_store=SparkOfflineStoreConfig(spark_conf=spark_conf),
        online_store=DynamoDBOnlineStoreConfig(region=REGION, endpoint_url=endpoint_url),
        entity_key_serialization_version=3,
        repo_path=repo,
    )
    entities = {
        key: Entity(name=name, join_keys=[key], value_type=value_types[dtype])
        for key, name, dtype in (("driver_id", "driver", "int64"), ("customer_id", "customer", "string"))
    }
    views = [
        FeatureView(
            name=v.name,
            entities=[entities[k] for k in v.keys],
            ttl=v.ttl or timedelta(0),  # Feast: 0 means no TTL
            schema=[Field(name=k, dtype=types[t]) for k, t in v.keys.items()]
            + [Field(name=f, dtype=types[t]) for f, t in v.features.items()],
            source=SparkSource(name=f"{v.name}_source", path=paths[v.table], file_format="parquet",
                               timestamp_field="event_timestamp", created_timestamp_column=v.created or ""),
            online=True,
        )
        for v in VIEWS
    ]
    store = FeatureStore(config=config)
    store.apply([*entities.values(), *views])
    return store


def entity_key_rows(pairs: Sequence[Sequence[Any]]) -> List[Dict[str, Any]]:
    """Entity rows for online lookups from (driver_id, customer_id) tuples."""
    return [{"driver_id": int(d), "customer_id": str(c)} for d, c in pairs]
