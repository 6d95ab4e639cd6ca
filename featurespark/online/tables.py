"""Create, check and delete the DynamoDB tables of the online store (one table per feature view).

Every table has the same key schema: a single HASH key ``pk`` of type S (see
``docs/online_item_layout.md``). Tables are created on demand (``PAY_PER_REQUEST``) by default, or
with provisioned capacity.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Mapping, Optional

from botocore.exceptions import BotoCoreError, ClientError

from featurespark.errors import InvalidArgumentError
from featurespark.options import BillingMode, check_option
from featurespark.online.client import error_code, translate, where
from featurespark.errors import OnlineStoreError, TableNotFoundError, TableSchemaError
from featurespark.online.items import EXPIRE_AT_ATTRIBUTE, PK_ATTRIBUTE

logger = logging.getLogger(__name__)

__all__ = ["check_table", "create_table", "delete_table", "ensure_table", "wait_until_active"]

_EXPECTED_KEY_SCHEMA = [{"AttributeName": PK_ATTRIBUTE, "KeyType": "HASH"}]


def create_table(
    client: Any,
    table_name: str,
    *,
    billing_mode: BillingMode = "PAY_PER_REQUEST",
    read_capacity: Optional[int] = None,
    write_capacity: Optional[int] = None,
    tags: Optional[Mapping[str, str]] = None,
    ttl_enabled: bool = False,
    wait_timeout_s: float = 300.0,
    poll_interval_s: float = 1.0,
) -> dict[str, Any]:
    """Create an online table and wait until it is active.

    Parameters
    ----------
    client : DynamoDB client
        From :func:`featurespark.online.client.dynamodb_client` or ``boto3.client("dynamodb")``.
    table_name : str
        The table to create.
    billing_mode : {"PAY_PER_REQUEST", "PROVISIONED"}, optional
        On-demand (default) or provisioned capacity.
    read_capacity, write_capacity : int, optional
        Capacity units; required with ``PROVISIONED``, not allowed otherwise.
    tags : mapping of str to str, optional
        Resource tags.
    ttl_enabled : bool, optional
        Turn on DynamoDB TTL on the ``expire_at`` attribute (for views with a TTL).
    wait_timeout_s, poll_interval_s : float, optional
        How long to wait for ``ACTIVE`` and how often to look.

    Returns
    -------
    dict
        The table description (``DescribeTable``'s ``Table``).

    Raises
    ------
    InvalidArgumentError
        If the billing options are inconsistent.
    TableSchemaError
        If the table already exists (use :func:`ensure_table` to accept it).
    DynamoEndpointError
        If the endpoint cannot be reached.
    OnlineStoreError
        If DynamoDB refuses the request or the table does not become active in time.
    """
    request: dict[str, Any] = {
        "TableName": table_name,
        "KeySchema": _EXPECTED_KEY_SCHEMA,
        "AttributeDefinitions": [{"AttributeName": PK_ATTRIBUTE, "AttributeType": "S"}],
        **_billing(billing_mode, read_capacity, write_capacity),
    }
    if tags:
        request["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    try:
        client.create_table(**request)
    except ClientError as exc:
        if error_code(exc) == "ResourceInUseException":
            raise TableSchemaError(
                f"DynamoDB table {table_name!r} already exists at {where(client)}. Use ensure_table to "
                f"accept an existing table after a schema check, or pick another name."
            ) from exc
        raise translate(exc, client=client, action=f"creating table {table_name!r}", table=table_name) from exc
    except BotoCoreError as exc:
        raise translate(exc, client=client, action=f"creating table {table_name!r}", table=table_name) from exc
    logger.info("Created DynamoDB table %s at %s (%s)", table_name, where(client), billing_mode)
    description = wait_until_active(client, table_name, timeout_s=wait_timeout_s, poll_interval_s=poll_interval_s)
    if ttl_enabled:
        _enable_ttl(client, table_name)
    return description


def check_table(client: Any, table_name: str, *, ttl_enabled: Optional[bool] = None) -> dict[str, Any]:
    """Check that an existing table has the online key schema (HASH key ``pk`` of type S).

    Parameters
    ----------
    client : DynamoDB client
        The client.
    table_name : str
        The table.
    ttl_enabled : bool, optional
        When True, also check that TTL, if enabled, uses ``expire_at`` (a table can have one TTL
        attribute only).

    Returns
    -------
    dict
        The table description.

    Raises
    ------
    TableNotFoundError
        If the table does not exist.
    TableSchemaError
        If its key schema differs, or TTL is enabled on another attribute.
    DynamoEndpointError
        If the endpoint cannot be reached.
    """
    table = _describe(client, table_name)
    keys = sorted(table.get("KeySchema", []), key=lambda k: k["KeyType"])
    types = {a["AttributeName"]: a["AttributeType"] for a in table.get("AttributeDefinitions", [])}
    if keys != _EXPECTED_KEY_SCHEMA or types.get(PK_ATTRIBUTE) != "S":
        found = ", ".join(f"{k['AttributeName']} {k['KeyType']} {types.get(k['AttributeName'], '?')}" for k in keys)
        raise TableSchemaError(
            f"DynamoDB table {table_name!r} at {where(client)} has key schema [{found}], but the online store "
            f"needs a single HASH key {PK_ATTRIBUTE!r} of type S. Use another table name or delete the table."
        )
    if ttl_enabled:
        status, attribute = _ttl_status(client, table_name)
        if status in ("ENABLED", "ENABLING") and attribute != EXPIRE_AT_ATTRIBUTE:
            raise TableSchemaError(
                f"DynamoDB table {table_name!r} has TTL on attribute {attribute!r}; the online store writes "
                f"{EXPIRE_AT_ATTRIBUTE!r}. Disable TTL on the table first, or use another table."
            )
    return table


def ensure_table(
    client: Any,
    table_name: str,
    *,
    billing_mode: BillingMode = "PAY_PER_REQUEST",
    read_capacity: Optional[int] = None,
    write_capacity: Optional[int] = None,
    tags: Optional[Mapping[str, str]] = None,
    ttl_enabled: bool = False,
    wait_timeout_s: float = 300.0,
    poll_interval_s: float = 1.0,
) -> dict[str, Any]:
    """Create the table if it is missing, else accept it after a schema check.

    Parameters are those of :func:`create_table`. An existing table keeps its billing mode and tags;
    TTL on ``expire_at`` is turned on if asked for and not yet enabled.

    Returns
    -------
    dict
        The table description.

    Raises
    ------
    TableSchemaError
        If an existing table has another key schema or TTL attribute.
    DynamoEndpointError, OnlineStoreError
        As for :func:`create_table`.

    Examples
    --------
    >>> client = dynamodb_client(region="us-east-1", endpoint_url="http://127.0.0.1:8000")  # doctest: +SKIP
    >>> ensure_table(client, "fs_user_stats", ttl_enabled=True)  # doctest: +SKIP
    """
    _billing(billing_mode, read_capacity, write_capacity)  # validate before any call
    try:
        table = check_table(client, table_name, ttl_enabled=ttl_enabled)
    except TableNotFoundError:
        try:
            return create_table(
                client,
                table_name,
                billing_mode=billing_mode,
                read_capacity=read_capacity,
                write_capacity=write_capacity,
                tags=tags,
                ttl_enabled=ttl_enabled,
                wait_timeout_s=wait_timeout_s,
                poll_interval_s=poll_interval_s,
            )
        except TableSchemaError:
            # Another process created it between our look and our create: check what it made.
            table = check_table(client, table_name, ttl_enabled=ttl_enabled)
    if table.get("TableStatus") != "ACTIVE":
        table = wait_until_active(client, table_name, timeout_s=wait_timeout_s, poll_interval_s=poll_interval_s)
    if ttl_enabled and _ttl_status(client, table_name)[0] not in ("ENABLED", "ENABLING"):
        _enable_ttl(client, table_name)
    logger.info("Using existing DynamoDB table %s at %s", table_name, where(client))
    return table


def delete_table(client: Any, table_name: str, *, missing_ok: bool = True) -> None:
    """Delete a table (does not wait for the deletion to finish).

    Parameters
    ----------
    client : DynamoDB client
        The client.
    table_name : str
        The table.
    missing_ok : bool, optional
        Return quietly when the table does not exist (default); else raise TableNotFoundError.
    """
    try:
        client.delete_table(TableName=table_name)
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException" and missing_ok:
            return
        raise translate(exc, client=client, action=f"deleting table {table_name!r}", table=table_name) from exc
    except BotoCoreError as exc:
        raise translate(exc, client=client, action=f"deleting table {table_name!r}", table=table_name) from exc
    logger.info("Deleted DynamoDB table %s at %s", table_name, where(client))


def wait_until_active(
    client: Any,
    table_name: str,
    *,
    timeout_s: float = 300.0,
    poll_interval_s: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll ``DescribeTable`` until the table is ``ACTIVE``.

    Raises
    ------
    OnlineStoreError
        If it is not active within ``timeout_s``.
    TableNotFoundError
        If the table does not exist.
    """
    deadline = clock() + timeout_s
    while True:
        table = _describe(client, table_name)
        status = table.get("TableStatus")
        if status == "ACTIVE":
            return table
        if clock() >= deadline:
            raise OnlineStoreError(
                f"DynamoDB table {table_name!r} at {where(client)} is still {status} after {timeout_s:.0f} s. "
                f"Look at the table in the console, or raise wait_timeout_s."
            )
        sleep(poll_interval_s)


def _describe(client: Any, table_name: str) -> dict[str, Any]:
    try:
        return dict(client.describe_table(TableName=table_name)["Table"])
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, client=client, action=f"describing table {table_name!r}", table=table_name) from exc


