"""Batch writer: retries, dedup, rate limit, monotonic mode and idempotence.

Faults the local endpoint cannot produce on demand (unprocessed items, throttling) come from a stub
client; everything else runs against a local DynamoDB endpoint.
"""
from __future__ import annotations

import pickle
import random
import threading
from typing import Any, Iterator

import pytest
from botocore.exceptions import ClientError
from dynamodb_local import DynamoDBLocal, FakeClock, aws_env, free_port, unique_table  # noqa: F401 - aws_env is a fixture

from featurespark.errors import InvalidArgumentError
from featurespark.online.rate_limit import TokenBucket
from featurespark.retry import RetryPolicy
from featurespark.errors import DynamoEndpointError, OnlineStoreError, RetriesExhaustedError
from featurespark.online.items import Item, ItemLayout
from featurespark.online.tables import create_table
from featurespark.online.writer import BatchWriter, WriterConfig, partition_writer, rows_to_items, write_partition

LAYOUT = ItemLayout.build({"user": "string"}, {"clicks": "int64"})
FAST = RetryPolicy(max_attempts=6, base_delay_s=0.001, max_delay_s=0.01)


def make_items(n: int, *, event_ts: int = 100, created_ts: int = 0, value: int = 1) -> list[Item]:
    return [LAYOUT.encode([f"u{i}"], [value + i], event_ts, created_ts) for i in range(n)]


def throttled(code: str = "ProvisionedThroughputExceededException") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "slow down"}}, "BatchWriteItem")


