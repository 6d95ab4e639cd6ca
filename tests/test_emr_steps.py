"""build_step: the spark-submit step of each job, and every argument check."""
from __future__ import annotations

from pathlib import Path

import pytest

from featurespark.emr import EMR_DELTA_JAR, EMR_LOG_STORE_JAR, JOBS, build_step, job_script_uri

ROOT = Path(__file__).resolve().parents[1]
from featurespark.errors import InvalidArgumentError

CODE = "s3://my-bucket/featurespark/jobs/"


def test_build_training_set_step_runs_spark_submit_through_command_runner() -> None:
    job_args = ["--config", "emr.yaml", "--entities", "s3://my-bucket/entities/", "--features",
                "driver_stats:conv_rate", "--output", "s3://my-bucket/training/ts1", "--format", "parquet"]
    step = build_step("build-training-set", job_args, code_uri=CODE,
                      files=["s3://my-bucket/featurespark/conf/emr.yaml"],
                      spark_conf={"spark.yarn.appMasterEnv.FEATURESPARK_BUCKET": "my-bucket"})
    assert step == {
        "Name": "featurespark build-training-set",
        "ActionOnFailure": "CONTINUE",
        "HadoopJarStep": {
            "Jar": "command-runner.jar",
            "Args": [
                "spark-submit", "--deploy-mode", "cluster",
                "--py-files", "/usr/share/aws/delta/lib/delta-spark.jar",
                "--files", "s3://my-bucket/featurespark/conf/emr.yaml",
                "--conf", "spark.yarn.appMasterEnv.FEATURESPARK_BUCKET=my-bucket",
                "s3://my-bucket/featurespark/jobs/build_training_set.py",
                *job_args,
            ],
        },
    }


@pytest.mark.parametrize(("job", "script"), [("build-training-set", "build_training_set.py"),
                                             ("ingest", "ingest.py"), ("materialize", "materialize.py"),
                                             ("stream-features", "stream_features.py")])
def test_each_job_maps_to_its_script(job: str, script: str) -> None:
    assert job_script_uri(job, "s3://bk1/code/jobs") == f"s3://bk1/code/jobs/{script}"
    jars = ["s3://bk1/jars/spark-sql-kafka-0-10_2.12-3.5.7.jar"] if job == "stream-features" else None
    args = build_step(job, [], code_uri="s3://bk1/code/jobs/", jars=jars)["HadoopJarStep"]["Args"]
    assert args[-1] == f"s3://bk1/code/jobs/{script}"
    assert sorted(JOBS) == ["build-training-set", "ingest", "materialize", "stream-features"]
    assert (ROOT / "jobs" / script).is_file()


def test_options_extra_py_files_client_mode_and_name() -> None:
    step = build_step("materialize", ["--config", "emr.yaml", "--incremental", "--end", "2024-06-01"],
                      code_uri=CODE, name="nightly materialize", action_on_failure="CANCEL_AND_WAIT",
                      deploy_mode="client", py_files=["s3://my-bucket/featurespark/dist/featurespark-0.1.0.zip"])
    assert step["Name"] == "nightly materialize"
    assert step["ActionOnFailure"] == "CANCEL_AND_WAIT"
    assert step["HadoopJarStep"]["Args"] == [
        "spark-submit", "--deploy-mode", "client",
        "--py-files", f"{EMR_DELTA_JAR},s3://my-bucket/featurespark/dist/featurespark-0.1.0.zip",
        "s3://my-bucket/featurespark/jobs/materialize.py",
        "--config", "emr.yaml", "--incremental", "--end", "2024-06-01",
    ]


def test_delta_py_file_can_be_left_out() -> None:
    args = build_step("ingest", ["--view", "v"], code_uri=CODE, delta_py_file=None)["HadoopJarStep"]["Args"]
    assert args == ["spark-submit", "--deploy-mode", "cluster", "s3://my-bucket/featurespark/jobs/ingest.py",
                    "--view", "v"]


def test_unknown_job_names_the_known_ones() -> None:
    with pytest.raises(InvalidArgumentError, match=r"Unknown job 'train': choose one of build-training-set, "
                                                   r"ingest, materialize, stream-features\."):
        build_step("train", [], code_uri=CODE)


@pytest.mark.parametrize("uri", ["jobs/", "/home/hadoop/jobs", "s3:/bucket/jobs", "s3://", "hdfs:///jobs",
                                 "s3://Bad_Bucket/jobs"])
