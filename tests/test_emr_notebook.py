"""notebooks/emr_quickstart.ipynb: its %%configure ships the packed virtualenv from S3, and its Python cells run
against a local session with S3 on the local endpoint (moto server) and a local DynamoDB endpoint (moto server).

The %%configure magic belongs to sparkmagic/Livy on EMR; here the session it would start is built by a cell
the test puts first (what the cluster gives), and the bucket of the parameter cell is pointed at the local one.
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import nbformat
import pytest
from dynamodb_local import DUMMY_AWS_ENV, DynamoDBLocal, aws_env, spark_aws_env  # noqa: F401 - fixtures
from helpers import quick_start_jvm
from nbclient import NotebookClient
from pyspark.sql import SparkSession
from moto.server import ThreadedMotoServer
from s3_endpoint import DUMMY_KEY, S3Endpoint, free_port

from featurespark import Entity, FeatureStore, FeatureView, Field, ParquetSource
from featurespark.config import parse_config
from featurespark.emr.serverless import build_job_run
from featurespark.session import default_jars_dir

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "emr_quickstart.ipynb"
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def read() -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK, as_version=4)


def configure_json(notebook: nbformat.NotebookNode) -> dict[str, str]:
    first = next(c for c in notebook.cells if c.cell_type == "code")
    magic, _, body = first.source.partition("\n")
    assert magic == "%%configure -f", "the first code cell must start the session with %%configure -f"
    conf: dict[str, str] = json.loads(body)["conf"]
    return conf


def test_configure_ships_the_packed_environment_from_s3_like_emr_serverless() -> None:
    conf = configure_json(read())
    assert conf["spark.archives"].startswith("s3://") and conf["spark.archives"].endswith(
        "/featurespark/dist/featurespark-venv.tar.gz#environment")
    python = "./environment/bin/python"
    for key in ("spark.yarn.appMasterEnv.PYSPARK_PYTHON", "spark.yarn.appMasterEnv.PYSPARK_DRIVER_PYTHON",
                "spark.executorEnv.PYSPARK_PYTHON"):
        assert conf[key] == python
    # The same Delta settings as an EMR Serverless job run of featurespark.
    serverless = build_job_run("ingest", [], application_id="00f", execution_role_arn="arn:aws:iam::123456789012:"
                               "role/x", code_uri="s3://my-bucket/jobs/",
                               environment_uri="s3://my-bucket/v.tar.gz")
    params = serverless["jobDriver"]["sparkSubmit"]["sparkSubmitParameters"]
    for key in ("spark.sql.extensions", "spark.sql.catalog.spark_catalog", "spark.submit.pyFiles"):
        assert f"--conf {key}={conf[key]}" in params
    assert conf["spark.jars"] in params


@pytest.fixture
def s3(spark: SparkSession) -> Iterator[S3Endpoint]:
    """An S3 endpoint of this test's own, with a bucket of its own (the s3a settings are per bucket).

    Not the session's `s3` fixture: moto servers share moto's in-memory state, which every later
    `mock_aws()` block of the suite resets, so a bucket made this early would vanish under later tests.
    """
    import boto3

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = S3Endpoint(f"http://127.0.0.1:{port}", "featurespark-emr-notebook", server)
    boto3.client("s3", endpoint_url=endpoint.url, region_name="us-east-1", aws_access_key_id=DUMMY_KEY,
                 aws_secret_access_key=DUMMY_KEY).create_bucket(Bucket=endpoint.bucket)
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()  # type: ignore[union-attr]
    settings = {k.replace("spark.hadoop.", "", 1): v for k, v in _cluster_conf(endpoint).items()
                if k.startswith(f"spark.hadoop.fs.s3a.bucket.{endpoint.bucket}.")}
    for key, value in settings.items():
        hadoop.set(key, value)
    yield endpoint
    for key in settings:
        hadoop.unset(key)
    server.stop()


@pytest.mark.compat_run_only
def test_the_python_cells_read_everything_from_s3(spark: SparkSession, s3: S3Endpoint, dynamodb_local: DynamoDBLocal,
                                                   spark_aws_env: None, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    # What `featurespark apply`, the ingest and the materialize steps left on S3 and in DynamoDB.
    prefix = "emr-notebook"
    root = s3.uri(prefix, "featurespark")  # the layout of docs/emr.md under a folder of the local bucket
    config_text = (f"project:\n  name: emrnb\noffline_store:\n  root: {root}/offline\n  database: emrnb\n"
                   "  log_store:\n    enabled: false\n"
                   f"online_store:\n  region: us-east-1\n  endpoint_url: {dynamodb_local.endpoint_url}\n")
    config = parse_config({"project": {"name": "emrnb"},
                           "offline_store": {"root": f"{root}/offline", "database": "emrnb",
                                             "log_store": {"enabled": False}},
                           "online_store": {"region": "us-east-1", "endpoint_url": dynamodb_local.endpoint_url}})
    driver = Entity("driver", join_keys={"driver_id": "int64"})
    view = FeatureView(name="driver_stats", entities=[driver],
                       schema=[Field("conv_rate", "float64"), Field("trips", "int64")],
                       source=ParquetSource(path=f"{root}/input/driver_stats/", timestamp_field="event_timestamp"),
                       ttl=None, online=True)  # items written for 2026-01-01 never expire online
    rows = [(d, T0 + timedelta(hours=h), 0.1 * h, h + d % 3) for d in (1001, 1002) for h in range(4)]
    spark.createDataFrame(rows, "driver_id long, event_timestamp timestamp, conv_rate double, trips long") \
        .write.mode("overwrite").parquet(f"{root}/input/driver_stats/")
    spark.createDataFrame([(1001, T0 + timedelta(hours=2, minutes=5)), (1002, T0 + timedelta(hours=9))],
                          "driver_id long, event_timestamp timestamp") \
        .write.mode("overwrite").parquet(f"{root}/input/entity_rows/")
    store = FeatureStore(spark, config)
    store.apply([driver, view])
    store.materialize(T0, T0 + timedelta(days=1))
    boto3.client("s3", endpoint_url=s3.url, region_name="us-east-1", aws_access_key_id=DUMMY_KEY,
                 aws_secret_access_key=DUMMY_KEY).put_object(
        Bucket=s3.bucket, Key=f"{prefix}/featurespark/conf/emr.yaml", Body=config_text.encode())

    notebook = read()
    code = [c for c in notebook.cells if c.cell_type == "code"]
    configure, parameters = code[0], code[1]
    notebook.cells = [c for c in notebook.cells if c is not configure]
    # The notebook's layout is s3://BUCKET/featurespark/...; here BUCKET is a folder of the local bucket.
    assert 'BUCKET = "my-bucket"' in parameters.source
    parameters.source = parameters.source.replace('BUCKET = "my-bucket"', f'BUCKET = "{s3.bucket}/{prefix}"')
    session = nbformat.v4.new_code_cell(
        "from pyspark.sql import SparkSession\n"
        "from featurespark.session import configure_spark, use_this_python_for_workers\n"
        "use_this_python_for_workers()\n"
        "builder = SparkSession.builder.master('local[2]').appName('emr-notebook')\n"
        f"spark = configure_spark(builder, jars_dir={str(default_jars_dir())!r}, "
        f"metastore_dir={str(tmp_path / 'metastore')!r}, extra_conf={_cluster_conf(s3)!r}).getOrCreate()\n")
    notebook.cells.insert(0, session)

    kernel_jvm = quick_start_jvm(os.environ)["JAVA_TOOL_OPTIONS"]  # the kernel's session (tests/helpers.py)
    for name, value in {**DUMMY_AWS_ENV, "AWS_ENDPOINT_URL_S3": s3.url, "TZ": "UTC",
                        "JAVA_TOOL_OPTIONS": kernel_jvm}.items():
        monkeypatch.setenv(name, value)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = {i: cell.get("outputs", []) for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"}
    assert not [o for cell in outputs.values() for o in cell if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for cell in outputs.values() for o in cell if o.get("output_type") == "stream")
    assert "driver_stats ['conv_rate', 'trips'] online" in text
    table = text.replace(" ", "")
    assert "|1001|2026-01-0102:05:00|0.2|4|" in table  # as of 02:05: the 02:00 row
    assert "|1002|2026-01-0109:00:00|0.30000000000000004|3|" in table  # the 03:00 row: the latest before 09:00
    last = outputs[max(outputs)][-1]["data"]["text/plain"]
    assert "'driver_id': [1001, 1002]" in last and "'trips': [5, 3]" in last  # the latest rows, from DynamoDB


def _cluster_conf(s3: S3Endpoint) -> dict[str, str]:
    """What EMRFS and the cluster's settings give a session: s3:// and s3a:// on the local endpoint."""
    prefix = f"spark.hadoop.fs.s3a.bucket.{s3.bucket}."
    return {
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "2",
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        prefix + "endpoint": s3.url,
        prefix + "endpoint.region": "us-east-1",
        prefix + "path.style.access": "true",
        prefix + "connection.ssl.enabled": "false",
        prefix + "access.key": DUMMY_KEY,
        prefix + "secret.key": DUMMY_KEY,
        prefix + "aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
    }
