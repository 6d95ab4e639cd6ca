"""Run the featurespark jobs on EMR Serverless (``featurespark emr-serverless submit``).

EMR Serverless has no bootstrap actions: the Python environment comes as the packed virtualenv that
``bootstrap/package.sh --venv-pack`` builds (``spark.archives=...#environment``), with ``PYSPARK_PYTHON``
pointing into it for the driver and the executors. Delta Lake, its Python package and its S3 log store
come from the release's ``/usr/share/aws/delta/lib``; the Glue Data Catalog is the metastore.
"""
from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any, Callable, Mapping, Optional, Sequence

from botocore.exceptions import BotoCoreError, ClientError

from featurespark.emr.errors import EmrError
from featurespark.emr.steps import EMR_DELTA_JAR, EMR_LOG_STORE_JAR, STREAMING_JOBS, _check_kafka_connector, \
    _comma_list, _conf_pair, job_script_uri
from featurespark.errors import InvalidArgumentError

logger = logging.getLogger(__name__)

#: Job run states after which nothing changes any more.
TERMINAL_STATES = frozenset({"SUCCESS", "FAILED", "CANCELLED"})
#: Delta Lake's jars in the EMR Serverless 7.x images.
EMR_DELTA_JARS = (EMR_DELTA_JAR, "/usr/share/aws/delta/lib/delta-storage.jar", EMR_LOG_STORE_JAR)
_ENVIRONMENT_PYTHON = "./environment/bin/python"
_APPLICATION_ID = re.compile(r"^[0-9a-z]+$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$")


def build_job_run(
    job: str,
    job_args: Sequence[str],
    *,
    application_id: str,
    execution_role_arn: str,
    code_uri: str,
    environment_uri: str,
    region: Optional[str] = None,
    name: Optional[str] = None,
    log_uri: Optional[str] = None,
    jars: Optional[Sequence[str]] = None,
    spark_conf: Optional[Mapping[str, str]] = None,
) -> dict[str, Any]:
    """The ``StartJobRun`` request that runs a featurespark job on an EMR Serverless application.

    Parameters
    ----------
    job : str
        One of :data:`featurespark.emr.JOBS`.
    job_args : sequence of str
        Arguments of the job script, e.g. ``["--config", "s3://my-bucket/featurespark/conf/emr.yaml", ...]``.
    application_id : str
        The Spark application (``aws emr-serverless list-applications``), release emr-7.x.
    execution_role_arn : str
        The job runtime role (S3, Glue, DynamoDB: the policy in docs/emr.md).
    code_uri : str
        ``s3://`` folder of the job scripts.
    environment_uri : str
        ``s3://`` URI of ``featurespark-venv.tar.gz`` (``bootstrap/package.sh --venv-pack``).
    region : str, optional
        Passed to the driver as ``AWS_REGION`` (the region the online store and log store default to).
    name : str, optional
        Job run name (default ``featurespark <job>``).
    log_uri : str, optional
        ``s3://`` folder for the driver and executor logs.
    jars : sequence of str, optional
        Extra jars, e.g. the Kafka connector for ``stream-features``.
    spark_conf : mapping, optional
        More ``--conf`` settings, applied last.

    Returns
    -------
    dict
        Keyword arguments for boto3's ``emr-serverless`` ``start_job_run``.

    Raises
    ------
    InvalidArgumentError
        If an id, ARN or URI is malformed, or ``stream-features`` lacks the Kafka connector.

    Examples
    --------
    >>> run = build_job_run("materialize", ["--config", "s3://my-bucket/featurespark/conf/emr.yaml",
    ...                                     "--incremental", "--end", "2026-01-02T00:00:00"],
    ...                     application_id="00fabcd1234567", execution_role_arn="arn:aws:iam::123456789012:role/fs",
    ...                     code_uri="s3://my-bucket/featurespark/jobs/",
    ...                     environment_uri="s3://my-bucket/featurespark/dist/featurespark-venv.tar.gz")
    >>> run["jobDriver"]["sparkSubmit"]["entryPoint"]
    's3://my-bucket/featurespark/jobs/materialize.py'
    >>> "spark.archives=s3://my-bucket/featurespark/dist/featurespark-venv.tar.gz#environment" in (
    ...     run["jobDriver"]["sparkSubmit"]["sparkSubmitParameters"])
    True
    """
    script = job_script_uri(job, code_uri)
    if not _APPLICATION_ID.match(application_id or ""):
        raise InvalidArgumentError(f"{application_id!r} is not an EMR Serverless application id (lower-case letters "
                                   "and digits; `aws emr-serverless list-applications`).")
    if not _ROLE_ARN.match(execution_role_arn or ""):
        raise InvalidArgumentError(f"{execution_role_arn!r} is not an IAM role ARN "
                                   "(arn:aws:iam::123456789012:role/NAME).")
    for what, uri in (("environment_uri", environment_uri), ("log_uri", log_uri)):
        if uri is not None and not uri.startswith("s3://"):
            raise InvalidArgumentError(f"{what} must be an s3:// URI; got {uri!r}.")
    if not environment_uri.endswith((".tar.gz", ".tgz")):
        raise InvalidArgumentError(f"environment_uri must name the packed virtualenv (.tar.gz) that "
                                   f"`bootstrap/package.sh --venv-pack` builds; got {environment_uri!r}.")
    if job in STREAMING_JOBS:
        _check_kafka_connector(job, list(jars or []), spark_conf or {})
    conf = {
        "spark.archives": f"{environment_uri}#environment",
        "spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON": _ENVIRONMENT_PYTHON,
        "spark.emr-serverless.driverEnv.PYSPARK_PYTHON": _ENVIRONMENT_PYTHON,
        "spark.executorEnv.PYSPARK_PYTHON": _ENVIRONMENT_PYTHON,
        "spark.emr-serverless.driverEnv.TZ": "UTC",
        "spark.executorEnv.TZ": "UTC",
        "spark.jars": _comma_list("jars", [*EMR_DELTA_JARS, *(jars or [])]),
        "spark.submit.pyFiles": EMR_DELTA_JAR,
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.session.timeZone": "UTC",
        "spark.hadoop.hive.metastore.client.factory.class":
            "com.amazonaws.glue.catalog.metastore.AWSGlueDataCatalogHiveClientFactory",
    }
    if region:
        conf["spark.emr-serverless.driverEnv.AWS_REGION"] = region
    conf.update(spark_conf or {})
    request: dict[str, Any] = {
        "applicationId": application_id,
        "executionRoleArn": execution_role_arn,
        "name": name or f"featurespark {job}",
        "clientToken": str(uuid.uuid4()),
        "jobDriver": {"sparkSubmit": {
            "entryPoint": script,
            "entryPointArguments": list(job_args),
            "sparkSubmitParameters": " ".join(f"--conf {_conf_pair(k, v)}" for k, v in conf.items()),
        }},
    }
    if log_uri:
        request["configurationOverrides"] = {
            "monitoringConfiguration": {"s3MonitoringConfiguration": {"logUri": log_uri}}}
    return request


