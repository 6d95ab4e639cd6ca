"""Where an Iceberg table in the AWS Glue Data Catalog stands now, read with boto3 alone (no Spark, no JVM).

Iceberg's ``GlueCatalog`` commits a table by writing a new metadata file ``<n>-<uuid>.metadata.json`` (``n``
zero-padded to five digits, ``0`` when the table is created, then one more per commit) and swapping the
table's ``metadata_location`` parameter in Glue to it. So the number ``n`` of the file Glue points at counts
the table's commits, as the file number of a Hadoop catalog (``v<n + 1>.metadata.json``) does, and one
``glue:GetTable`` call tells whether a table has moved past a commit: this is how the registry's Spark-free
snapshot check works with ``offline_store.iceberg_catalog_type: glue`` (:mod:`featurespark.registry.snapshot`).

A table registered in Glue from a Hadoop catalog's metadata file (Iceberg's ``register_table`` procedure, see
:mod:`featurespark.registry.migration`) points at ``v<k>.metadata.json``; Iceberg numbers that ``-1`` (its
``BaseMetastoreTableOperations.parseVersion``), so the next commit writes ``00000-<uuid>.metadata.json``, and
:func:`log_version_of` does the same.

Credentials come only from the AWS default chain (environment, profile, instance profile); nothing here reads,
passes or logs them.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Optional

from featurespark.errors import RegistryError
from featurespark.retry import GLUE_READ_RETRY, RetryPolicy

logger = logging.getLogger(__name__)

__all__ = ["GlueTable", "glue_log_version", "log_version_of", "metadata_location"]

_GLUE_FILE = re.compile(r"^(?P<n>\d+)-[0-9A-Za-z-]+\.metadata\.json(\.gz)?$")
_HADOOP_FILE = re.compile(r"^v(?P<k>\d+)\.metadata\.json(\.gz)?$")
#: Glue error codes worth another attempt (the service or the caller's rate, not the request, is at fault).
_RETRYABLE = frozenset({"ThrottlingException", "InternalServiceException", "OperationTimeoutException",
                        "ServiceUnavailableException", "RequestLimitExceeded"})


@dataclass(frozen=True)
class GlueTable:
    """An Iceberg table in the AWS Glue Data Catalog, and how to reach Glue.

    Attributes
    ----------
    database, table : str
        The Glue database and table (Iceberg's namespace and table name).
    endpoint : str, optional
        Glue API endpoint (a VPC endpoint, or a local one in tests); None: AWS's endpoint for the region.
    region : str, optional
        AWS region; None: the default chain's (``AWS_REGION``, the profile, the EC2 instance).
    catalog_id : str, optional
        The AWS account id of the Data Catalog (cross-account catalogs); None: the caller's account.
    """

    database: str
    table: str
    endpoint: Optional[str] = None
    region: Optional[str] = None
    catalog_id: Optional[str] = None

    def describe(self) -> str:
        """The table and where it was looked for, for messages (no credentials)."""
        where = [f"endpoint {self.endpoint}" if self.endpoint else None, f"region {self.region}" if self.region else None,
                 f"catalog id {self.catalog_id}" if self.catalog_id else None]
        extra = ", ".join(w for w in where if w)
        return f"Glue table {self.database}.{self.table}" + (f" ({extra})" if extra else "")


def log_version_of(location: str) -> int:
    """The commit number of the Iceberg metadata file at ``location``, as the Glue catalog counts it.

    ``<n>-<uuid>.metadata.json`` is ``n``; a Hadoop catalog's ``v<k>.metadata.json`` (a table registered from
    one) is ``-1``, the number Iceberg gives it, so that its next Glue commit (``00000-...``) is ``-1 + 1``.

    Raises
    ------
    RegistryError
        If the file name is neither.

    Examples
    --------
    >>> log_version_of("s3://b/o/db/_registry/metadata/00012-6f1d7a52-5b0c-4d8e-9a43-0c1e2f3a4b5c.metadata.json")
    12
    >>> log_version_of("s3://b/o/db/_registry/metadata/v7.metadata.json")
    -1
    >>> log_version_of("s3://b/o/db/_registry/metadata/snap-1.avro")
    Traceback (most recent call last):
    ...
    featurespark.errors.RegistryError: 's3://b/o/db/_registry/metadata/snap-1.avro' is not an Iceberg metadata file (<n>-<uuid>.metadata.json or v<n>.metadata.json).
    """
    name = location.rstrip("/").rsplit("/", 1)[-1]
    glue = _GLUE_FILE.match(name)
    if glue:
        return int(glue.group("n"))
    if _HADOOP_FILE.match(name):
        return -1
    raise RegistryError(f"{location!r} is not an Iceberg metadata file (<n>-<uuid>.metadata.json or "
                        "v<n>.metadata.json).")


def metadata_location(table: GlueTable, *, client: Any = None, retry: RetryPolicy = GLUE_READ_RETRY) -> Optional[str]:
    """The ``metadata_location`` Glue holds for ``table`` (one ``glue:GetTable``), or None when there is no table.

    Parameters
    ----------
    table : GlueTable
        The table and how to reach Glue.
    client : botocore client, optional
        A Glue client to use; default: one built from ``table`` (endpoint, region) and the default chain.
    retry : RetryPolicy
        Retries of throttled or failed calls (botocore's own retries are off, so this is the only policy).

    Returns
    -------
    str or None

    Raises
    ------
    RegistryError
        If Glue cannot be reached or refuses the call (credentials, permissions), or the table is not an
        Iceberg table; the message names the table, the endpoint and the permission needed, never credentials.
        A missing database or table is not an error: None.
    """
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    glue = client if client is not None else _client(table)
    request: dict[str, str] = {"DatabaseName": table.database, "Name": table.table}
    if table.catalog_id:
        request["CatalogId"] = table.catalog_id
    failure = ""
    for attempt in retry.attempts():
        try:
            found = glue.get_table(**request)["Table"]
        except NoCredentialsError as exc:
            raise RegistryError(f"Cannot read {table.describe()}: no AWS credentials found. Configure the default "
                                "chain (an instance profile on EMR, AWS_PROFILE or `aws configure` elsewhere).") from exc
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
            if code == "EntityNotFoundException":
                return None
            if code in _RETRYABLE:
                failure = code
                logger.info("glue:GetTable of %s.%s: %s (attempt %d)", table.database, table.table, code, attempt + 1)
                continue
            if code in ("AccessDeniedException", "AccessDenied"):
                raise RegistryError(f"Cannot read {table.describe()}: access denied. The role running this needs "
                                    "glue:GetTable on the catalog, the database and the table (and Lake Formation "
                                    "SELECT or DESCRIBE where Lake Formation governs them).") from exc
            raise RegistryError(f"Cannot read {table.describe()}: {code}: "
                                f"{exc.response.get('Error', {}).get('Message', '')}".rstrip(": ") + ".") from exc
        except BotoCoreError as exc:  # endpoint unreachable, timeouts
            failure = type(exc).__name__
            logger.info("glue:GetTable of %s.%s: %s (attempt %d)", table.database, table.table, failure, attempt + 1)
            continue
        parameters = found.get("Parameters") or {}
        location = parameters.get("metadata_location")
        if str(parameters.get("table_type", "")).upper() != "ICEBERG" or not location:
            raise RegistryError(f"{table.describe()} is not an Iceberg table (its parameters have no table_type "
                                "ICEBERG and metadata_location). Drop or rename it; featurespark creates its own.")
        return str(location)
    raise RegistryError(f"Cannot read {table.describe()}: Glue kept failing ({failure}) for {retry.max_attempts} "
                        "attempts. Check the endpoint and the network, then retry.")


def glue_log_version(table: GlueTable, *, client: Any = None) -> Optional[int]:
    """The commit number of ``table`` (:func:`log_version_of` its ``metadata_location``); None without a table."""
    location = metadata_location(table, client=client)
    return None if location is None else log_version_of(location)


def _client(table: GlueTable) -> Any:
    import boto3
    from botocore.config import Config as BotoConfig

    from featurespark.aws import resolve_region

    region = resolve_region(table.region, setting="offline_store.iceberg_catalog_options client.region")
    return boto3.session.Session().client(
        "glue", region_name=region, endpoint_url=table.endpoint,
        config=BotoConfig(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=10),
    )
