"""`featurespark emr add-steps --wait`, step concurrency for streams, and `featurespark emr-serverless submit`,
against moto's EMR, EMR Serverless and S3 APIs (moto does not run steps: the tests move a step's state in
moto's backend, where a cluster would, from the waiter's sleep)."""
from __future__ import annotations

import argparse
import gzip
import json
import time
from types import SimpleNamespace
from typing import Any, Iterator, Sequence

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.emr.models import emr_backends

import featurespark.emr.wait as wait_module
from featurespark.emr import EmrError, StepConcurrencyError, add_emr_subcommand, run_emr_command, wait_for_steps
from featurespark.errors import InvalidArgumentError

REGION = "eu-west-1"
CODE = "s3://my-bucket/featurespark/jobs/"
LOGS = "s3://my-bucket/featurespark/logs/"
CONFIG = ["--config", "s3://my-bucket/featurespark/conf/emr.yaml"]
KAFKA = "s3://my-bucket/featurespark/jars/spark-sql-kafka-0-10_2.12-3.5.7.jar"


def run(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="featurespark")
    add_emr_subcommand(parser.add_subparsers(dest="command", required=True))
    return run_emr_command(parser.parse_args(list(argv)))


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket="my-bucket", CreateBucketConfiguration={"LocationConstraint": REGION})
        yield


def cluster(concurrency: int = 1) -> str:
    return str(boto3.client("emr", region_name=REGION).run_job_flow(
        Name="fs", ReleaseLabel="emr-7.12.0", Applications=[{"Name": "Spark"}], LogUri="s3n://my-bucket/featurespark/logs/",
        Instances={"MasterInstanceType": "m5.xlarge", "SlaveInstanceType": "m5.xlarge", "InstanceCount": 2,
                   "KeepJobFlowAliveWhenNoSteps": True},
        JobFlowRole="featurespark-emr-ec2", ServiceRole="EMR_DefaultRole_V2", StepConcurrencyLevel=concurrency,
    )["JobFlowId"])


def fake_time(sleep: Any) -> SimpleNamespace:
    # Only the waiter's clock: patching time.sleep itself would also drive the sleeps of other threads.
    return SimpleNamespace(sleep=sleep, monotonic=time.monotonic)


class Cluster:
    """Plays the cluster: each sleep of the waiter moves the steps one state on."""

    def __init__(self, cluster_id: str, final: str) -> None:
        self.steps = emr_backends[DEFAULT_ACCOUNT_ID][REGION].clusters[cluster_id].steps
        self.final = final
        self.sleeps = 0

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        for step in self.steps:
            step.state = {"PENDING": "RUNNING", "RUNNING": self.final}.get(step.state, step.state)