def test_code_uri_must_be_an_s3_prefix(uri: str) -> None:
    with pytest.raises(InvalidArgumentError, match="code_uri must be the s3:// URI of the folder holding "
                                                   "the job scripts") as info:
        build_step("ingest", [], code_uri=uri)
    assert repr(uri) in str(info.value)


def test_bad_action_deploy_mode_name_and_args() -> None:
    with pytest.raises(InvalidArgumentError, match="action_on_failure must be one of CONTINUE, "
                                                   "CANCEL_AND_WAIT, TERMINATE_CLUSTER, TERMINATE_JOB_FLOW; "
                                                   "got 'STOP'"):
        build_step("ingest", [], code_uri=CODE, action_on_failure="STOP")
    with pytest.raises(InvalidArgumentError, match="deploy_mode must be 'cluster' or 'client'; got 'local'"):
        build_step("ingest", [], code_uri=CODE, deploy_mode="local")
    with pytest.raises(InvalidArgumentError, match="1 to 256 characters; got 300"):
        build_step("ingest", [], code_uri=CODE, name="x" * 300)
    with pytest.raises(InvalidArgumentError, match=r"job_args must be strings; got \[3\]"):
        build_step("ingest", ["--days", 3], code_uri=CODE)  # type: ignore[list-item]


def test_file_lists_and_spark_conf_are_checked() -> None:
    with pytest.raises(InvalidArgumentError, match="py_files: every entry must be a non-empty URI or path "
                                                   "without commas; got 's3://b/a.zip,s3://b/b.zip'"):
        build_step("ingest", [], code_uri=CODE, py_files=["s3://b/a.zip,s3://b/b.zip"])
    with pytest.raises(InvalidArgumentError, match="files: every entry .* got ''"):
        build_step("ingest", [], code_uri=CODE, files=[""])
    with pytest.raises(InvalidArgumentError, match="'spark.a=b' is not a Spark setting name"):
        build_step("ingest", [], code_uri=CODE, spark_conf={"spark.a=b": "c"})
    with pytest.raises(InvalidArgumentError, match="the value of spark.executor.cores must be a string"):
        build_step("ingest", [], code_uri=CODE, spark_conf={"spark.executor.cores": 4})  # type: ignore[dict-item]


def test_jars_keep_the_log_store_jar_first() -> None:
    kafka = ["s3://b/featurespark/jars/spark-sql-kafka-0-10_2.12-3.5.7.jar", "s3://b/featurespark/jars/kafka-clients-3.4.1.jar"]
    args = build_step("stream-features", ["--topic", "trips"], code_uri=CODE, jars=kafka)["HadoopJarStep"]["Args"]
    assert args[args.index("--jars") + 1] == ",".join([EMR_LOG_STORE_JAR, *kafka])
    without = build_step("stream-features", [], code_uri=CODE, jars=kafka, log_store_jar=None)["HadoopJarStep"]
    assert without["Args"][without["Args"].index("--jars") + 1] == ",".join(kafka)
    # No --jars at all: the cluster's spark.jars (which holds the log store jar) stays in force.
    assert "--jars" not in build_step("ingest", [], code_uri=CODE)["HadoopJarStep"]["Args"]


def test_stream_features_needs_the_kafka_connector() -> None:
    with pytest.raises(InvalidArgumentError, match=r"The stream-features job reads Kafka and needs Spark's Kafka "
                                                   r"connector on --jars: upload dist/jars/ .* got jars none"):
        build_step("stream-features", [], code_uri=CODE)
    with pytest.raises(InvalidArgumentError, match="got jars .*kafka-clients-3.4.1.jar"):
        build_step("stream-features", [], code_uri=CODE, jars=["s3://b/jars/kafka-clients-3.4.1.jar"])
    packages = {"spark.jars.packages": "org.apache.spark:spark-sql-kafka-0-10_2.12:3.5.6"}
    assert build_step("stream-features", [], code_uri=CODE, spark_conf=packages)


def test_a_config_on_s3_is_passed_as_it_is() -> None:
    # The jobs read s3:// configs themselves: nothing to ship with --files.
    args = build_step("ingest", ["--config", "s3://my-bucket/conf/emr.yaml"], code_uri=CODE)["HadoopJarStep"]["Args"]
    assert args[-2:] == ["--config", "s3://my-bucket/conf/emr.yaml"] and "--files" not in args
