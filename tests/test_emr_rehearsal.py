"""The EMR dress rehearsal: featurespark deployed and run as docs/emr.md says, on Python 3.9 with EMR 7.12's
Spark 3.5.6 and Delta 3.3.2, with S3 on a local endpoint (moto server) and a local DynamoDB endpoint (moto server).

1. ``bootstrap/package.sh --upload`` builds the wheelhouse and uploads it, the jobs and the bootstrap action
   with the aws CLI;
2. the bootstrap action, downloaded from S3 like EMR does, makes the node's virtualenv from the wheelhouse
   only (``pip --no-index``);
3. a local "cluster" configuration is made from ``bootstrap/emr-configurations.json`` (EMR-only paths
   replaced by local jars, S3 pointed at the local endpoint: what EMRFS and the cluster's classpath give);
4. ``featurespark apply`` runs from the virtualenv with the config on S3 (as on the primary node);
5. the step arguments of ``build-training-set`` and ``materialize`` are taken exactly as
   ``featurespark emr add-steps --dry-run`` prints them and run (``spark-submit`` with a local master,
   client deploy mode: cluster mode needs YARN).

It must write the training set, its manifest and the online items. It runs in the compatibility run
(bootstrap/run-compat-tests.sh), the environment that matches EMR.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pyspark
import pytest
from dynamodb_local import DUMMY_AWS_ENV, DynamoDBLocal
from helpers import quick_start_jvm
from moto.server import ThreadedMotoServer
from s3_endpoint import free_port

from featurespark._compat import PYSPARK_VERSION

pytestmark = pytest.mark.skipif(
    PYSPARK_VERSION >= (4, 0) or sys.version_info[:2] != (3, 9),
    reason="the EMR dress rehearsal runs in the compatibility run (Python 3.9, Spark 3.5.6, Delta 3.3.2), "
           "bash bootstrap/run-compat-tests.sh; this environment is not EMR's",
)

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "featurespark-rehearsal"
PREFIX = f"s3://{BUCKET}/featurespark"
JARS = ROOT / ".jars-spark35"
# Yesterday at midnight UTC: the view's 2-day TTL gives items an expire_at in the future (a DynamoDB
# endpoint may delete expired items, as DynamoDB does), and the materialize window below ends before now.
T0 = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
DRIVERS = [1001, 1002, 1003]

DEFINITIONS = f'''
from datetime import timedelta
from featurespark import Entity, FeatureView, Field, ParquetSource

driver = Entity("driver", join_keys={{"driver_id": "int64"}})
driver_stats = FeatureView(
    name="driver_stats", entities=[driver],
    schema=[Field("conv_rate", "float64"), Field("trips", "int64")],
    source=ParquetSource(path="{PREFIX}/input/driver_stats/", timestamp_field="event_timestamp"),
    ttl=timedelta(days=2), online=True,
)
'''

CONFIG = """
project:
  name: rehearsal
offline_store:
  root: {prefix}/offline
  database: rehearsal
  # Delta's DynamoDB log store jar is not served by the Maven mirror here; EMR ships it (docs/emr.md).
  log_store:
    enabled: false
online_store:
  region: us-east-1
  endpoint_url: {dynamodb}
  table_name_template: "featurespark.{{project}}.{{view}}"