def serverless_client(region: Optional[str] = None) -> Any:
    """A boto3 ``emr-serverless`` client (credentials from the default chain)."""
    import boto3

    try:
        return boto3.session.Session().client("emr-serverless", region_name=region)
    except BotoCoreError as exc:
        raise EmrError(f"Cannot create an EMR Serverless client: {exc}. Pass --region or set AWS_REGION.") from exc


def start_job_run(request: Mapping[str, Any], *, region: Optional[str] = None, client: Any = None) -> str:
    """Start a job run built by :func:`build_job_run`; return its id.

    Raises
    ------
    EmrError
        If EMR Serverless refuses (unknown or stopped application, access denied, no credentials).

    Examples
    --------
    >>> start_job_run(build_job_run(...), region="eu-west-1")  # doctest: +SKIP
    '00fabcdjobrun123'
    """
    emr = client if client is not None else serverless_client(region)
    app = request["applicationId"]
    try:
        response = emr.start_job_run(**request)
    except (ClientError, BotoCoreError) as exc:
        hint = ""
        if isinstance(exc, ClientError) and "AccessDenied" in str(exc.response.get("Error", {}).get("Code")):
            hint = (" The caller needs emr-serverless:StartJobRun on the application and iam:PassRole on the "
                    "execution role (docs/emr.md).")
        raise EmrError(f"Cannot start a job run on EMR Serverless application {app} in region "
                       f"{emr.meta.region_name}: {exc}.{hint}") from exc
    run_id = str(response["jobRunId"])
    logger.info("started job run %s on application %s", run_id, app)
    return run_id


def wait_for_job_run(
    application_id: str,
    job_run_id: str,
    *,
    client: Any,
    poll_seconds: float = 30.0,
    report: Callable[[str], None] = logger.info,
    sleep: Optional[Callable[[float], None]] = None,
) -> dict[str, Any]:
    """Poll a job run until it ends, reporting each state; return the final ``jobRun``.

    Raises
    ------
    EmrError
        If the job run cannot be described.
    """
    sleep = sleep or time.sleep
    last = None
    while True:
        try:
            run: dict[str, Any] = client.get_job_run(applicationId=application_id, jobRunId=job_run_id)["jobRun"]
        except (ClientError, BotoCoreError) as exc:
            raise EmrError(f"Cannot describe job run {job_run_id} of application {application_id}: {exc}.") from exc
        state = str(run.get("state"))
        if state != last:
            report(f"{job_run_id} ({run.get('name', '?')}): {state}")
            last = state
        if state in TERMINAL_STATES:
            return run
        sleep(poll_seconds)


def driver_log_folder(log_uri: str, application_id: str, job_run_id: str) -> str:
    """Where EMR Serverless writes the driver's stdout.gz / stderr.gz under a job's log URI.

    Examples
    --------
    >>> driver_log_folder("s3://b/featurespark/logs/", "00fabc", "00fjob")
    's3://b/featurespark/logs/applications/00fabc/jobs/00fjob/SPARK_DRIVER/'
    """
    return f"{log_uri.rstrip('/')}/applications/{application_id}/jobs/{job_run_id}/SPARK_DRIVER/"
