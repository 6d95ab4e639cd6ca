"""docs/emr.md: its IAM policies cover the calls the code makes, and its featurespark commands run (as dry runs)."""
from __future__ import annotations

import argparse
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from featurespark.config import load_config
from featurespark.emr import add_emr_subcommand, run_emr_command

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "emr.md").read_text()
VARIABLES = {
    "$BUCKET": "featurespark-123456789012-eu-west-1", "$REGION": "eu-west-1", "$ACCOUNT": "123456789012",
    "$CLUSTER_ID": "j-2AXXXXXXGAPLF", "$APP_ID": "00fabcd1234567", "$MSK_BROKERS": "b-1.msk:9092",
    "$CODE": "s3://featurespark-123456789012-eu-west-1/featurespark/jobs/",
    "$CONF": "s3://featurespark-123456789012-eu-west-1/featurespark/conf/emr.yaml",
    "$JARS": "s3://featurespark-123456789012-eu-west-1/featurespark/jars/spark-sql-kafka-0-10_2.12-3.5.7.jar",
}


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.S)


def policy(sid_in_it: str) -> dict[str, Any]:
    (found,) = [json.loads(b) for b in blocks("json") if f'"Sid": "{sid_in_it}"' in b]
    return found


def actions(doc: dict[str, Any], sid: str) -> set[str]:
    (statement,) = [s for s in doc["Statement"] if s["Sid"] == sid]
    return set([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])


def test_the_instance_policy_covers_the_calls_of_the_online_store_log_store_and_glue() -> None:
    ec2 = policy("OnlineStoreTables")
    # featurespark/online: table management on apply, writes from executors, lookups.
    assert actions(ec2, "OnlineStoreTables") == {
        "dynamodb:CreateTable", "dynamodb:DescribeTable", "dynamodb:TagResource", "dynamodb:UpdateTimeToLive",
        "dynamodb:DescribeTimeToLive", "dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:BatchGetItem"}
    # featurespark.log_store.ensure_log_store_table and S3DynamoDBLogStore's commits.
    assert actions(ec2, "DeltaLogStoreTable") == {"dynamodb:CreateTable", "dynamodb:DescribeTable",
                                                 "dynamodb:UpdateTimeToLive", "dynamodb:GetItem",
                                                 "dynamodb:PutItem", "dynamodb:Query"}
    assert "glue:CreateDatabase" in actions(ec2, "GlueFeatureTables")
    assert "s3:GetObject" in actions(ec2, "ReadCodeConfigAndInput")  # the config and the wheelhouse


def test_the_submitter_policy_covers_the_emr_commands() -> None:
    submitter = policy("StepsOnFeaturesparkClusters")
    assert actions(submitter, "StepsOnFeaturesparkClusters") == {
        "elasticmapreduce:DescribeCluster", "elasticmapreduce:AddJobFlowSteps", "elasticmapreduce:DescribeStep",
        "elasticmapreduce:ModifyCluster"}
    assert actions(submitter, "ServerlessJobRuns") == {"emr-serverless:StartJobRun", "emr-serverless:GetJobRun"}


def test_roles_are_named_as_aws_names_them_now() -> None:
    assert "--service-role EMR_DefaultRole_V2" in DOC and "AmazonEMRServicePolicy_v2" in DOC
    assert "--service-role EMR_DefaultRole " not in DOC


def featurespark_commands() -> list[list[str]]:
    commands = []
    for block in blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            if line.startswith("featurespark emr"):
                for name, value in VARIABLES.items():
                    line = line.replace(name, value)
                commands.append(shlex.split(line)[1:])
    return commands


def test_docs_show_add_steps_and_serverless_commands() -> None:
    jobs = [c[c.index("--job") + 1] for c in featurespark_commands()]
    assert {"ingest", "build-training-set", "materialize", "stream-features"} <= set(jobs)
    assert any(c[0] == "emr-serverless" for c in featurespark_commands())


@pytest.mark.parametrize("argv", featurespark_commands(), ids=lambda a: f"{a[0]}-{a[a.index('--job') + 1]}")
def test_every_featurespark_emr_command_of_the_docs_runs(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="featurespark")
    add_emr_subcommand(parser.add_subparsers(dest="command", required=True))
    assert run_emr_command(parser.parse_args([*argv[:split], "--dry-run", *argv[split:]])) == 0
    request = json.loads(capsys.readouterr().out)
    assert "s3://featurespark-123456789012-eu-west-1/featurespark/conf/emr.yaml" in json.dumps(request)


def test_the_config_step_of_the_docs_gives_a_valid_config(tmp_path: Path) -> None:
    # sed -e "s/\${FEATURESPARK_BUCKET}/$BUCKET/" conf/emr.yaml > emr.yaml
    assert 'sed -e "s/\\${FEATURESPARK_BUCKET}/$BUCKET/" conf/emr.yaml > emr.yaml' in DOC
    text = (ROOT / "conf" / "emr.yaml").read_text().replace("${FEATURESPARK_BUCKET}", VARIABLES["$BUCKET"])
    (tmp_path / "emr.yaml").write_text(text)
    config = load_config(tmp_path / "emr.yaml", env={})
    assert config.offline_store.root == f"s3://{VARIABLES['$BUCKET']}/featurespark/offline"
    assert config.offline_store.uses_s3_log_store and config.online_store.region is None
