"""Online tables: create, check, ensure, TTL, and the errors for wrong schemas and endpoints."""
from __future__ import annotations

from typing import Any, Iterator

import boto3
import pytest
from dynamodb_local import DynamoDBLocal, FakeClock, aws_env, free_port, unique_table  # noqa: F401
from moto import mock_aws

from featurespark.errors import InvalidArgumentError
from featurespark.online.client import dynamodb_client
from featurespark.errors import DynamoEndpointError, OnlineStoreError, TableNotFoundError, TableSchemaError
from featurespark.online.tables import check_table, create_table, delete_table, ensure_table, wait_until_active


@pytest.fixture
def client(dynamodb_local: DynamoDBLocal) -> Any:
    return dynamodb_local.client()


@pytest.fixture
def table_name(client: Any) -> Iterator[str]:
    name = unique_table("fs_tables")
    yield name
    delete_table(client, name)


def test_create_table_on_demand_with_ttl(client: Any, table_name: str) -> None:
    table = create_table(client, table_name, ttl_enabled=True)
    assert table["TableStatus"] == "ACTIVE"
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = client.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expire_at"}


def test_create_table_provisioned(client: Any, table_name: str) -> None:
    table = create_table(client, table_name, billing_mode="PROVISIONED", read_capacity=7, write_capacity=3)
    throughput = table["ProvisionedThroughput"]
    assert (throughput["ReadCapacityUnits"], throughput["WriteCapacityUnits"]) == (7, 3)


def test_ensure_table_creates_then_accepts_and_enables_ttl(client: Any, table_name: str) -> None:
    ensure_table(client, table_name)
    assert client.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]["TimeToLiveStatus"] == "DISABLED"
    table = ensure_table(client, table_name, ttl_enabled=True)  # existing table: checked, TTL turned on
    assert table["TableName"] == table_name
    assert client.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]["AttributeName"] == "expire_at"


def test_create_table_refuses_an_existing_table(client: Any, table_name: str) -> None:
    create_table(client, table_name)
    with pytest.raises(TableSchemaError, match=rf"DynamoDB table '{table_name}' already exists at http://127.0.0.1:\d+ "
                                               r"\(region us-east-1\). Use ensure_table"):
        create_table(client, table_name)


def test_existing_table_with_another_key_schema_is_rejected(client: Any, table_name: str) -> None:
    client.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "ts", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "id", "AttributeType": "S"}, {"AttributeName": "ts", "AttributeType": "N"}
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    with pytest.raises(TableSchemaError) as info:
        ensure_table(client, table_name)
    assert f"DynamoDB table '{table_name}' at http://127.0.0.1:" in str(info.value)
    assert ("has key schema [id HASH S, ts RANGE N], but the online store needs a single HASH key 'pk' "
            "of type S. Use another table name or delete the table.") in str(info.value)


def test_pk_of_the_wrong_type_is_rejected(client: Any, table_name: str) -> None:
    client.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "B"}],
        BillingMode="PAY_PER_REQUEST",
    )
    with pytest.raises(TableSchemaError, match=r"has key schema \[pk HASH B\]"):
        check_table(client, table_name)


def test_ttl_on_another_attribute_is_rejected(client: Any, table_name: str) -> None:
    create_table(client, table_name)
    client.update_time_to_live(TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})
    with pytest.raises(TableSchemaError, match=rf"DynamoDB table '{table_name}' has TTL on attribute 'ttl'; the online "
                                               r"store writes 'expire_at'. Disable TTL"):
        ensure_table(client, table_name, ttl_enabled=True)


def test_missing_table(client: Any) -> None:
    with pytest.raises(TableNotFoundError, match=r"DynamoDB table 'fs_nope' does not exist at http://127.0.0.1:\d+ "
                                                 r"\(region us-east-1\) \(describing table 'fs_nope'\)"):
        check_table(client, "fs_nope")
    delete_table(client, "fs_nope")  # missing_ok
    with pytest.raises(TableNotFoundError, match=r"DynamoDB table 'fs_nope' does not exist"):
        delete_table(client, "fs_nope", missing_ok=False)


def test_bad_endpoint(aws_env: dict[str, str]) -> None:  # noqa: F811
    port = free_port()  # nothing listens there
    client = dynamodb_client(region="us-east-1", endpoint_url=f"http://127.0.0.1:{port}", max_attempts=1)
    with pytest.raises(DynamoEndpointError) as info:
        ensure_table(client, "fs_any")
    assert str(info.value).startswith(
        f"Cannot reach DynamoDB at http://127.0.0.1:{port} (region us-east-1) while describing table 'fs_any': "
        f'Could not connect to the endpoint URL: "http://127.0.0.1:{port}/". Check endpoint_url and region; '
        "for local runs start the local DynamoDB endpoint with `bash bootstrap/dynamodb-local/start.sh`."
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"billing_mode": "ON_DEMAND"},
         r"billing_mode must be one of 'PAY_PER_REQUEST', 'PROVISIONED'; got 'ON_DEMAND'"),
        ({"read_capacity": 5}, r"read_capacity/write_capacity apply to billing_mode='PROVISIONED' only"),
        ({"billing_mode": "PROVISIONED", "read_capacity": 5},
         r"billing_mode='PROVISIONED' needs positive integer read_capacity and write_capacity, got 5 and None"),
    ],
)
def test_billing_options_are_validated_before_any_call(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        ensure_table(object(), "fs_any", **kwargs)


def test_tags_are_applied(aws_env: dict[str, str]) -> None:  # noqa: F811
    # Tags are checked with moto's in-process mock, which records them per table ARN.
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        table = create_table(client, "fs_tagged", tags={"team": "ml", "cost-center": "42"}, poll_interval_s=0)
        tags = client.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("cost-center", "42"), ("team", "ml")]


class CreatingForever:
    """A table stuck in CREATING (a real service can take minutes; the local endpoint never does)."""

    meta = type("Meta", (), {"endpoint_url": "https://dynamodb.test", "region_name": "eu-west-1"})()

    def describe_table(self, TableName: str) -> dict[str, Any]:
        return {"Table": {"TableName": TableName, "TableStatus": "CREATING"}}


def test_wait_until_active_times_out_with_a_clear_message() -> None:
    clock = FakeClock()
    expected = r"DynamoDB table 'fs_slow' at https://dynamodb.test \(region eu-west-1\) is still CREATING after 5 s"
    with pytest.raises(OnlineStoreError, match=expected):
        wait_until_active(CreatingForever(), "fs_slow", timeout_s=5, poll_interval_s=1, clock=clock, sleep=clock.sleep)
    assert clock.now == 5
