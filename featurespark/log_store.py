"""Delta's DynamoDB-backed S3 log store: the Spark settings and the DynamoDB table it needs.

On S3 two Spark drivers that commit to the same Delta table at the same moment can both write commit
``N.json``, and one commit is lost: S3 has no atomic "create if absent" that Delta 3.x uses. Delta's
``io.delta.storage.S3DynamoDBLogStore`` (the ``delta-storage-s3-dynamodb`` jar, shipped with EMR in
``/usr/share/aws/delta/lib/``) first records every commit in a DynamoDB table with a conditional put, so
only one writer wins each version and the other retries on the next one. featurespark turns it on for
offline roots on S3 (``offline_store.log_store`` in the config): every Delta table under the root,
feature tables and the registry alike, is then safe with several writers (jobs, streams, notebooks,
``apply``).

This module imports no Spark: :func:`log_store_conf` gives the settings that
:func:`featurespark.session.configure_spark` applies, and :func:`ensure_log_store_table` creates the
table (``featurespark apply`` calls it; see docs/emr.md for doing it by hand).
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Optional

from featurespark.config import Config, log_store_region
from featurespark.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = [
    "EMR_LOG_STORE_JAR",
    "KEY_SCHEMA",
    "LOG_STORE_CLASS",
    "LOG_STORE_JAR_PREFIX",
    "TTL_ATTRIBUTE",
    "ensure_log_store_table",
    "log_store_conf",
]

#: The LogStore implementation Delta loads for s3:// and s3a:// paths.
LOG_STORE_CLASS = "io.delta.storage.S3DynamoDBLogStore"
#: Where EMR 7.x puts the log store's jar; it is not on the classpath by default, so steps pass it
#: with ``--jars`` and ``bootstrap/emr-configurations.json`` adds it to ``spark.jars``.
EMR_LOG_STORE_JAR = "/usr/share/aws/delta/lib/delta-storage-s3-dynamodb.jar"
#: File name prefix of the jar in a local jars folder (``delta-storage-s3-dynamodb-<version>.jar``).
LOG_STORE_JAR_PREFIX = "delta-storage-s3-dynamodb"
_PREFIX = "spark.io.delta.storage.S3DynamoDBLogStore"
#: The key schema S3DynamoDBLogStore reads and writes (tablePath HASH, fileName RANGE, strings).
KEY_SCHEMA = (("tablePath", "HASH"), ("fileName", "RANGE"))
#: Attribute S3DynamoDBLogStore sets on finished commits; DynamoDB's TTL then removes them.
TTL_ATTRIBUTE = "expireTime"


def log_store_conf(config: Config) -> dict[str, str]:
    """The Spark settings of the DynamoDB-backed log store for ``config``'s offline store.

    Parameters
    ----------
    config : Config
        Uses ``offline_store.log_store`` and, for the region, the lookup of
        :func:`featurespark.config.log_store_region`.

    Returns
    -------
    dict
        Empty when the log store is off (a local root, or ``log_store.enabled: false``); else the
        ``spark.delta.logStore.<scheme>.impl`` settings for ``s3`` and ``s3a`` and the table name and region.

    Raises
    ------
    ConfigError
        If the log store is on and no region can be found.

    Examples
    --------
    >>> from featurespark.config import parse_config
    >>> cfg = parse_config({"project": {"name": "p"}, "offline_store": {"root": "s3://my-bucket/fs"},
    ...                     "online_store": {"region": "eu-west-1"}})
    >>> conf = log_store_conf(cfg)
    >>> conf["spark.delta.logStore.s3.impl"], conf["spark.io.delta.storage.S3DynamoDBLogStore.ddb.region"]
    ('io.delta.storage.S3DynamoDBLogStore', 'eu-west-1')
    """
    offline = config.offline_store
    if not offline.uses_s3_log_store:
        return {}
    return {
        "spark.delta.logStore.s3.impl": LOG_STORE_CLASS,
        "spark.delta.logStore.s3a.impl": LOG_STORE_CLASS,
        f"{_PREFIX}.ddb.tableName": offline.log_store.table_name,
        f"{_PREFIX}.ddb.region": log_store_region(config),
    }


def ensure_log_store_table(
    config: Config,
    *,
    client: Any = None,
    wait_s: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Optional[str]:
    """Create the log store's DynamoDB table if it does not exist (on-demand, with TTL on ``expireTime``).

    S3DynamoDBLogStore would otherwise create it itself on first use, with 5 provisioned read and write
    units and no TTL, and the cluster's role would need ``dynamodb:CreateTable``.

    Parameters
    ----------
    config : Config
        Uses ``offline_store.log_store`` and the DynamoDB endpoint of ``online_store.endpoint_url``.
    client : botocore.client.DynamoDB, optional
        A client to use instead of one for the log store's region (tests).
    wait_s : float
        How long to wait for a new table to become ACTIVE.
    sleep : callable
        Used between polls (tests pass a fake clock).

    Returns
    -------
    str or None
        The table name, or None when the log store is off for this config.

    Raises
    ------
    ConfigError
        If the table exists with another key schema, or DynamoDB refuses the calls (the message names
        the permissions needed).

    Examples
    --------
    >>> ensure_log_store_table(load_config("s3://my-bucket/featurespark/conf/emr.yaml"))  # doctest: +SKIP
    'featurespark_delta_log'
    """
    if not config.offline_store.uses_s3_log_store:
        return None
    from botocore.exceptions import BotoCoreError, ClientError

    name = config.offline_store.log_store.table_name
    if client is None:
        import boto3

        client = boto3.session.Session().client(
            "dynamodb", region_name=log_store_region(config), endpoint_url=config.online_store.endpoint_url)
    try:
        try:
            table = client.describe_table(TableName=name)["Table"]
        except client.exceptions.ResourceNotFoundException:
            logger.info("creating the Delta log store table %s", name)
            client.create_table(
                TableName=name,
                AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a, _ in KEY_SCHEMA],
                KeySchema=[{"AttributeName": a, "KeyType": k} for a, k in KEY_SCHEMA],
                BillingMode="PAY_PER_REQUEST",
            )
            table = _wait_active(client, name, wait_s, sleep)
            client.update_time_to_live(TableName=name, TimeToLiveSpecification={
                "Enabled": True, "AttributeName": TTL_ATTRIBUTE})
    except (ClientError, BotoCoreError) as exc:
        raise ConfigError(
            f"Cannot create or describe the Delta log store table {name} "
            f"(offline_store.log_store.table_name in {config.source or 'the config'}): {exc}. The caller needs "
            "dynamodb:DescribeTable, dynamodb:CreateTable and dynamodb:UpdateTimeToLive on it (docs/emr.md), or "
            "create it as docs/emr.md shows."
        ) from exc
    keys = tuple((k["AttributeName"], k["KeyType"]) for k in table.get("KeySchema", []))
    if keys != KEY_SCHEMA:
        raise ConfigError(
            f"DynamoDB table {name} (offline_store.log_store.table_name) exists with key schema {keys}, but Delta's "
            f"log store needs {KEY_SCHEMA}. Name another table in offline_store.log_store.table_name."
        )
    return name


def _wait_active(client: Any, name: str, wait_s: float, sleep: Callable[[float], None]) -> dict[str, Any]:
    waited = 0.0
    while True:
        table: dict[str, Any] = client.describe_table(TableName=name)["Table"]
        if table.get("TableStatus") == "ACTIVE":
            return table
        if waited >= wait_s:
            raise ConfigError(f"DynamoDB table {name} is still {table.get('TableStatus')} after {wait_s:.0f}s; "
                              "run `featurespark apply` again in a minute.")
        sleep(1.0)
        waited += 1.0
