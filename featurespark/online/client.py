"""The boto3 DynamoDB client of the online store and the translation of its errors."""
from __future__ import annotations

import logging
import random
import time
from typing import Any, Callable, Optional, Sequence, Union

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from featurespark.errors import DynamoEndpointError, OnlineStoreError, RetriesExhaustedError, TableNotFoundError
from featurespark.retry import RetryPolicy

logger = logging.getLogger(__name__)

__all__ = ["THROTTLE_CODES", "dynamodb_client", "error_code", "translate", "where", "with_retries"]

#: Error codes that mean "slow down": retried by the writer and reader with backoff.
THROTTLE_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)


def dynamodb_client(
    *,
    region: str,
    endpoint_url: Optional[str] = None,
    max_pool_connections: int = 10,
    connect_timeout_s: float = 5.0,
    read_timeout_s: float = 30.0,
    max_attempts: int = 3,
) -> Any:
    """Create a low-level DynamoDB client with credentials from the default AWS chain.

    Parameters
    ----------
    region : str
        AWS region, e.g. ``"eu-west-1"``.
    endpoint_url : str, optional
        Endpoint override (a local endpoint: ``"http://127.0.0.1:8000"``); None for AWS.
    max_pool_connections : int, optional
        Size of the HTTP connection pool; match it to the number of threads using the client.
    connect_timeout_s, read_timeout_s : float, optional
        Socket timeouts.
    max_attempts : int, optional
        botocore's own attempts per call (standard retry mode) for network blips; throttling and
        unprocessed items are also retried, and counted, by featurespark on top.

    Returns
    -------
    botocore.client.DynamoDB
        The client. boto3 clients are thread-safe; share one per process or task.
    """
    config = Config(
        region_name=region,
        max_pool_connections=max_pool_connections,
        connect_timeout=connect_timeout_s,
        read_timeout=read_timeout_s,
        retries={"mode": "standard", "total_max_attempts": max_attempts},
    )
    # A private Session: boto3's default session is not safe to create clients from many threads.
    return boto3.session.Session().client("dynamodb", endpoint_url=endpoint_url, config=config)


def where(client: Any) -> str:
    """Describe a client's endpoint and region for messages."""
    meta = getattr(client, "meta", None)
    endpoint = getattr(meta, "endpoint_url", None) or "?"
    region = getattr(meta, "region_name", None) or "?"
    return f"{endpoint} (region {region})"


def error_code(exc: ClientError) -> str:
    """The AWS error code of a ClientError."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def translate(
    exc: Exception, *, client: Any, action: str, table: Union[str, Sequence[str], None] = None
) -> OnlineStoreError:
    """Turn a boto3/botocore error into a featurespark error with a message that says what to do.

    Parameters
    ----------
    exc : Exception
        The caught botocore error.
    client : DynamoDB client
        The client that raised it (for the endpoint in the message).
    action : str
        What was being done, e.g. ``"describing table 'x'"``.
    table : str or sequence of str, optional
        The table(s) involved (a BatchGetItem can span several).

    Returns
    -------
    OnlineStoreError
        The error to raise (``from exc``).
    """
    place = where(client)
    if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError)):
        return DynamoEndpointError(
            f"Cannot reach DynamoDB at {place} while {action}: {exc}. Check endpoint_url and region; "
            f"for local runs start the local DynamoDB endpoint with `bash bootstrap/dynamodb-local/start.sh`."
        )
    if isinstance(exc, NoCredentialsError):
        return OnlineStoreError(
            f"No AWS credentials found while {action} at {place}. featurespark uses the default credential "
            f"chain: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile or an instance role "
            f"(a local endpoint accepts any non-empty values)."
        )
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = exc.response.get("Error", {}).get("Message", str(exc))
        if code == "ResourceNotFoundException":
            tables = [table] if isinstance(table, str) or table is None else list(table)
            subject = (
                f"DynamoDB table {tables[0]!r} does not exist"
                if len(tables) == 1
                else f"One of the DynamoDB tables {', '.join(map(repr, tables))} does not exist"
            )
            return TableNotFoundError(
                f"{subject} at {place} ({action}). Create it with featurespark.online.ensure_table, "
                f"or check the table name, endpoint and region."
            )
        hint = ""
        if code in ("UnrecognizedClientException", "InvalidSignatureException"):
            hint = (
                " Check the AWS credentials of the default chain (a local endpoint accepts any access key "
                "made of letters and digits only)."
            )
        return OnlineStoreError(f"DynamoDB refused {action} at {place}: {code}: {message}{hint}")
    if isinstance(exc, BotoCoreError):
        return OnlineStoreError(f"DynamoDB call failed while {action} at {place}: {exc}")
    return OnlineStoreError(f"Unexpected error while {action} at {place}: {exc!r}")


def with_retries(
    attempt: Callable[[], Optional[str]],
    *,
    policy: RetryPolicy,
    client: Any,
    action: str,
    table: Union[str, Sequence[str], None],
    exhausted: Callable[[str], str],
    sleep: Callable[[float], None] = time.sleep,
    rng: Optional[random.Random] = None,
    on_retry: Optional[Callable[[], None]] = None,
    on_failed_request: Optional[Callable[[], None]] = None,
) -> None:
    """Run one DynamoDB request until it is complete, retrying throttling and partial results.

    ``attempt()`` sends the request once and returns None when everything went through, or the
    cause of a partial result (``"UnprocessedItems"``, ``"UnprocessedKeys"``) to retry the rest after
    the policy's backoff. Throttling errors are retried the same way; any other botocore error is
    translated to a featurespark error at once.

    Parameters
    ----------
    attempt : callable
        One request; keeps what is left to send in its own state.
    policy : RetryPolicy
        Attempts, backoff and deadline.
    client : DynamoDB client
        For the endpoint in messages.
    action, table
        What is being done, and on which table(s), for messages.
    exhausted : callable
        Builds the :class:`~featurespark.errors.RetriesExhaustedError` message from the last cause.
    sleep, rng : optional
        Injectable for tests.
    on_retry, on_failed_request : callable, optional
        Counters: called before each retry, and for each request DynamoDB refused.

    Raises
    ------
    RetriesExhaustedError
        When the policy's attempts or deadline are used up.
    OnlineStoreError
        For other DynamoDB failures (see :func:`translate`).
    """
    cause = ""
    for _ in policy.attempts(sleep=sleep, rng=rng,
                             on_retry=(lambda _n, _wait: on_retry()) if on_retry is not None else None):
        try:
            left = attempt()
        except ClientError as exc:
            if on_failed_request is not None:
                on_failed_request()
            if error_code(exc) not in THROTTLE_CODES:
                raise translate(exc, client=client, action=action, table=table) from exc
            cause = error_code(exc)
            continue
        except BotoCoreError as exc:
            raise translate(exc, client=client, action=action, table=table) from exc
        if left is None:
            return
        cause = left
    raise RetriesExhaustedError(exhausted(cause))