"""


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False, coerce_timestamps="us")  # Spark 3.5 reads no nanoseconds
    return buffer.getvalue()


def _run(argv: list[str], env: dict[str, str], what: str, timeout: int = 600) -> str:
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, cwd=str(ROOT))
    assert result.returncode == 0, f"{what} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    return result.stdout


def _cluster_conf(folder: Path, venv: Path, s3_url: str, metastore: Path) -> dict[str, str]:
    """spark-defaults.conf and spark-env.sh of the local "cluster", from bootstrap/emr-configurations.json."""
    configurations = json.loads((ROOT / "bootstrap" / "emr-configurations.json").read_text())
    by_name = {c["Classification"]: c for c in configurations}
    defaults = dict(by_name["spark-defaults"]["Properties"])
    # EMR-only: its jar paths and the log store (no jar here) make way for local equivalents.
    for key in ("spark.jars", "spark.submit.pyFiles", "spark.yarn.appMasterEnv.PYSPARK_PYTHON"):
        defaults.pop(key)
    for key in [k for k in defaults if "logStore" in k or "S3DynamoDBLogStore" in k]:
        defaults.pop(key)
    delta = [str(j) for j in sorted(JARS.glob("delta-*.jar"))]
    s3a = [str(j) for j in sorted(JARS.glob("hadoop-aws-*.jar")) + sorted(JARS.glob("aws-java-sdk-bundle-*.jar"))]
    defaults.update({
        "spark.master": "local[2]",
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "4",
        "spark.jars": ",".join(delta),
        "spark.submit.pyFiles": next(j for j in delta if "delta-spark_" in j),
        # What EMRFS gives a cluster: s3:// on the classpath from the start (spark-submit downloads the job
        # script before the application's jars are loaded).
        "spark.driver.extraClassPath": ":".join(s3a),
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.endpoint": s3_url,
        "spark.hadoop.fs.s3a.endpoint.region": "us-east-1",
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
        "spark.hadoop.fs.s3a.aws.credentials.provider": "com.amazonaws.auth.EnvironmentVariableCredentialsProvider",
        # The cluster's metastore (Glue on EMR): an embedded Derby database shared by the runs, one at a time.
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": str(metastore / "warehouse"),
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={metastore / 'db'};create=true",
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={metastore}",
    })
    folder.mkdir(parents=True)
    (folder / "spark-defaults.conf").write_text("".join(f"{k} {v}\n" for k, v in defaults.items()))
    (export,) = [c for c in by_name["spark-env"]["Configurations"] if c["Classification"] == "export"]
    env = {k: v.replace("/opt/featurespark/venv", str(venv)) for k, v in export["Properties"].items()}
    assert env["PYSPARK_PYTHON"] == str(venv / "bin" / "python")
    return env


@pytest.mark.slow
def test_emr_dress_rehearsal(tmp_path: Path, dynamodb_local: DynamoDBLocal) -> None:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        _rehearse(tmp_path, dynamodb_local, f"http://127.0.0.1:{port}")
    finally:
        server.stop()


def _rehearse(tmp: Path, dynamodb: DynamoDBLocal, s3_url: str) -> None:
    bin_dir = Path(sys.executable).parent  # spark-submit, aws (the CLI EMR nodes have)
    # A node has none of this machine's settings: no AWS/Spark/featurespark variables, and no PYTHONPATH (one
    # naming a checkout would make the node's pip see that checkout's featurespark as installed).
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "SPARK_", "PYSPARK_", "FEATURESPARK_")) and k != "PYTHONPATH"}
    env.update(DUMMY_AWS_ENV)
    env.update({"AWS_ENDPOINT_URL_S3": s3_url, "AWS_EC2_METADATA_DISABLED": "true", "TZ": "UTC",
                "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}"})
    env = quick_start_jvm(env)  # the apply and the two steps are short-lived JVMs (tests/helpers.py)
    s3 = boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1",
                      aws_access_key_id=DUMMY_AWS_ENV["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=DUMMY_AWS_ENV["AWS_SECRET_ACCESS_KEY"])
    s3.create_bucket(Bucket=BUCKET)

    # 1. Build and upload, as docs/emr.md does.
    out = _run(["bash", "bootstrap/package.sh", "--dist", str(tmp / "dist"), "--no-jars", "--upload", PREFIX],
               {**env, "PYTHON": sys.executable}, "bootstrap/package.sh")
    assert f"uploaded under {PREFIX}/" in out
    uploaded = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="featurespark/")["Contents"]}
    assert {"featurespark/jobs/build_training_set.py", "featurespark/bootstrap/emr-bootstrap.sh"} <= uploaded
    assert any(k.startswith("featurespark/wheelhouse/pandas-2.3.3-cp39") for k in uploaded)

    # 2. The bootstrap action, from S3, on a "node": the wheelhouse only, into its own virtualenv.
    venv = tmp / "opt" / "featurespark" / "venv"
    _run(["aws", "s3", "cp", "--only-show-errors", f"{PREFIX}/bootstrap/emr-bootstrap.sh", str(tmp / "bootstrap.sh")],
         env, "downloading the bootstrap action")
    node_env = {**env, "PIP_INDEX_URL": "http://127.0.0.1:9/no-pypi-on-this-node"}
    out = _run(["bash", str(tmp / "bootstrap.sh"), "--venv", str(venv), "--python", _python39(), "--bin-dir", "",
                f"{PREFIX}/wheelhouse/"], node_env, "the bootstrap action")
    assert f"featurespark 0.1.0 installed in {venv}" in out

    # 3. The "cluster": EMR's configuration with local jars; S3 on the local endpoint.
    cluster_env = _cluster_conf(tmp / "spark-conf", venv, s3_url, tmp / "metastore")
    spark_home = Path(pyspark.__file__).parent
    py4j = next((spark_home / "python" / "lib").glob("py4j-*-src.zip"))
    env.update(cluster_env)
    env.update({"SPARK_CONF_DIR": str(tmp / "spark-conf"), "SPARK_HOME": str(spark_home)})

    # Input data and the config, on S3.
    rows = [(d, T0 + timedelta(hours=h), 0.1 * h + d % 10, h + d % 7) for d in DRIVERS for h in range(6)]
    stats = pd.DataFrame(rows, columns=["driver_id", "event_timestamp", "conv_rate", "trips"])
    s3.put_object(Bucket=BUCKET, Key="featurespark/input/driver_stats/part-0.parquet", Body=_parquet(stats))
    orders = pd.DataFrame({"driver_id": DRIVERS + [9999],
                           "event_timestamp": [T0 + timedelta(hours=3, minutes=30)] * 4,
                           "label": [1, 0, 1, 0]})
    s3.put_object(Bucket=BUCKET, Key="featurespark/input/orders/part-0.parquet", Body=_parquet(orders))
    s3.put_object(Bucket=BUCKET, Key="featurespark/conf/emr.yaml",
                  Body=CONFIG.format(prefix=PREFIX, dynamodb=dynamodb.endpoint_url).encode())
    config = ["--config", f"{PREFIX}/conf/emr.yaml"]

    # 4. featurespark apply from the virtualenv, with the cluster's Spark on PYTHONPATH (docs/emr.md).
    repo = tmp / "repo"
    repo.mkdir()
    (repo / "definitions.py").write_text(DEFINITIONS)
    apply_env = {**env, "PYTHONPATH": f"{spark_home / 'python' / 'lib' / 'pyspark.zip'}{os.pathsep}{py4j}"}
    out = _run([str(venv / "bin" / "featurespark"), "apply", "--repo", str(repo), *config], apply_env,
               "featurespark apply")
    assert "Applied." in out

    # 5. The steps, exactly as `featurespark emr add-steps --dry-run` prints them.
    delta_jar = next(str(j) for j in JARS.glob("delta-spark_*.jar"))
    jobs = {
        "build-training-set": [*config, "--entities", f"{PREFIX}/input/orders/", "--features", "driver_stats",
                               "--output", f"{PREFIX}/training_sets/v1/"],
        "materialize": [*config, "--start", (T0 - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S"),
                        "--end", (T0 + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")],
    }
    for job, job_args in jobs.items():
        printed = _run([str(venv / "bin" / "featurespark"), "emr", "add-steps", "--cluster-id", "j-REHEARSAL",
                        "--job", job, "--code-uri", f"{PREFIX}/jobs/", "--deploy-mode", "client",
                        "--delta-py-file", delta_jar, "--dry-run", "--", *job_args], env, f"add-steps {job}")
        (step,) = json.loads(printed)["Steps"]
        args: list[Any] = step["HadoopJarStep"]["Args"]
        assert args[0] == "spark-submit" and args[-len(job_args):] == job_args
        _run(args, env, f"the {job} step")

    # The training set, its manifest and the online items.
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="featurespark/training_sets/v1/")["Contents"]
    keys = {o["Key"].rsplit("/", 1)[-1] for o in listed}
    assert "_featurespark_manifest.json" in keys and any(k.endswith(".parquet") for k in keys)
    manifest = json.loads(s3.get_object(Bucket=BUCKET,
                                        Key="featurespark/training_sets/v1/_featurespark_manifest.json")["Body"].read())
    assert manifest["output"]["rows"] == len(orders)
    client = dynamodb.client()
    items = client.scan(TableName="featurespark.rehearsal.driver_stats")["Items"]
    assert len(items) == len(DRIVERS)


def _python39() -> str:
    result = subprocess.run(["bash", "-c", f". {ROOT / 'bootstrap' / 'python39.sh'} && find_python39"],
                            capture_output=True, text=True, check=True)
    return result.stdout.strip()
