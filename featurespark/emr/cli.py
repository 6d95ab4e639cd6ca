"""The ``featurespark emr`` and ``featurespark emr-serverless`` commands: run the featurespark jobs on EMR.

Wired into the ``featurespark`` parser with :func:`add_emr_subcommand`; :func:`run_emr_command` is the
handler of both. They need only boto3 (no Spark, no pandas): a laptop or CI runner can submit. Errors are
raised as :class:`~featurespark.errors.FeaturesparkError` for the top-level CLI to report (exit code 1);
argument errors are argparse's (exit code 2). A step or job run that ends in failure gives exit code 1 too.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Callable

from featurespark.emr.client import add_steps, emr_client
from featurespark.emr.steps import ACTIONS_ON_FAILURE, DEPLOY_MODES, EMR_DELTA_JAR, EMR_LOG_STORE_JAR, JOBS, \
    STREAMING_JOBS, build_step
from featurespark.errors import InvalidArgumentError

logger = logging.getLogger(__name__)

_ADD_STEPS_EPILOG = """\
Everything after `--` goes to the job script (see its own --help). The jobs read --config from S3 with
boto3 (the cluster's instance profile), in cluster and client deploy mode alike.

example:
  featurespark emr add-steps --cluster-id j-2AXXXXXXGAPLF --region eu-west-1 \\
      --job materialize --code-uri s3://my-bucket/featurespark/jobs/ --wait \\
      -- --config s3://my-bucket/featurespark/conf/emr.yaml --incremental --end 2026-06-01T00:00:00

With --dry-run the AddJobFlowSteps request is printed as JSON and nothing is called. Otherwise the step ids
are printed one per line; with --wait the states follow as they change, and for a failed step where its
logs are on S3 and the last lines of its stderr (exit code 1).
"""

_SERVERLESS_EPILOG = """\
Everything after `--` goes to the job script. The Python environment is the packed virtualenv that
`bash bootstrap/package.sh --venv-pack` builds, uploaded to S3.

example:
  featurespark emr-serverless submit --application-id 00fabcd1234567 --region eu-west-1 \\
      --execution-role-arn arn:aws:iam::123456789012:role/featurespark-emr-serverless \\
      --job materialize --code-uri s3://my-bucket/featurespark/jobs/ \\
      --environment-uri s3://my-bucket/featurespark/dist/featurespark-venv.tar.gz \\
      --log-uri s3://my-bucket/featurespark/logs/ --wait \\
      -- --config s3://my-bucket/featurespark/conf/emr.yaml --incremental --end 2026-06-01T00:00:00
"""


def add_emr_subcommand(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the ``emr`` (``add-steps``) and ``emr-serverless`` (``submit``) commands to a CLI's subparsers.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        What ``parser.add_subparsers(dest="command", ...)`` returned.

    Returns
    -------
    argparse.ArgumentParser
        The ``emr`` parser. Parsed arguments carry ``command`` (``"emr"`` or ``"emr-serverless"``) and
        ``emr_command``; pass them to :func:`run_emr_command`.

    Examples
    --------
    >>> parser = argparse.ArgumentParser(prog="featurespark")
    >>> sub = parser.add_subparsers(dest="command", required=True)
    >>> _ = add_emr_subcommand(sub)
    >>> args = parser.parse_args(["emr", "add-steps", "--cluster-id", "j-1", "--job", "ingest",
    ...                           "--code-uri", "s3://my-bucket/jobs/", "--dry-run", "--", "--config", "emr.yaml"])
    >>> args.command, args.emr_command, args.job
    ('emr', 'add-steps', 'ingest')
    """
    emr = subparsers.add_parser(
        "emr", help="run featurespark jobs on an Amazon EMR cluster",
        description="Run featurespark jobs on an Amazon EMR cluster (see docs/emr.md).",
    )
    emr_sub = emr.add_subparsers(dest="emr_command", required=True, metavar="EMR_COMMAND")
    add = emr_sub.add_parser(
        "add-steps", help="submit a featurespark job as a spark-submit step of a running cluster",
        description="Submit a featurespark job (jobs/*.py on S3) as a spark-submit step run by\n"
                    "command-runner.jar on a running EMR cluster.",
        epilog=_ADD_STEPS_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add.add_argument("--cluster-id", required=True, help="the cluster, j-... (`aws emr list-clusters --active`)")
    _job_arguments(add)
    add.add_argument("--name", default=None, help="step name (default: 'featurespark <job>')")
    add.add_argument("--action-on-failure", default="CONTINUE", choices=ACTIONS_ON_FAILURE,
                     help="what EMR does if the step fails (default: CONTINUE)")
    add.add_argument("--deploy-mode", default="cluster", choices=DEPLOY_MODES,
                     help="where the Spark driver runs (default: cluster)")
    add.add_argument("--py-files", action="append", default=[], metavar="URI",
                     help="extra --py-files, repeatable or comma-separated (the featurespark zip when the "
                          "cluster has no bootstrap action)")
    add.add_argument("--files", action="append", default=[], metavar="URI",
                     help="--files for the working directories of driver and executors, repeatable or "
                          "comma-separated")
    add.add_argument("--delta-py-file", default=EMR_DELTA_JAR, metavar="PATH",
                     help=f"Delta jar put on --py-files for `delta.tables` (default: {EMR_DELTA_JAR}; "
                          "'' to leave it out)")
    add.add_argument("--log-store-jar", default=EMR_LOG_STORE_JAR, metavar="PATH",
                     help=f"Delta's S3 log store jar, put first on --jars when --jars is given (default: "
                          f"{EMR_LOG_STORE_JAR}; '' to leave it out)")
    add.add_argument("--step-concurrency", type=int, default=None, metavar="N",
                     help="for stream-features: raise the cluster's step concurrency to N (2-256) if it is 1, "
                          "instead of refusing (needs elasticmapreduce:ModifyCluster)")
    add.add_argument("--timeout-seconds", type=float, default=None, help="with --wait: give up waiting after this")
    _run_arguments(add, "step")

    serverless = subparsers.add_parser(
        "emr-serverless", help="run featurespark jobs on an EMR Serverless application",
        description="Run featurespark jobs on an Amazon EMR Serverless application (see docs/emr.md).",
    )
    serverless_sub = serverless.add_subparsers(dest="emr_command", required=True, metavar="EMR_SERVERLESS_COMMAND")
    submit = serverless_sub.add_parser(
        "submit", help="start a featurespark job as a job run of an EMR Serverless application",
        description="Start a featurespark job (jobs/*.py on S3) as a job run of an EMR Serverless Spark\n"
                    "application, with the packed virtualenv from S3 as its Python.",
        epilog=_SERVERLESS_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    submit.add_argument("--application-id", required=True, help="the application (`aws emr-serverless "
                                                                 "list-applications`)")
    submit.add_argument("--execution-role-arn", required=True, help="the job runtime role")
    _job_arguments(submit)
    submit.add_argument("--environment-uri", required=True, metavar="URI",
                        help="s3:// URI of featurespark-venv.tar.gz (bootstrap/package.sh --venv-pack)")
    submit.add_argument("--log-uri", default=None, metavar="URI", help="s3:// folder for the job's logs")
    submit.add_argument("--name", default=None, help="job run name (default: 'featurespark <job>')")
    _run_arguments(submit, "job run")
    return emr


def _job_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--job", required=True, choices=list(JOBS), help="the job to run")
    parser.add_argument("--code-uri", required=True,
                        help="s3:// folder the jobs/ scripts were uploaded to, e.g. s3://my-bucket/featurespark/jobs/")
    parser.add_argument("--region", default=None,
                        help="AWS region (default: AWS_REGION, AWS_DEFAULT_REGION or the profile's)")
    parser.add_argument("--jars", action="append", default=[], metavar="URI",
                        help="--jars, repeatable or comma-separated (stream-features: the Kafka connector on S3)")
    parser.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                        help="a Spark setting, repeatable")


def _run_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--wait", action="store_true",
                        help=f"follow the {what} until it ends; exit 1 if it does not succeed")
    parser.add_argument("--poll-seconds", type=float, default=30.0, help="with --wait: seconds between polls")
    parser.add_argument("--dry-run", action="store_true", help="print the request as JSON and call nothing")
    parser.add_argument("job_args", nargs=argparse.REMAINDER, metavar="-- JOB_ARGS",
                        help="arguments of the job script, after `--`")


def run_emr_command(args: argparse.Namespace) -> int:
    """Run a parsed ``featurespark emr ...`` or ``featurespark emr-serverless ...`` command.

    Parameters
    ----------
    args : argparse.Namespace
        Arguments parsed by a parser set up with :func:`add_emr_subcommand`.

    Returns
    -------
    int
        The exit code: 0 on success, 1 when a waited-for step or job run did not succeed.

    Raises
    ------
    FeaturesparkError
        :class:`~featurespark.errors.InvalidArgumentError` for bad values,
        :class:`~featurespark.emr.errors.EmrError` when an EMR API refuses the call.
    """
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "add-steps": _add_steps,
        "submit": _serverless_submit,
    }
    return handlers[args.emr_command](args)


