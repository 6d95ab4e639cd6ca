"""Online reader: order, missing keys, TTL, batching over 100 keys, multi-table reads and errors."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest
from botocore.exceptions import ClientError
from dynamodb_local import DynamoDBLocal, aws_env, free_port, unique_table  # noqa: F401 - aws_env is a fixture

from featurespark.retry import RetryPolicy
from featurespark.errors import DynamoEndpointError, EntityKeyError, RetriesExhaustedError, TableNotFoundError
from featurespark.online.items import ItemLayout
from featurespark.online.reader import OnlineReader, TableRead
from featurespark.online.tables import create_table, delete_table
from featurespark.online.writer import BatchWriter

UTC = timezone.utc
NOW = datetime(2024, 6, 1, tzinfo=UTC)
USERS = {"user": "string"}
USER_FEATURES = {"clicks": "int64", "ctr": "float64", "tags": "array<string>"}
PAIRS = {"user": "string", "shop": "int64"}
PAIR_FEATURES = {"spend": "float32"}


def micros(dt: datetime) -> int:
    return (dt - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


class CountingClient:
    """Passes calls through to a real client and records the keys of each BatchGetItem."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.meta = client.meta
        self.requests: list[dict[str, int]] = []
        self._lock = threading.Lock()

    def batch_get_item(self, **kwargs: Any) -> Any:
        with self._lock:
            self.requests.append({t: len(spec["Keys"]) for t, spec in kwargs["RequestItems"].items()})
        return self._client.batch_get_item(**kwargs)


@pytest.fixture(scope="module")
def tables(dynamodb_local: DynamoDBLocal) -> Iterator[tuple[Any, str, str]]:
    """Two tables: users u0..u249 (u<n> has clicks=n; every 10th older than a day), and (user, shop) pairs."""
    client = dynamodb_local.client()
    users, pairs = unique_table("fs_users"), unique_table("fs_pairs")
    create_table(client, users)
    create_table(client, pairs)
    user_layout = ItemLayout.build(USERS, USER_FEATURES)
    user_items = [
        user_layout.encode([f"u{n}"], [n, n / 10, [f"t{n}", None]], micros(NOW - timedelta(days=0 if n % 10 else 2)))
        for n in range(250)
    ]
    pair_layout = ItemLayout.build(PAIRS, PAIR_FEATURES)
    pair_items = [pair_layout.encode([f"u{n}", n % 3], [n + 0.5], micros(NOW)) for n in range(20)]
    BatchWriter(client, users, threads=4).write(user_items)
    BatchWriter(client, pairs, threads=4).write(pair_items)
    yield client, users, pairs
    delete_table(client, users)
    delete_table(client, pairs)


@pytest.fixture
def reader(tables: tuple[Any, str, str]) -> Iterator[tuple[OnlineReader, CountingClient]]:
    counting = CountingClient(tables[0])
    with OnlineReader(region="us-east-1", client=counting, threads=4) as online:
        yield online, counting


def test_results_follow_request_order_with_missing_keys_as_none(
    tables: tuple[Any, str, str], reader: tuple[OnlineReader, CountingClient]
) -> None:
    online, counting = reader
    rows = [{"user": "u7"}, {"user": "nobody"}, {"user": "u3", "other": 1}, {"user": "u7"}]
    got = online.get(tables[1], USERS, rows, USER_FEATURES, now=NOW)
    assert got == [
        {"clicks": 7, "ctr": 0.7, "tags": ["t7", None]},
        {"clicks": None, "ctr": None, "tags": None},
        {"clicks": 3, "ctr": 0.3, "tags": ["t3", None]},
        {"clicks": 7, "ctr": 0.7, "tags": ["t7", None]},
    ]
    assert counting.requests == [{tables[1]: 3}]  # duplicate keys asked once


def test_ttl_hides_values_older_than_the_ttl(
    tables: tuple[Any, str, str], reader: tuple[OnlineReader, CountingClient]
) -> None:
    online, _ = reader
    rows = [{"user": "u10"}, {"user": "u11"}]
    assert online.get(tables[1], USERS, rows, {"clicks": "int64"}, now=NOW) == [{"clicks": 10}, {"clicks": 11}]
    with_ttl = online.get(tables[1], USERS, rows, {"clicks": "int64"}, ttl=timedelta(days=1), now=NOW)
    assert with_ttl == [{"clicks": None}, {"clicks": 11}]
    # Exactly at the TTL boundary the value is still served.
    at_edge = online.get(tables[1], USERS, rows, {"clicks": "int64"}, ttl=timedelta(days=2), now=NOW)
    assert at_edge == [{"clicks": 10}, {"clicks": 11}]


def test_more_than_100_keys_are_split_into_parallel_requests(
    tables: tuple[Any, str, str], reader: tuple[OnlineReader, CountingClient]
) -> None:
    online, counting = reader
    rows = [{"user": f"u{n}"} for n in range(260)]  # u250..u259 do not exist
    got = online.get(tables[1], USERS, rows, {"clicks": "int64"}, now=NOW)
    assert [r["clicks"] for r in got] == [*range(250), *[None] * 10]
    assert sorted(sum(r.values()) for r in counting.requests) == [60, 100, 100]


