"""The `featurespark emr add-steps` command, on a parser of its own (as the top-level CLI wires it)."""
from __future__ import annotations

import argparse
import json
from typing import Any, Iterator, NoReturn, Sequence

import boto3
import pytest
from moto import mock_aws

from featurespark.emr import ClusterUnavailableError, add_emr_subcommand, run_emr_command
from featurespark.errors import InvalidArgumentError

REGION = "us-east-1"
BASE = ["emr", "add-steps", "--job", "build-training-set", "--code-uri", "s3://my-bucket/featurespark/jobs/"]
JOB_ARGS = ["--config", "emr.yaml", "--entities", "s3://my-bucket/entities/", "--features",
            "driver_stats:conv_rate", "--output", "s3://my-bucket/training/ts1", "--format", "parquet"]


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="featurespark")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_emr_subcommand(sub)
    return parser.parse_args(list(argv))


def run(argv: Sequence[str]) -> int:
    return run_emr_command(parse(argv))


@pytest.fixture
def emr(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SECURITY_TOKEN": "testing", "AWS_SESSION_TOKEN": "testing",
                        "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield boto3.session.Session().client("emr", region_name=REGION)


@pytest.mark.parametrize(("argv", "usage"), [(["emr", "--help"], "usage: featurespark emr "),
                                             (["emr", "add-steps", "--help"], "usage: featurespark emr add-steps")])
def test_help(argv: list[str], usage: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse(argv)
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(usage)
    if "add-steps" in argv:
        for option in ("--cluster-id", "--job", "--code-uri", "--region", "--dry-run", "--files", "--conf"):
            assert option in out
        assert "build-training-set,ingest,materialize" in out


def test_dry_run_prints_the_request_and_calls_nothing(capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def no_calls(*args: Any, **kwargs: Any) -> NoReturn:
        raise AssertionError("--dry-run must not call AWS")

    monkeypatch.setattr(boto3, "client", no_calls)
    monkeypatch.setattr(boto3.session.Session, "client", no_calls)
    monkeypatch.setattr("featurespark.emr.cli.add_steps", no_calls)
    argv = [*BASE, "--cluster-id", "j-2AXXXXXXGAPLF", "--files", "s3://my-bucket/featurespark/conf/emr.yaml",
            "--conf", "spark.yarn.appMasterEnv.FEATURESPARK_BUCKET=my-bucket",
            "--py-files", "s3://my-bucket/dist/featurespark-0.1.0.zip", "--dry-run", "--", *JOB_ARGS]
    assert run(argv) == 0
    request = json.loads(capsys.readouterr().out)
    assert request == {
        "JobFlowId": "j-2AXXXXXXGAPLF",
        "Steps": [{
            "Name": "featurespark build-training-set",
            "ActionOnFailure": "CONTINUE",
            "HadoopJarStep": {"Jar": "command-runner.jar", "Args": [
                "spark-submit", "--deploy-mode", "cluster",
                "--py-files", "/usr/share/aws/delta/lib/delta-spark.jar,s3://my-bucket/dist/featurespark-0.1.0.zip",
                "--files", "s3://my-bucket/featurespark/conf/emr.yaml",
                "--conf", "spark.yarn.appMasterEnv.FEATURESPARK_BUCKET=my-bucket",
                "s3://my-bucket/featurespark/jobs/build_training_set.py", *JOB_ARGS,
            ]},
        }],
    }


def test_job_args_may_look_like_options_of_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    # After `--`, even `--dry-run` and `--job` belong to the job script.
    assert run([*BASE, "--cluster-id", "j-1ABC", "--delta-py-file", "", "--dry-run", "--",
                "--job", "x", "--dry-run"]) == 0
    args = json.loads(capsys.readouterr().out)["Steps"][0]["HadoopJarStep"]["Args"]
    assert args == ["spark-submit", "--deploy-mode", "cluster",
                    "s3://my-bucket/featurespark/jobs/build_training_set.py", "--job", "x", "--dry-run"]


def test_add_steps_submits_to_the_cluster(emr: Any, capsys: pytest.CaptureFixture[str]) -> None:
    cluster_id = emr.run_job_flow(
        Name="fs", ReleaseLabel="emr-7.5.0", Applications=[{"Name": "Spark"}],
        Instances={"MasterInstanceType": "m5.xlarge", "SlaveInstanceType": "m5.xlarge", "InstanceCount": 2,
                   "KeepJobFlowAliveWhenNoSteps": True},
        JobFlowRole="EMR_EC2_DefaultRole", ServiceRole="EMR_DefaultRole",
    )["JobFlowId"]
    assert run([*BASE, "--cluster-id", cluster_id, "--region", REGION, "--name", "training set 1",
                "--", *JOB_ARGS]) == 0
    captured = capsys.readouterr()
    step_id = captured.out.strip()
    assert step_id.startswith("s-") and "\n" not in step_id
    assert f"aws emr describe-step --cluster-id {cluster_id} --step-id {step_id} --region {REGION}" in captured.err
    step = emr.describe_step(ClusterId=cluster_id, StepId=step_id)["Step"]
    assert step["Name"] == "training set 1"
    assert step["Config"]["Args"][-len(JOB_ARGS) - 1:] == [
        "s3://my-bucket/featurespark/jobs/build_training_set.py", *JOB_ARGS]


def test_unknown_cluster(emr: Any) -> None:
    with pytest.raises(ClusterUnavailableError, match="EMR cluster j-NOSUCHCLUSTER was not found in region "
                                                      "us-east-1"):
        run([*BASE, "--cluster-id", "j-NOSUCHCLUSTER", "--", *JOB_ARGS])


def test_bad_job_name_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse(["emr", "add-steps", "--cluster-id", "j-1ABC", "--job", "train", "--code-uri", "s3://my-bucket/j/"])
    assert info.value.code == 2
    assert ("argument --job: invalid choice: 'train' (choose from 'build-training-set', 'ingest', "
            "'materialize', 'stream-features')") in capsys.readouterr().err


def test_missing_cluster_id_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse([*BASE, "--dry-run"])
    assert info.value.code == 2
    assert "the following arguments are required: --cluster-id" in capsys.readouterr().err


def test_malformed_conf_and_code_uri() -> None:
    with pytest.raises(InvalidArgumentError, match="--conf expects KEY=VALUE, e.g. "
                                                   "spark.sql.shuffle.partitions=400; got 'spark.executor.cores'"):
        run([*BASE, "--cluster-id", "j-1ABC", "--conf", "spark.executor.cores", "--dry-run"])
    with pytest.raises(InvalidArgumentError, match="code_uri must be the s3:// URI"):
        run(["emr", "add-steps", "--cluster-id", "j-1ABC", "--job", "ingest", "--code-uri", "jobs/", "--dry-run"])