def _add_steps(args: argparse.Namespace) -> int:
    step = build_step(
        args.job, _job_args(args),
        code_uri=args.code_uri,
        name=args.name,
        action_on_failure=args.action_on_failure,
        deploy_mode=args.deploy_mode,
        py_files=_split_commas(args.py_files),
        files=_split_commas(args.files),
        spark_conf=_parse_conf(args.conf),
        delta_py_file=args.delta_py_file or None,
        jars=_split_commas(args.jars),
        log_store_jar=args.log_store_jar or None,
    )
    if args.dry_run:
        print(json.dumps({"JobFlowId": args.cluster_id, "Steps": [step]}, indent=2))
        return 0
    client = emr_client(args.region)
    streaming = args.job in STREAMING_JOBS
    step_ids = add_steps(args.cluster_id, [step], region=args.region, client=client,
                         min_concurrency=2 if streaming else 1, raise_concurrency_to=args.step_concurrency)
    for step_id in step_ids:
        print(step_id)
    if not args.wait:
        region = f" --region {args.region}" if args.region else ""
        print(f"Follow it with: aws emr describe-step --cluster-id {args.cluster_id} --step-id {step_ids[0]}"
              f"{region}", file=sys.stderr)
        return 0
    from featurespark.emr.wait import wait_for_steps

    outcomes = wait_for_steps(args.cluster_id, step_ids, client=client, poll_seconds=args.poll_seconds,
                              timeout_seconds=args.timeout_seconds, report=print)
    failed = [o for o in outcomes if not o.succeeded]
    for outcome in failed:
        print(outcome.describe(), file=sys.stderr)
    return 1 if failed else 0


