"""add_steps against moto's EMR API (and botocore's Stubber for the errors moto cannot produce)."""
from __future__ import annotations

from typing import Any, Iterator

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from featurespark.emr import ClusterUnavailableError, EmrError, add_steps, build_step
from featurespark.errors import InvalidArgumentError

REGION = "eu-west-1"
CODE = "s3://my-bucket/featurespark/jobs/"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials, so nothing can reach a real account."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SECURITY_TOKEN": "testing", "AWS_SESSION_TOKEN": "testing",
                        "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)


@pytest.fixture
def emr(aws_env: None) -> Iterator[Any]:
    with mock_aws():
        yield boto3.session.Session().client("emr", region_name=REGION)


def create_cluster(emr: Any) -> str:
    response = emr.run_job_flow(
        Name="featurespark-test", ReleaseLabel="emr-7.5.0", Applications=[{"Name": "Spark"}],
        Instances={"MasterInstanceType": "m5.xlarge", "SlaveInstanceType": "m5.xlarge", "InstanceCount": 3,
                   "KeepJobFlowAliveWhenNoSteps": True},
        JobFlowRole="EMR_EC2_DefaultRole", ServiceRole="EMR_DefaultRole",
    )
    return str(response["JobFlowId"])


def test_steps_reach_the_cluster_with_their_arguments(emr: Any) -> None:
    cluster_id = create_cluster(emr)
    ingest = build_step("ingest", ["--config", "emr.yaml", "--view", "driver_stats", "--source-table",
                                   "raw.driver_stats", "--mode", "upsert"],
                        code_uri=CODE, files=["s3://my-bucket/featurespark/conf/emr.yaml"])
    materialize = build_step("materialize", ["--config", "emr.yaml", "--incremental", "--end",
                                             "2024-06-01T00:00:00"],
                             code_uri=CODE, action_on_failure="CANCEL_AND_WAIT")

    step_ids = add_steps(cluster_id, [ingest, materialize], region=REGION)

    assert len(step_ids) == 2 and all(s.startswith("s-") for s in step_ids)
    first = emr.describe_step(ClusterId=cluster_id, StepId=step_ids[0])["Step"]
    assert first["Name"] == "featurespark ingest"
    assert first["ActionOnFailure"] == "CONTINUE"
    assert first["Config"]["Jar"] == "command-runner.jar"
    assert first["Config"]["Args"] == [
        "spark-submit", "--deploy-mode", "cluster",
        "--py-files", "/usr/share/aws/delta/lib/delta-spark.jar",
        "--files", "s3://my-bucket/featurespark/conf/emr.yaml",
        "s3://my-bucket/featurespark/jobs/ingest.py",
        "--config", "emr.yaml", "--view", "driver_stats", "--source-table", "raw.driver_stats", "--mode", "upsert",
    ]
    second = emr.describe_step(ClusterId=cluster_id, StepId=step_ids[1])["Step"]
    assert second["ActionOnFailure"] == "CANCEL_AND_WAIT"
    assert second["Config"]["Args"][-6:] == ["s3://my-bucket/featurespark/jobs/materialize.py", "--config",
                                              "emr.yaml", "--incremental", "--end", "2024-06-01T00:00:00"]
    listed = emr.list_steps(ClusterId=cluster_id)["Steps"]
    assert {s["Id"] for s in listed} == set(step_ids)


def test_unknown_cluster_is_a_clear_error(emr: Any) -> None:
    create_cluster(emr)
    step = build_step("ingest", [], code_uri=CODE)
    with pytest.raises(ClusterUnavailableError) as info:
        add_steps("j-DOESNOTEXIST1", [step], region=REGION)
    message = str(info.value)
    assert message.startswith("EMR cluster j-DOESNOTEXIST1 was not found in region eu-west-1")
    assert "aws emr list-clusters --active --region eu-west-1" in message


def test_terminated_cluster_cannot_take_steps(emr: Any) -> None:
    cluster_id = create_cluster(emr)
    emr.terminate_job_flows(JobFlowIds=[cluster_id])
    with pytest.raises(ClusterUnavailableError, match=rf"EMR cluster {cluster_id} \(featurespark-test\) in "
                                                      r"region eu-west-1 is TERMINATED and cannot take steps"):
        add_steps(cluster_id, [build_step("ingest", [], code_uri=CODE)], region=REGION)
    assert emr.list_steps(ClusterId=cluster_id)["Steps"] == []


@pytest.mark.parametrize("cluster_id", ["", "J-", "cluster-1", "j-ABC DEF", "s-1ABCDEF"])
def test_malformed_cluster_id(cluster_id: str) -> None:
    with pytest.raises(InvalidArgumentError, match="is not an EMR cluster id .* `aws emr list-clusters --active`"):
        add_steps(cluster_id, [build_step("ingest", [], code_uri=CODE)], region=REGION, client=object())


def test_step_count_is_checked() -> None:
    with pytest.raises(InvalidArgumentError, match="Pass 1 to 256 steps per call; got 0"):
        add_steps("j-1ABC", [], region=REGION, client=object())


def test_access_denied_names_the_permissions(aws_env: None) -> None:
    client = boto3.session.Session().client("emr", region_name=REGION)
    cluster = {"Cluster": {"Id": "j-1ABC", "Name": "prod", "Status": {"State": "WAITING"}}}
    with Stubber(client) as stub:
        stub.add_response("describe_cluster", cluster, {"ClusterId": "j-1ABC"})
        stub.add_client_error("add_job_flow_steps", service_error_code="AccessDeniedException",
                              service_message="User: arn:aws:iam::123456789012:user/ci is not authorized",
                              http_status_code=400)
        with pytest.raises(EmrError) as info:
            add_steps("j-1ABC", [build_step("ingest", [], code_uri=CODE)], region=None, client=client)
    message = str(info.value)
    assert message.startswith("Cannot add steps to EMR cluster j-1ABC in region eu-west-1: "
                              "AccessDeniedException: User: arn:aws:iam::123456789012:user/ci is not authorized.")
    assert "elasticmapreduce:AddJobFlowSteps" in message and "docs/emr.md" in message


def test_no_credentials_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                 "AWS_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("BOTO_CONFIG", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # A closed local port: should credentials turn up after all, nothing reaches AWS.
    client = boto3.session.Session().client("emr", region_name=REGION, endpoint_url="http://127.0.0.1:9")
    with pytest.raises(EmrError, match="Cannot describe EMR cluster j-1ABC: no AWS credentials found"):
        add_steps("j-1ABC", [build_step("ingest", [], code_uri=CODE)], region=None, client=client)


def test_no_region_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(EmrError, match="Cannot create an EMR client: .*Pass --region"):
        add_steps("j-1ABC", [build_step("ingest", [], code_uri=CODE)], region=None)
