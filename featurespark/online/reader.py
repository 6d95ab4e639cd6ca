"""Read online feature values for entity rows with ``BatchGetItem``.

Build one :class:`OnlineReader` per process and reuse it: it holds one boto3 client (thread-safe, its
connection pool sized to the reader's threads) and one thread pool. Keys are deduplicated, sent in
requests of at most 100 keys (one request may span several tables), the requests run in parallel,
``UnprocessedKeys`` and throttling are retried with backoff, and results come back in the order of
the entity rows.
"""
from __future__ import annotations

import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property, partial
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any, Callable, Mapping, Optional, Sequence

from featurespark.errors import EntityKeyError, InvalidArgumentError
from featurespark.online.client import dynamodb_client, with_retries
from featurespark.retry import DYNAMODB_READ_RETRY, RetryPolicy
from featurespark.online.feature_types import TypeSpec
from featurespark.online.items import (
    CREATED_TS_ATTRIBUTE,
    EVENT_TS_ATTRIBUTE,
    PK_ATTRIBUTE,
    Item,
    ItemLayout,
    key_value_problem,
    to_epoch_micros,
)

logger = logging.getLogger(__name__)

__all__ = ["FeatureRow", "MAX_BATCH_GET_KEYS", "OnlineReader", "TableRead"]

#: DynamoDB's limit of keys per BatchGetItem request (over all tables in it).
MAX_BATCH_GET_KEYS = 100

FeatureRow = dict[str, Any]


@dataclass(frozen=True)
class TableRead:
    """One table to read for a set of entity rows.

    Attributes
    ----------
    table_name : str
        The table.
    keys : mapping of str to str
        Join-key name to type (``string``, ``int32``, ``int64``), in the view's join-key order.
    features : mapping of str to str
        Feature name to feature type, the features to return.
    ttl : timedelta, optional
        Values whose event time is older than ``now - ttl`` are returned as None.
    """

    table_name: str
    keys: Mapping[str, str]
    features: Mapping[str, TypeSpec]
    ttl: Optional[timedelta] = None

    @cached_property
    def layout(self) -> ItemLayout:
        """The item layout of the read, validated once and kept (a lookup repeats the same reads)."""
        return ItemLayout.build(self.keys, self.features)

    @cached_property
    def projection(self) -> dict[str, Any]:
        """The ``ProjectionExpression`` of the read."""
        return _projection(self.layout.feature_names)