def test_wait_reports_each_state_and_a_completed_step_exits_0(aws: None, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    cluster_id = cluster()
    play = Cluster(cluster_id, "COMPLETED")
    monkeypatch.setattr(wait_module, "time", fake_time(play.sleep))
    assert run(["emr", "add-steps", "--cluster-id", cluster_id, "--region", REGION, "--job", "materialize",
                "--code-uri", CODE, "--wait", "--poll-seconds", "5", "--", *CONFIG, "--incremental",
                "--end", "2026-01-02T00:00:00"]) == 0
    out = capsys.readouterr().out.splitlines()
    step_id = out[0]
    assert out[1:] == [f"{step_id} (featurespark materialize): RUNNING",
                       f"{step_id} (featurespark materialize): COMPLETED"]
    assert play.sleeps == 1


def test_a_failed_step_prints_its_log_folder_and_the_tail_of_stderr(aws: None, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    cluster_id = cluster()
    play = Cluster(cluster_id, "FAILED")
    s3 = boto3.client("s3", region_name=REGION)
    original_sleep = play.sleep

    def sleep_and_upload_logs(seconds: float) -> None:
        original_sleep(seconds)
        step_id = play.steps[0].id
        stderr = "\n".join([f"line {i}" for i in range(100)] + ["featurespark.errors.ConfigError: bad key"])
        s3.put_object(Bucket="my-bucket", Key=f"featurespark/logs/{cluster_id}/steps/{step_id}/stderr.gz",
                      Body=gzip.compress(stderr.encode()))

    monkeypatch.setattr(wait_module, "time", fake_time(sleep_and_upload_logs))
    assert run(["emr", "add-steps", "--cluster-id", cluster_id, "--region", REGION, "--job", "ingest",
                "--code-uri", CODE, "--wait", "--", *CONFIG]) == 1
    captured = capsys.readouterr()
    step_id = captured.out.splitlines()[0]
    assert f"{step_id} (featurespark ingest): FAILED" in captured.out
    assert f"logs: s3://my-bucket/featurespark/logs/{cluster_id}/steps/{step_id}/ (controller.gz" in captured.err
    tail = captured.err.split("last lines of stderr:\n", 1)[1].splitlines()
    assert len(tail) == wait_module.STDERR_TAIL_LINES
    assert tail[-1] == "    featurespark.errors.ConfigError: bad key" and tail[0] == "    line 61"


def test_logs_not_yet_on_s3_say_how_to_read_them_later(aws: None) -> None:
    cluster_id = cluster()
    client = boto3.client("emr", region_name=REGION)
    (step_id,) = client.add_job_flow_steps(JobFlowId=cluster_id, Steps=[{
        "Name": "x", "ActionOnFailure": "CONTINUE",
        "HadoopJarStep": {"Jar": "command-runner.jar", "Args": ["true"]}}])["StepIds"]
    play = Cluster(cluster_id, "CANCELLED")
    lines: list[str] = []
    (outcome,) = wait_for_steps(cluster_id, [step_id], client=client, report=lines.append, sleep=play.sleep)
    assert outcome.state == "CANCELLED" and not outcome.succeeded and outcome.stderr_tail is None
    assert lines == [f"{step_id} (x): RUNNING", f"{step_id} (x): CANCELLED"]
    assert (f"stderr is not on S3 yet (EMR copies step logs within about five minutes): aws s3 cp "
            f"s3://my-bucket/featurespark/logs/{cluster_id}/steps/{step_id}/stderr.gz - | gunzip | tail -n 40"
            ) in outcome.describe()


def test_waiting_gives_up_after_the_timeout(aws: None) -> None:
    cluster_id = cluster()
    client = boto3.client("emr", region_name=REGION)
    (step_id,) = client.add_job_flow_steps(JobFlowId=cluster_id, Steps=[{
        "Name": "x", "ActionOnFailure": "CONTINUE", "HadoopJarStep": {"Jar": "command-runner.jar", "Args": ["x"]}}])[
        "StepIds"]
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(EmrError, match=f"Stopped waiting after 60s; still running on {cluster_id}: {step_id} "
                                        "RUNNING"):
        wait_for_steps(cluster_id, [step_id], client=client, poll_seconds=30, timeout_seconds=60, sleep=sleep,
                       clock=lambda: now[0])


def test_a_stream_is_refused_on_a_cluster_that_runs_one_step_at_a_time(aws: None) -> None:
    cluster_id = cluster(concurrency=1)
    argv = ["emr", "add-steps", "--cluster-id", cluster_id, "--region", REGION, "--job", "stream-features",
            "--code-uri", CODE, "--jars", KAFKA, "--", *CONFIG, "--topic", "trips"]
    with pytest.raises(StepConcurrencyError) as info:
        run(argv)
    assert (f"`aws emr modify-cluster --cluster-id {cluster_id} --step-concurrency-level 5 --region {REGION}`, "
            "or pass --step-concurrency 5") in str(info.value)
    client = boto3.client("emr", region_name=REGION)
    assert client.list_steps(ClusterId=cluster_id)["Steps"] == []

    assert run([*argv[:4], "--step-concurrency", "4", *argv[4:]]) == 0
    assert client.describe_cluster(ClusterId=cluster_id)["Cluster"]["StepConcurrencyLevel"] == 4
    (step,) = client.list_steps(ClusterId=cluster_id)["Steps"]
    args = step["Config"]["Args"]
    assert args[args.index("--jars") + 1] == f"/usr/share/aws/delta/lib/delta-storage-s3-dynamodb.jar,{KAFKA}"


def test_batch_jobs_do_not_care_about_step_concurrency(aws: None) -> None:
    cluster_id = cluster(concurrency=1)
    assert run(["emr", "add-steps", "--cluster-id", cluster_id, "--region", REGION, "--job", "ingest",
                "--code-uri", CODE, "--", *CONFIG]) == 0
    with pytest.raises(InvalidArgumentError, match="The step concurrency to raise to must be 2 to 256; got 1"):
        run(["emr", "add-steps", "--cluster-id", cluster_id, "--region", REGION, "--job", "stream-features",
             "--code-uri", CODE, "--jars", KAFKA, "--step-concurrency", "1", "--", *CONFIG])


SERVERLESS = ["emr-serverless", "submit", "--execution-role-arn", "arn:aws:iam::123456789012:role/featurespark-job",
              "--job", "build-training-set", "--code-uri", CODE, "--region", REGION,
              "--environment-uri", "s3://my-bucket/featurespark/dist/featurespark-venv.tar.gz", "--log-uri", LOGS]


def test_serverless_dry_run_shows_the_environment_and_delta(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([*SERVERLESS, "--application-id", "00fabcd1234567", "--dry-run", "--", *CONFIG]) == 0
    request = json.loads(capsys.readouterr().out)
    driver = request["jobDriver"]["sparkSubmit"]
    assert driver["entryPoint"] == "s3://my-bucket/featurespark/jobs/build_training_set.py"
    assert driver["entryPointArguments"] == CONFIG
    params = driver["sparkSubmitParameters"].split(" ")
    confs = dict(p.split("=", 1) for p in params if p != "--conf")
    assert confs["spark.archives"] == "s3://my-bucket/featurespark/dist/featurespark-venv.tar.gz#environment"
    assert confs["spark.emr-serverless.driverEnv.PYSPARK_PYTHON"] == "./environment/bin/python"
    assert confs["spark.executorEnv.PYSPARK_PYTHON"] == "./environment/bin/python"
    assert confs["spark.emr-serverless.driverEnv.AWS_REGION"] == REGION
    assert confs["spark.jars"].split(",") == ["/usr/share/aws/delta/lib/delta-spark.jar",
                                             "/usr/share/aws/delta/lib/delta-storage.jar",
                                             "/usr/share/aws/delta/lib/delta-storage-s3-dynamodb.jar"]
    assert request["configurationOverrides"]["monitoringConfiguration"]["s3MonitoringConfiguration"] == {
        "logUri": LOGS}
    assert "clientToken" not in request


def test_serverless_submit_and_wait_against_moto(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    client = boto3.client("emr-serverless", region_name=REGION)
    app = client.create_application(name="featurespark", releaseLabel="emr-7.12.0", type="SPARK")["applicationId"]
    assert run([*SERVERLESS, "--application-id", app, "--wait", "--poll-seconds", "0", "--", *CONFIG]) == 0
    out = capsys.readouterr().out.splitlines()
    run_id = out[0]
    assert out[-1] == f"{run_id} (featurespark build-training-set): SUCCESS"
    job_run = client.get_job_run(applicationId=app, jobRunId=run_id)["jobRun"]
    assert job_run["executionRole"] == "arn:aws:iam::123456789012:role/featurespark-job"
    assert job_run["jobDriver"]["sparkSubmit"]["entryPointArguments"] == CONFIG


@pytest.mark.parametrize(("extra", "message"), [
    (["--application-id", "APP-1"], "'APP-1' is not an EMR Serverless application id"),
    (["--application-id", "00fabc", "--job", "stream-features"], "The stream-features job reads Kafka"),
])
def test_serverless_argument_errors(extra: list[str], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        run([*SERVERLESS, *extra, "--dry-run", "--", *CONFIG])


def test_serverless_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        run(["emr-serverless", "submit", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: featurespark emr-serverless submit")
    for option in ("--application-id", "--execution-role-arn", "--environment-uri", "--wait", "--dry-run"):
        assert option in out
