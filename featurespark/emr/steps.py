"""EMR steps that run the featurespark jobs with ``spark-submit`` through ``command-runner.jar``.

A step is the dictionary the EMR ``AddJobFlowSteps`` API takes. The job scripts (``jobs/*.py``) must be
reachable by the cluster, so they are read from an S3 prefix (``code_uri``) uploaded beforehand; the
``featurespark`` package itself comes from the bootstrap action (a virtualenv made from the wheelhouse
``bootstrap/package.sh`` builds) or from ``py_files`` (the zip it builds). The jobs read ``--config`` from
S3 themselves (``--config s3://bucket/featurespark/conf/emr.yaml``), in cluster and client deploy mode alike.
"""
from __future__ import annotations

import logging
import re
from typing import Any, Mapping, Optional, Sequence

from featurespark.errors import InvalidArgumentError

logger = logging.getLogger(__name__)

#: Job name (as typed on the command line) -> script under ``code_uri``.
JOBS: dict[str, str] = {
    "build-training-set": "build_training_set.py",
    "ingest": "ingest.py",
    "materialize": "materialize.py",
    # Never ends: it needs the Kafka connector (jars on S3, from bootstrap/package.sh) and a cluster that runs
    # several steps at once (see STREAMING_JOBS).
    "stream-features": "stream_features.py",
}

#: Jobs that run until cancelled: they need a cluster with a step concurrency above 1 and the Kafka connector.
STREAMING_JOBS = frozenset({"stream-features"})
#: File name prefix of the Kafka connector jar (Spark 3.5 / Scala 2.12 on EMR 7.x).
KAFKA_CONNECTOR_JAR = "spark-sql-kafka-0-10_"

#: What EMR does when a step fails (``ActionOnFailure`` of the API).
ACTIONS_ON_FAILURE = ("CONTINUE", "CANCEL_AND_WAIT", "TERMINATE_CLUSTER", "TERMINATE_JOB_FLOW")

DEPLOY_MODES = ("cluster", "client")

#: Delta Lake's jar on EMR 7.x nodes (``delta-defaults`` with ``delta.enabled=true``; EMR 6.x names it
#: ``delta-core.jar``). The jar also carries Delta's Python package, which the jobs import
#: (``delta.tables``), so it goes on ``--py-files``.
EMR_DELTA_JAR = "/usr/share/aws/delta/lib/delta-spark.jar"

#: Delta's DynamoDB-backed S3 log store on EMR 7.x nodes (featurespark.log_store). A step's ``--jars`` replaces
#: the ``spark.jars`` of bootstrap/emr-configurations.json, so steps that pass jars put it first.
EMR_LOG_STORE_JAR = "/usr/share/aws/delta/lib/delta-storage-s3-dynamodb.jar"