class OnlineReader:
    """Reads feature values from online tables; build once, reuse for many calls.

    Parameters
    ----------
    region : str
        AWS region.
    endpoint_url : str, optional
        Endpoint override (a local endpoint); None for AWS.
    threads : int, optional
        Parallel requests (and connection pool size).
    retry : RetryPolicy, optional
        Retries of unprocessed keys and throttling.
    consistent_read : bool, optional
        Strongly consistent reads (twice the read cost).
    client : DynamoDB client, optional
        Use this client instead of creating one (tests, custom sessions).
    sleep : callable, optional
        Sleep function for backoff (injectable for tests).

    Examples
    --------
    >>> reader = OnlineReader(region="eu-west-1")  # doctest: +SKIP
    >>> reader.get("fs_user_stats", {"user_id": "string"}, [{"user_id": "u1"}],
    ...            {"clicks": "int64"}, ttl=timedelta(days=2))  # doctest: +SKIP
    [{'clicks': 7}]
    """

    def __init__(
        self,
        *,
        region: str,
        endpoint_url: Optional[str] = None,
        threads: int = 8,
        retry: RetryPolicy = DYNAMODB_READ_RETRY,
        consistent_read: bool = False,
        client: Optional[Any] = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if threads < 1:
            raise InvalidArgumentError(f"threads must be at least 1, got {threads}.")
        self._client = client or dynamodb_client(
            region=region, endpoint_url=endpoint_url, max_pool_connections=threads
        )
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="fs-ddb-read")
        self._retry = retry
        self._consistent = consistent_read
        self._sleep = sleep
        self._rng = random.Random()

    def close(self) -> None:
        """Stop the thread pool (the client needs no closing)."""
        self._pool.shutdown(wait=True)

    def __enter__(self) -> OnlineReader:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def get(
        self,
        table_name: str,
        keys: Mapping[str, str],
        entity_rows: Sequence[Mapping[str, Any]],
        features: Mapping[str, TypeSpec],
        ttl: Optional[timedelta] = None,
        now: Optional[datetime] = None,
    ) -> list[FeatureRow]:
        """Read features of one table for entity rows.

        Parameters
        ----------
        table_name : str
            The table.
        keys : mapping of str to str
            Join-key name to type, in join-key order.
        entity_rows : sequence of mappings
            One mapping of join-key name to value per entity; extra entries are ignored.
        features : mapping of str to str
            Feature name to type.
        ttl : timedelta, optional
            Values older than ``now - ttl`` come back as None.
        now : datetime, optional
            The reference time for ``ttl`` (default: the current UTC time).

        Returns
        -------
        list of dict
            One dict per entity row, in order, mapping each feature to its value; every value is None
            for a key that is not in the table or whose values are older than the TTL.

        Raises
        ------
        EntityKeyError
            If an entity row lacks a join key or holds one of the wrong type (the row index is named).
        TableNotFoundError, DynamoEndpointError, RetriesExhaustedError, OnlineStoreError
            For DynamoDB failures.
        """
        read = TableRead(table_name=table_name, keys=keys, features=features, ttl=ttl)
        return self.get_many([read], entity_rows, now=now)[table_name]

    def get_many(
        self,
        reads: Sequence[TableRead],
        entity_rows: Sequence[Mapping[str, Any]],
        now: Optional[datetime] = None,
    ) -> dict[str, list[FeatureRow]]:
        """Read several tables for the same entity rows, in shared parallel ``BatchGetItem`` requests.

        Parameters
        ----------
        reads : sequence of TableRead
            The tables, with their keys, features and TTLs; table names must be distinct.
        entity_rows : sequence of mappings
            Join-key values per entity (the union of the tables' join keys).
        now : datetime, optional
            Reference time for TTLs (default: now, UTC).

        Returns
        -------
        dict of str to list of dict
            Per table name, one feature dict per entity row, in order (see :meth:`get`).

        Raises
        ------
        EntityKeyError, InvalidArgumentError, TableNotFoundError, DynamoEndpointError,
        RetriesExhaustedError, OnlineStoreError
            See :meth:`get`.
        """
        return self.get_values_and_items(reads, entity_rows, now=now)[0]

    def get_values_and_items(
        self,
        reads: Sequence[TableRead],
        entity_rows: Sequence[Mapping[str, Any]],
        now: Optional[datetime] = None,
        *,
        item_reads: Sequence[TableRead] = (),
    ) -> tuple[dict[str, list[FeatureRow]], dict[str, list[Optional[Item]]]]:
        """Feature values of ``reads`` and whole items of ``item_reads``, in the same ``BatchGetItem`` requests.

        Aggregation items are read whole (their layout decodes them, see
        :mod:`featurespark.online.tiles`); a lookup mixing feature views and aggregation views makes one
        round of requests for both.

        Parameters
        ----------
        reads : sequence of TableRead
            Tables whose features are decoded (see :meth:`get_many`).
        entity_rows : sequence of mappings
            Join-key values per entity (the union of every table's join keys).
        now : datetime, optional
            Reference time for TTLs (default: now, UTC).
        item_reads : sequence of TableRead
            Tables whose items come back undecoded (their ``features`` and ``ttl`` are not used).

        Returns
        -------
        tuple of dict, dict
            Per table name of ``reads``, one feature dict per entity row (see :meth:`get`); per table name
            of ``item_reads``, the item of each entity row or None.

        Raises
        ------
        EntityKeyError, InvalidArgumentError, TableNotFoundError, DynamoEndpointError,
        RetriesExhaustedError, OnlineStoreError
            See :meth:`get`.
        """
        names = [r.table_name for r in (*reads, *item_reads)]
        if len(set(names)) != len(names):
            raise InvalidArgumentError(f"Each table may be read once per call; got {names}.")
        now_us = to_epoch_micros(now if now is not None else datetime.now(timezone.utc), what="now")
        layouts = {r.table_name: r.layout for r in (*reads, *item_reads)}
        row_pks = {r.table_name: self._row_keys(r, layouts[r.table_name], entity_rows) for r in (*reads, *item_reads)}
        wanted = [(table, pk) for table, pks in row_pks.items() for pk in dict.fromkeys(pks)]
        projections = {**{r.table_name: r.projection for r in reads}, **{r.table_name: {} for r in item_reads}}
        found = self._fetch_all(wanted, projections)
        results: dict[str, list[FeatureRow]] = {}
        for read in reads:
            layout = layouts[read.table_name]
            feature_names = layout.feature_names
            ttl_us = read.ttl // timedelta(microseconds=1) if read.ttl else None
            rows: list[FeatureRow] = []
            for pk in row_pks[read.table_name]:
                item = found.get((read.table_name, pk))
                decoded = layout.decode(item) if item is not None else None
                if decoded is None or (ttl_us is not None and decoded.event_ts < now_us - ttl_us):
                    rows.append(dict.fromkeys(feature_names))
                else:
                    rows.append(dict(decoded.values))  # one dict per row, even for repeated keys
            results[read.table_name] = rows
        items = {r.table_name: [found.get((r.table_name, pk)) for pk in row_pks[r.table_name]] for r in item_reads}
        return results, items

    def get_items(
        self, table_name: str, keys: Mapping[str, str], entity_rows: Sequence[Mapping[str, Any]]
    ) -> list[Optional[Item]]:
        """Read whole items of one table for entity rows (aggregation items are decoded by their layout).

        Parameters
        ----------
        table_name : str
            The table.
        keys : mapping of str to str
            Join-key name to type, in join-key order.
        entity_rows : sequence of mappings
            Join-key values per entity.

        Returns
        -------
        list of dict or None
            The item of each entity row, in order; None for keys without an item.

        Raises
        ------
        EntityKeyError, TableNotFoundError, DynamoEndpointError, RetriesExhaustedError, OnlineStoreError
            See :meth:`get`.
        """
        read = TableRead(table_name=table_name, keys=keys, features={})
        return self.get_values_and_items([], entity_rows, item_reads=[read])[1][table_name]

    def _fetch_all(
        self, wanted: Sequence[tuple[str, str]], projections: Mapping[str, Mapping[str, Any]]
    ) -> dict[tuple[str, str], Item]:
        """Fetch (table, pk) pairs in parallel requests of at most 100 keys."""
        chunks = [wanted[i : i + MAX_BATCH_GET_KEYS] for i in range(0, len(wanted), MAX_BATCH_GET_KEYS)]
        found: dict[tuple[str, str], Item] = {}
        if len(chunks) == 1:  # one request: no hand-off to the pool's threads on the latency path
            found.update(self._fetch(chunks[0], projections=projections))
        else:
            for part in self._pool.map(partial(self._fetch, projections=projections), chunks):
                found.update(part)
        logger.debug("Read %d of %d keys in %d requests", len(found), len(wanted), len(chunks))
        return found

    @staticmethod
    def _row_keys(read: TableRead, layout: ItemLayout, entity_rows: Sequence[Mapping[str, Any]]) -> list[str]:
        pks = []
        for index, row in enumerate(entity_rows):
            if not isinstance(row, Mapping):
                raise EntityKeyError(
                    f"Entity row {index} must be a mapping of join key to value, got {type(row).__name__}."
                )
            values = []
            for name, key_type in read.keys.items():
                if name not in row:
                    raise EntityKeyError(
                        f"Entity row {index} lacks join key {name!r} needed by table {read.table_name!r}; "
                        f"the row has {sorted(map(str, row))}."
                    )
                problem = key_value_problem(row[name], key_type)
                if problem is not None:
                    raise EntityKeyError(
                        f"Entity row {index}: join key {name!r} {problem} (table {read.table_name!r} "
                        f"expects {key_type})."
                    )
                values.append(row[name])
            pks.append(layout.partition_key(values))
        return pks

    def _fetch(
        self, keys: Sequence[tuple[str, str]], projections: Mapping[str, Mapping[str, Any]]
    ) -> dict[tuple[str, str], Item]:
        by_table: dict[str, list[dict[str, Any]]] = {}
        for table, pk in keys:
            by_table.setdefault(table, []).append({PK_ATTRIBUTE: {"S": pk}})
        request: dict[str, Any] = {
            table: {"Keys": table_keys, "ConsistentRead": self._consistent, **projections[table]}
            for table, table_keys in by_table.items()
        }
        found: dict[tuple[str, str], Item] = {}

        def attempt() -> Optional[str]:
            nonlocal request
            response = self._client.batch_get_item(RequestItems=request)
            for table, items in response.get("Responses", {}).items():
                for item in items:
                    found[(table, item[PK_ATTRIBUTE]["S"])] = item
            request = response.get("UnprocessedKeys") or {}
            return "UnprocessedKeys" if request else None

        with_retries(
            attempt, policy=self._retry, client=self._client, action="reading items", table=list(request),
            exhausted=lambda cause: (
                f"{sum(len(spec.get('Keys', [])) for spec in request.values())} of {len(keys)} keys of a BatchGetItem "
                f"request to {_tables(request)} were still unprocessed after {self._retry.max_retries} retries (last "
                f"cause: {cause}). Raise the tables' read capacity (or use on-demand billing) or pass a RetryPolicy "
                "with more attempts."
            ),
            sleep=self._sleep, rng=self._rng,
        )
        return found


def _tables(request: Mapping[str, Any]) -> str:
    return ", ".join(repr(t) for t in request)



def _projection(feature_names: Sequence[str]) -> dict[str, Any]:
    """ProjectionExpression for the layout attributes and the wanted features (names as placeholders)."""
    names = [PK_ATTRIBUTE, EVENT_TS_ATTRIBUTE, CREATED_TS_ATTRIBUTE, *feature_names]
    placeholders = {f"#a{i}": name for i, name in enumerate(names)}
    return {"ProjectionExpression": ", ".join(placeholders), "ExpressionAttributeNames": placeholders}