def test_several_tables_share_batch_get_requests(
    tables: tuple[Any, str, str], reader: tuple[OnlineReader, CountingClient]
) -> None:
    online, counting = reader
    _, users, pairs = tables
    rows = [{"user": "u4", "shop": 1}, {"user": "u5", "shop": 0}, {"user": "u6", "shop": 99}]
    got = online.get_many(
        [TableRead(users, USERS, {"clicks": "int64"}), TableRead(pairs, PAIRS, PAIR_FEATURES)], rows, now=NOW
    )
    assert got == {
        users: [{"clicks": 4}, {"clicks": 5}, {"clicks": 6}],
        pairs: [{"spend": 4.5}, {"spend": None}, {"spend": None}],  # the pairs table has (u5, 2), not (u5, 0)
    }
    assert counting.requests == [{users: 3, pairs: 3}]  # one request spanning both tables


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"user": "u1"}, {"usr": "u2"}],
         r"Entity row 1 lacks join key 'user' needed by table '.*'; the row has \['usr'\]"),
        ([{"user": 12}], r"Entity row 0: join key 'user' must be a string, got int 12 \(table '.*' expects string\)"),
        ([{"user": None}], r"Entity row 0: join key 'user' is null"),
        ([{"user": "a"}, {"user": "b"}, ("c",)], r"Entity row 2 must be a mapping of join key to value, got tuple"),
    ],
)
def test_bad_entity_rows_name_the_row(
    tables: tuple[Any, str, str], reader: tuple[OnlineReader, CountingClient], rows: list[Any], message: str
) -> None:
    online, counting = reader
    with pytest.raises(EntityKeyError, match=message):
        online.get(tables[1], USERS, rows, {"clicks": "int64"})
    assert counting.requests == []


def test_integer_keys_are_checked_too(
    tables: tuple[Any, str, str], reader: tuple[OnlineReader, CountingClient]
) -> None:
    online, _ = reader
    with pytest.raises(EntityKeyError, match=r"Entity row 0: join key 'shop' must be an int64 integer, got str '1'"):
        online.get(tables[2], PAIRS, [{"user": "u1", "shop": "1"}], PAIR_FEATURES)
    with pytest.raises(EntityKeyError, match=r"Entity row 0: join key 'shop' must be an int64 integer, got bool True"):
        online.get(tables[2], PAIRS, [{"user": "u1", "shop": True}], PAIR_FEATURES)


def test_missing_table(tables: tuple[Any, str, str], reader: tuple[OnlineReader, CountingClient]) -> None:
    online, _ = reader
    with pytest.raises(TableNotFoundError, match=r"^DynamoDB table 'fs_absent' does not exist at http://127.0.0.1:\d+ "
                                                 r"\(region us-east-1\) \(reading items\)\. Create it with"):
        online.get("fs_absent", USERS, [{"user": "u1"}], {"clicks": "int64"})
    with pytest.raises(TableNotFoundError, match=r"^One of the DynamoDB tables 'fs_absent', '.*' does not exist"):
        online.get_many([TableRead("fs_absent", USERS, {"clicks": "int64"}), TableRead(tables[1], USERS, {})],
                        [{"user": "u1"}])


def test_bad_endpoint(aws_env: dict[str, str]) -> None:  # noqa: F811
    port = free_port()
    with OnlineReader(region="us-east-1", endpoint_url=f"http://127.0.0.1:{port}") as online:
        expected = (rf"^Cannot reach DynamoDB at http://127.0.0.1:{port} \(region us-east-1\) "
                    r"while reading items: Could not connect to the endpoint URL")
        with pytest.raises(DynamoEndpointError, match=expected):
            online.get("fs_any", USERS, [{"user": "u1"}], {"clicks": "int64"})


class UnprocessedStub:
    """BatchGetItem that leaves keys unprocessed (a real table does so under load or over 16 MB)."""

    def __init__(self, layout: ItemLayout, *, unprocessed_rounds: int, throttle_first: bool = False) -> None:
        self.layout = layout
        self.rounds_left = unprocessed_rounds
        self.throttle_first = throttle_first
        self.calls = 0

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        if self.throttle_first:
            self.throttle_first = False
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "BatchGetItem")
        ((table, spec),) = RequestItems.items()
        keys = spec["Keys"]
        served, left = (keys[: len(keys) // 2], keys[len(keys) // 2 :]) if self.rounds_left else (keys, [])
        self.rounds_left -= 1 if self.rounds_left else 0
        items = [{**k, "event_ts": {"N": "1"}, "n": {"N": k["pk"]["S"].split(":")[1]}} for k in served]
        return {"Responses": {table: items}, "UnprocessedKeys": {table: {**spec, "Keys": left}} if left else {}}


def test_unprocessed_keys_and_throttling_are_retried() -> None:
    layout = ItemLayout.build({"id": "int64"}, {"n": "int64"})
    stub = UnprocessedStub(layout, unprocessed_rounds=3, throttle_first=True)
    sleeps: list[float] = []
    with OnlineReader(region="us-east-1", client=stub, threads=1, sleep=sleeps.append) as online:
        got = online.get("t", {"id": "int64"}, [{"id": i} for i in range(40)], {"n": "int64"}, now=NOW)
    assert [r["n"] for r in got] == list(range(40))
    assert stub.calls == 5 and len(sleeps) == 4


def test_unprocessed_keys_retries_exhausted() -> None:
    layout = ItemLayout.build({"id": "int64"}, {"n": "int64"})
    stub = UnprocessedStub(layout, unprocessed_rounds=100)
    with OnlineReader(region="us-east-1", client=stub, threads=1, retry=RetryPolicy(max_attempts=3, base_delay_s=0, max_delay_s=0)) as online:
        with pytest.raises(RetriesExhaustedError, match=r"^5 of 40 keys of a BatchGetItem request to 't' were still "
                                                        r"unprocessed after 2 retries \(last cause: UnprocessedKeys\)"):
            online.get("t", {"id": "int64"}, [{"id": i} for i in range(40)], {"n": "int64"})