_S3_PREFIX = re.compile(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$")
_MAX_NAME = 256  # EMR's limit on a step name


def job_script_uri(job: str, code_uri: str) -> str:
    """The S3 URI of a job's script under the code prefix.

    Parameters
    ----------
    job : str
        One of :data:`JOBS`: ``"build-training-set"``, ``"ingest"``, ``"materialize"``, ``"stream-features"``.
    code_uri : str
        ``s3://`` prefix the ``jobs/`` folder was uploaded to (a trailing ``/`` is optional).

    Returns
    -------
    str
        ``<code_uri>/<script>.py``.

    Raises
    ------
    InvalidArgumentError
        If the job is unknown or ``code_uri`` is not an ``s3://bucket/...`` URI.

    Examples
    --------
    >>> job_script_uri("build-training-set", "s3://my-bucket/featurespark/jobs/")
    's3://my-bucket/featurespark/jobs/build_training_set.py'
    """
    if job not in JOBS:
        raise InvalidArgumentError(f"Unknown job {job!r}: choose one of {', '.join(JOBS)}.")
    if not _S3_PREFIX.match(code_uri):
        raise InvalidArgumentError(
            f"code_uri must be the s3:// URI of the folder holding the job scripts, e.g. "
            f"s3://my-bucket/featurespark/jobs/ (upload them with `aws s3 sync jobs/ <code_uri>`); "
            f"got {code_uri!r}."
        )
    return f"{code_uri.rstrip('/')}/{JOBS[job]}"


def build_step(
    job: str,
    job_args: Sequence[str],
    *,
    code_uri: str,
    name: Optional[str] = None,
    action_on_failure: str = "CONTINUE",
    deploy_mode: str = "cluster",
    py_files: Optional[Sequence[str]] = None,
    files: Optional[Sequence[str]] = None,
    spark_conf: Optional[Mapping[str, str]] = None,
    delta_py_file: Optional[str] = EMR_DELTA_JAR,
    jars: Optional[Sequence[str]] = None,
    log_store_jar: Optional[str] = EMR_LOG_STORE_JAR,
) -> dict[str, Any]:
    """Make an EMR step that runs a featurespark job with ``spark-submit``.

    Parameters
    ----------
    job : str
        ``"build-training-set"``, ``"ingest"``, ``"materialize"`` or ``"stream-features"`` (see :data:`JOBS`).
    job_args : sequence of str
        Arguments of the job script itself, e.g. ``["--config", "s3://my-bucket/featurespark/conf/emr.yaml",
        "--start", ...]``.
    code_uri : str
        ``s3://`` prefix holding the job scripts, e.g. ``"s3://my-bucket/featurespark/jobs/"``.
    name : str, optional
        Step name shown in the EMR console (default: ``"featurespark <job>"``).
    action_on_failure : str, optional
        One of :data:`ACTIONS_ON_FAILURE` (default ``"CONTINUE"``: a failed step leaves the cluster up).
    deploy_mode : str, optional
        ``"cluster"`` (driver in YARN, the default) or ``"client"`` (driver on the primary node).
    py_files : sequence of str, optional
        Extra ``--py-files`` (the ``featurespark-<version>.zip`` on S3 when the cluster has no bootstrap
        action). No element may contain a comma.
    files : sequence of str, optional
        ``--files`` shipped to the working directory of the driver and executors (the jobs read an
        ``s3://`` config themselves, so the config need not be shipped).
    spark_conf : mapping of str to str, optional
        ``--conf key=value`` pairs, e.g. ``{"spark.yarn.appMasterEnv.FEATURESPARK_BUCKET": "my-bucket"}``.
    delta_py_file : str or None, optional
        The cluster's Delta Lake jar, put first on ``--py-files`` so the driver can import
        ``delta.tables`` (default :data:`EMR_DELTA_JAR`; ``None`` when Delta's Python package is
        installed some other way).
    jars : sequence of str, optional
        ``--jars``, e.g. the Kafka connector on S3 that ``stream-features`` needs. No element may contain a
        comma.
    log_store_jar : str or None, optional
        Put first on ``--jars`` whenever ``jars`` are given (``--jars`` replaces the cluster's ``spark.jars``,
        which holds it; default :data:`EMR_LOG_STORE_JAR`; ``None`` to leave it out).

    Returns
    -------
    dict
        ``{"Name", "ActionOnFailure", "HadoopJarStep": {"Jar": "command-runner.jar", "Args": [...]}}``,
        ready for :func:`featurespark.emr.add_steps` or boto3's ``add_job_flow_steps``.

    Raises
    ------
    InvalidArgumentError
        If the job, ``code_uri``, ``action_on_failure``, ``deploy_mode``, a file list, a Spark setting
        or the name is invalid.

    Examples
    --------
    >>> step = build_step("materialize", ["--config", "emr.yaml", "--incremental", "--end", "2024-06-01"],
    ...                   code_uri="s3://my-bucket/featurespark/jobs/",
    ...                   files=["s3://my-bucket/featurespark/conf/emr.yaml"])
    >>> step["HadoopJarStep"]["Args"][:3]
    ['spark-submit', '--deploy-mode', 'cluster']
    >>> step["HadoopJarStep"]["Args"][-6]
    's3://my-bucket/featurespark/jobs/materialize.py'
    """
    script = job_script_uri(job, code_uri)
    if action_on_failure not in ACTIONS_ON_FAILURE:
        raise InvalidArgumentError(
            f"action_on_failure must be one of {', '.join(ACTIONS_ON_FAILURE)}; got {action_on_failure!r}."
        )
    if deploy_mode not in DEPLOY_MODES:
        raise InvalidArgumentError(f"deploy_mode must be 'cluster' or 'client'; got {deploy_mode!r}.")
    step_name = name if name is not None else f"featurespark {job}"
    if not step_name or len(step_name) > _MAX_NAME:
        raise InvalidArgumentError(f"A step name must have 1 to {_MAX_NAME} characters; got {len(step_name)}.")
    bad_args = [a for a in job_args if not isinstance(a, str)]
    if bad_args:
        raise InvalidArgumentError(f"job_args must be strings; got {bad_args!r}.")
    if job in STREAMING_JOBS:
        _check_kafka_connector(job, list(jars or []), spark_conf or {})

    args = ["spark-submit", "--deploy-mode", deploy_mode]
    all_py_files = ([delta_py_file] if delta_py_file else []) + list(py_files or [])
    if all_py_files:
        args += ["--py-files", _comma_list("py_files", all_py_files)]
    if files:
        args += ["--files", _comma_list("files", files)]
    if jars:
        args += ["--jars", _comma_list("jars", ([log_store_jar] if log_store_jar else []) + list(jars))]
    for key, value in (spark_conf or {}).items():
        args += ["--conf", _conf_pair(key, value)]
    args.append(script)
    args.extend(job_args)
    return {
        "Name": step_name,
        "ActionOnFailure": action_on_failure,
        "HadoopJarStep": {"Jar": "command-runner.jar", "Args": args},
    }


def _comma_list(what: str, items: Sequence[str]) -> str:
    for item in items:
        if not item or "," in item:
            raise InvalidArgumentError(
                f"{what}: every entry must be a non-empty URI or path without commas; got {item!r}."
            )
    return ",".join(items)


def _conf_pair(key: str, value: str) -> str:
    if not key or "=" in key or any(c.isspace() for c in key):
        raise InvalidArgumentError(f"spark_conf: {key!r} is not a Spark setting name (no '=', no spaces).")
    if not isinstance(value, str):
        raise InvalidArgumentError(f"spark_conf: the value of {key} must be a string; got {value!r}.")
    return f"{key}={value}"


def _check_kafka_connector(job: str, jars: Sequence[str], spark_conf: Mapping[str, str]) -> None:
    names = [j.rstrip("/").rsplit("/", 1)[-1] for j in jars]
    if any(n.startswith(KAFKA_CONNECTOR_JAR) for n in names) or "spark.jars.packages" in spark_conf:
        return
    raise InvalidArgumentError(
        f"The {job} job reads Kafka and needs Spark's Kafka connector on --jars: upload dist/jars/ (built by "
        "bootstrap/package.sh) to s3://BUCKET/featurespark/jars/ and pass each jar, e.g. --jars "
        "s3://BUCKET/featurespark/jars/spark-sql-kafka-0-10_2.12-3.5.7.jar,...; got jars "
        f"{list(jars) or 'none'}."
    )