def _serverless_submit(args: argparse.Namespace) -> int:
    from featurespark.emr.serverless import build_job_run, driver_log_folder, serverless_client, start_job_run, \
        wait_for_job_run

    request = build_job_run(
        args.job, _job_args(args), application_id=args.application_id,
        execution_role_arn=args.execution_role_arn, code_uri=args.code_uri, environment_uri=args.environment_uri,
        region=args.region, name=args.name, log_uri=args.log_uri, jars=_split_commas(args.jars),
        spark_conf=_parse_conf(args.conf),
    )
    if args.dry_run:
        shown = {k: v for k, v in request.items() if k != "clientToken"}
        print(json.dumps(shown, indent=2))
        return 0
    client = serverless_client(args.region)
    run_id = start_job_run(request, client=client)
    print(run_id)
    if not args.wait:
        print(f"Follow it with: aws emr-serverless get-job-run --application-id {args.application_id} "
              f"--job-run-id {run_id}", file=sys.stderr)
        return 0
    run = wait_for_job_run(args.application_id, run_id, client=client, poll_seconds=args.poll_seconds,
                           report=print)
    if run.get("state") == "SUCCESS":
        return 0
    print(f"{run_id}: {run.get('state')}: {run.get('stateDetails') or 'no details'}", file=sys.stderr)
    if args.log_uri:
        print(f"  driver logs: {driver_log_folder(args.log_uri, args.application_id, run_id)} (stderr.gz)",
              file=sys.stderr)
    return 1


def _job_args(args: argparse.Namespace) -> list[str]:
    job_args = list(args.job_args)
    return job_args[1:] if job_args and job_args[0] == "--" else job_args


def _split_commas(values: list[str]) -> list[str]:
    return [item for value in values for item in value.split(",") if item]


def _parse_conf(pairs: list[str]) -> dict[str, str]:
    conf: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidArgumentError(f"--conf expects KEY=VALUE, e.g. spark.sql.shuffle.partitions=400; "
                                       f"got {pair!r}.")
        conf[key] = value
    return conf