class StubClient:
    """A fake DynamoDB client that follows a plan of faults, one entry per call, then succeeds.

    Plan entries: ``"throttle"`` raises ProvisionedThroughputExceededException, an int ``k`` accepts all
    but the last ``k`` items and returns those as UnprocessedItems, ``"ok"`` accepts everything.
    """

    def __init__(self, plan: list[Any] | None = None, *, repeat: Any = "ok") -> None:
        self.plan = list(plan or [])
        self.repeat = repeat
        self.stored: dict[str, Item] = {}
        self.request_sizes: list[int] = []
        self._lock = threading.Lock()

    def _next(self) -> Any:
        with self._lock:
            return self.plan.pop(0) if self.plan else self.repeat

    def batch_write_item(self, RequestItems: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        ((table, requests),) = RequestItems.items()
        assert len(requests) <= 25
        keys = [r["PutRequest"]["Item"]["pk"]["S"] for r in requests]
        assert len(set(keys)) == len(keys), "DynamoDB rejects duplicate keys in one request"
        with self._lock:
            self.request_sizes.append(len(requests))
        action = self._next()
        if action == "throttle":
            raise throttled()
        if isinstance(action, str) and action != "ok":
            raise throttled(action)
        left = int(action) if isinstance(action, int) else 0
        accepted, unprocessed = requests[: len(requests) - left], requests[len(requests) - left :]
        with self._lock:
            for request in accepted:
                item = request["PutRequest"]["Item"]
                self.stored[item["pk"]["S"]] = item
        return {"UnprocessedItems": {table: unprocessed} if unprocessed else {}}

    def put_item(self, **kwargs: Any) -> dict[str, Any]:
        if self._next() == "throttle":
            raise throttled()
        self.stored[kwargs["Item"]["pk"]["S"]] = kwargs["Item"]
        return {}


def test_all_items_land_despite_unprocessed_items_and_throttling() -> None:
    client = StubClient(["throttle", 10, 3, "throttle", 2])
    sleeps: list[float] = []
    writer = BatchWriter(client, "t", threads=1, retry=FAST, sleep=sleeps.append, rng=random.Random(1))
    items = make_items(60)
    counts = writer.write(items)
    assert sorted(client.stored) == sorted(i["pk"]["S"] for i in items)
    assert counts.items == 60
    # Batch 1 (25): throttle, 10 left, 3 left, throttle, 2 left, ok -> 5 retries, 6 requests.
    assert counts.retries == 5 and len(sleeps) == 5
    assert counts.requests == len(client.request_sizes) == 6 + 2
    assert client.request_sizes[:6] == [25, 25, 10, 3, 3, 2]
    assert all(0 <= d <= FAST.cap(n) for n, d in enumerate(sleeps))


def test_retries_in_parallel_threads_still_write_everything() -> None:
    rng = random.Random(3)
    plan = [rng.choice(["ok", "throttle", 5, 24]) for _ in range(60)]
    client = StubClient(plan)
    writer = BatchWriter(client, "t", threads=4, retry=RetryPolicy(max_attempts=51, base_delay_s=0, max_delay_s=0))
    counts = writer.write(make_items(500))
    assert len(client.stored) == 500 and counts.items == 500
    assert counts.retries == sum(1 for p in plan if p != "ok")


def test_throttling_retries_exhausted_says_how_many_items_were_left() -> None:
    client = StubClient(["ok"], repeat="throttle")
    writer = BatchWriter(client, "events", threads=1, retry=RetryPolicy(max_attempts=4, base_delay_s=0, max_delay_s=0))
    with pytest.raises(RetriesExhaustedError) as info:
        writer.write(make_items(30))
    assert str(info.value).startswith(
        "5 of 5 items of a BatchWriteItem request to table 'events' were still not written after 3 retries "
        "(last cause: ProvisionedThroughputExceededException); this task had written 25 items."
    )
    assert writer.counts.retries == 3


def test_unprocessed_retries_exhausted_counts_only_the_items_left() -> None:
    writer = BatchWriter(StubClient(repeat=4), "events", threads=1, retry=RetryPolicy(max_attempts=3, base_delay_s=0, max_delay_s=0))
    expected = r"^4 of 25 items .* after 2 retries \(last cause: UnprocessedItems\)"
    with pytest.raises(RetriesExhaustedError, match=expected):
        writer.write(make_items(25))


def test_other_errors_are_not_retried() -> None:
    client = StubClient(["ValidationException"])
    writer = BatchWriter(client, "t", threads=1, retry=FAST)
    with pytest.raises(OnlineStoreError, match=r"DynamoDB refused writing items at .*: ValidationException: slow down"):
        writer.write(make_items(3))
    assert writer.counts.retries == 0


def test_duplicate_keys_in_one_request_keep_the_newest() -> None:
    client = StubClient()
    old = LAYOUT.encode(["a"], [1], 100, 5)
    newest = LAYOUT.encode(["a"], [2], 100, 7)  # same event time, later created time
    older_event = LAYOUT.encode(["a"], [3], 99, 9)
    writer = BatchWriter(client, "t", threads=1)
    counts = writer.write([old, newest, older_event, *make_items(30)])
    assert client.stored["s1:a"] is newest
    assert counts.duplicates == 2 and counts.items == 31
    assert client.request_sizes == [25, 6]


def test_rate_limiter_paces_the_writes() -> None:
    clock = FakeClock()
    bucket = TokenBucket(50, 25, clock=clock, sleep=clock.sleep)
    BatchWriter(StubClient(), "t", threads=1, rate_limiter=bucket).write(make_items(100))
    assert clock.now == pytest.approx((100 - 25) / 50)


def test_monotonic_mode_retries_throttled_puts() -> None:
    client = StubClient(["throttle", "throttle"])
    writer = BatchWriter(client, "t", write_mode="monotonic", threads=1, retry=FAST)
    counts = writer.write(make_items(3))
    assert counts.items == 3 and counts.retries == 2 and counts.requests == 5


def test_writer_config_is_plain_picklable_data() -> None:
    config = WriterConfig(table_name="t", region="us-east-1", layout=LAYOUT, endpoint_url="http://127.0.0.1:1")
    restored = pickle.loads(pickle.dumps(partition_writer(config)))
    assert restored.config == config


def test_writer_config_rejects_bad_options() -> None:
    expected = r"write_mode must be one of 'last_writer_wins', 'monotonic'; got 'newest'"
    with pytest.raises(InvalidArgumentError, match=expected):
        WriterConfig(table_name="t", region="r", layout=LAYOUT, write_mode="newest")


# ------------------------------------------------------------------------- against a local DynamoDB endpoint


@pytest.fixture
def table(dynamodb_local: DynamoDBLocal) -> Iterator[tuple[Any, str]]:
    client = dynamodb_local.client()
    name = unique_table("fs_writer")
    create_table(client, name)
    yield client, name
    client.delete_table(TableName=name)


def scan(client: Any, table: str) -> dict[str, Item]:
    items = client.scan(TableName=table, ConsistentRead=True)["Items"]
    return {i["pk"]["S"]: i for i in items}


def test_monotonic_mode_never_replaces_a_newer_event(table: tuple[Any, str]) -> None:
    client, name = table
    newer = make_items(30, event_ts=200, value=1000)
    BatchWriter(client, name, write_mode="monotonic", threads=4).write(newer)
    older = make_items(30, event_ts=100, value=0) + make_items(30, event_ts=200, created_ts=-1, value=0)[:5]
    counts = BatchWriter(client, name, write_mode="monotonic", threads=4).write(older)
    assert counts.skipped_older == 35 and counts.items == 0
    assert scan(client, name) == {i["pk"]["S"]: i for i in newer}
    newest = make_items(10, event_ts=200, created_ts=1, value=5)  # same event, later created: wins
    counts = BatchWriter(client, name, write_mode="monotonic", threads=4).write(newest)
    assert counts.items == 10 and scan(client, name)["s2:u0"]["clicks"] == {"N": "5"}


def test_last_writer_wins_lets_an_older_run_overwrite(table: tuple[Any, str]) -> None:
    client, name = table
    BatchWriter(client, name).write(make_items(5, event_ts=200, value=1000))
    BatchWriter(client, name).write(make_items(5, event_ts=100, value=0))
    assert scan(client, name)["s2:u0"]["clicks"] == {"N": "0"}  # the documented consequence


@pytest.mark.parametrize("mode", ["last_writer_wins", "monotonic"])
def test_writing_a_partition_twice_leaves_the_same_state(
    table: tuple[Any, str], aws_env: dict[str, str], dynamodb_local: DynamoDBLocal, mode: str  # noqa: F811
) -> None:
    client, name = table
    layout = ItemLayout.build({"user": "string", "shop": "int64"}, {"x": "float64", "tags": "array<string>"})
    rows = [(f"u{i % 7}", i, 1_000 + i, None if i % 3 else 5, float(i) / 3, ["a", None]) for i in range(40)]
    config = WriterConfig(table_name=name, region=dynamodb_local.region, endpoint_url=dynamodb_local.endpoint_url,
                          layout=layout, write_mode=mode, threads=3)
    first = write_partition(iter(rows), config)  # the task's own client, from the default chain
    state = scan(client, name)
    second = write_partition(iter(rows), config)  # a retried task
    assert scan(client, name) == state
    assert len(state) == 40 and first.items == 40
    # Monotonic mode lets an equal (event_ts, created_ts) rewrite, so a retried task is not "skipped".
    assert second.items == 40 and second.skipped_older == 0
    assert {k: layout.decode(v).values["x"] for k, v in state.items()}[layout.partition_key(["u1", 8])] == 8 / 3
    assert [it["pk"] for it in rows_to_items(rows[:2], layout)] == [
        {"S": layout.partition_key(["u0", 0])}, {"S": layout.partition_key(["u1", 1])}
    ]


def test_bad_endpoint_from_a_task(aws_env: dict[str, str]) -> None:  # noqa: F811
    port = free_port()
    config = WriterConfig(table_name="t", region="us-east-1", endpoint_url=f"http://127.0.0.1:{port}", layout=LAYOUT)
    expected = rf"^Cannot reach DynamoDB at http://127.0.0.1:{port} \(region us-east-1\) while writing items: "
    with pytest.raises(DynamoEndpointError, match=expected):
        write_partition(iter([("u1", 1, None, 5)]), config)