def _ttl_status(client: Any, table_name: str) -> tuple[str, Optional[str]]:
    try:
        description = client.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, client=client, action=f"describing TTL of {table_name!r}", table=table_name) from exc
    return str(description.get("TimeToLiveStatus", "DISABLED")), description.get("AttributeName")


def _enable_ttl(client: Any, table_name: str) -> None:
    try:
        client.update_time_to_live(
            TableName=table_name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": EXPIRE_AT_ATTRIBUTE},
        )
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, client=client, action=f"enabling TTL on {table_name!r}", table=table_name) from exc
    logger.info("Enabled TTL on %s.%s", table_name, EXPIRE_AT_ATTRIBUTE)


def _billing(billing_mode: BillingMode, read_capacity: Optional[int], write_capacity: Optional[int]) -> dict[str, Any]:
    check_option(billing_mode, BillingMode, "billing_mode")
    if billing_mode == "PAY_PER_REQUEST":
        if read_capacity is not None or write_capacity is not None:
            raise InvalidArgumentError(
                "read_capacity/write_capacity apply to billing_mode='PROVISIONED' only; "
                "remove them or switch the billing mode."
            )
        return {"BillingMode": billing_mode}
    if not all(isinstance(c, int) and c > 0 for c in (read_capacity, write_capacity)):
        raise InvalidArgumentError(
            f"billing_mode='PROVISIONED' needs positive integer read_capacity and write_capacity, "
            f"got {read_capacity!r} and {write_capacity!r}."
        )
    return {
        "BillingMode": billing_mode,
        "ProvisionedThroughput": {"ReadCapacityUnits": read_capacity, "WriteCapacityUnits": write_capacity},
    }
