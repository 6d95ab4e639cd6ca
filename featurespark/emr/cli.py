"""The ``featurespark emr`` command: submit featurespark jobs as steps of a running EMR cluster.

Wired into the ``featurespark`` parser with :func:`add_emr_subcommand`; :func:`run_emr_command` is the
handler. Errors are raised as :class:`~featurespark.errors.FeaturesparkError` for the top-level CLI to
report (exit code 1); argument errors are argparse's (exit code 2).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Callable

from featurespark.emr.client import add_steps
from featurespark.emr.steps import ACTIONS_ON_FAILURE, DEPLOY_MODES, EMR_DELTA_JAR, JOBS, build_step
from featurespark.errors import InvalidArgumentError

logger = logging.getLogger(__name__)

_ADD_STEPS_EPILOG = """\
Everything after `--` goes to the job script (see its own --help). The jobs read --config from a local
file: ship the YAML with --files and name it by its file name.

example:
  featurespark emr add-steps --cluster-id j-2AXXXXXXGAPLF --region eu-west-1 \\
      --job materialize --code-uri s3://my-bucket/featurespark/jobs/ \\
      --files s3://my-bucket/featurespark/conf/emr.yaml \\
      --conf spark.yarn.appMasterEnv.FEATURESPARK_BUCKET=my-bucket \\
      -- --config emr.yaml --incremental --end 2024-06-01T00:00:00

With --dry-run the AddJobFlowSteps request is printed as JSON and nothing is called.
The step ids are printed one per line on success.
"""


def add_emr_subcommand(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the ``emr`` command (and its ``add-steps`` subcommand) to a CLI's subparsers.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        What ``parser.add_subparsers(dest="command", ...)`` returned.

    Returns
    -------
    argparse.ArgumentParser
        The ``emr`` parser. Parsed arguments carry ``command == "emr"`` and ``emr_command``;
        pass them to :func:`run_emr_command`.

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
    add.add_argument("--job", required=True, choices=list(JOBS), help="the job to run")
    add.add_argument("--code-uri", required=True,
                     help="s3:// folder the jobs/ scripts were uploaded to, e.g. s3://my-bucket/featurespark/jobs/")
    add.add_argument("--region", default=None,
                     help="AWS region of the cluster (default: AWS_REGION, AWS_DEFAULT_REGION or the profile's)")
    add.add_argument("--name", default=None, help="step name (default: 'featurespark <job>')")
    add.add_argument("--action-on-failure", default="CONTINUE", choices=ACTIONS_ON_FAILURE,
                     help="what EMR does if the step fails (default: CONTINUE)")
    add.add_argument("--deploy-mode", default="cluster", choices=DEPLOY_MODES,
                     help="where the Spark driver runs (default: cluster)")
    add.add_argument("--py-files", action="append", default=[], metavar="URI",
                     help="extra --py-files, repeatable or comma-separated (the featurespark zip when the "
                          "cluster has no bootstrap action)")
    add.add_argument("--files", action="append", default=[], metavar="URI",
                     help="--files for the driver's working directory, repeatable or comma-separated "
                          "(the YAML config)")
    add.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                     help="a Spark setting for spark-submit, repeatable")
    add.add_argument("--delta-py-file", default=EMR_DELTA_JAR, metavar="PATH",
                     help=f"Delta jar put on --py-files for `delta.tables` (default: {EMR_DELTA_JAR}; "
                          "'' to leave it out)")
    add.add_argument("--dry-run", action="store_true", help="print the request as JSON and call nothing")
    add.add_argument("job_args", nargs=argparse.REMAINDER, metavar="-- JOB_ARGS",
                     help="arguments of the job script, after `--`")
    return emr


def run_emr_command(args: argparse.Namespace) -> int:
    """Run a parsed ``featurespark emr ...`` command.

    Parameters
    ----------
    args : argparse.Namespace
        Arguments parsed by a parser set up with :func:`add_emr_subcommand`.

    Returns
    -------
    int
        The exit code, 0 on success.

    Raises
    ------
    FeaturesparkError
        :class:`~featurespark.errors.InvalidArgumentError` for bad values,
        :class:`~featurespark.emr.errors.EmrError` when the EMR API refuses the call.
    """
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {"add-steps": _add_steps}
    return handlers[args.emr_command](args)


def _add_steps(args: argparse.Namespace) -> int:
    job_args = list(args.job_args)
    if job_args and job_args[0] == "--":
        job_args = job_args[1:]
    step = build_step(
        args.job, job_args,
        code_uri=args.code_uri,
        name=args.name,
        action_on_failure=args.action_on_failure,
        deploy_mode=args.deploy_mode,
        py_files=_split_commas(args.py_files),
        files=_split_commas(args.files),
        spark_conf=_parse_conf(args.conf),
        delta_py_file=args.delta_py_file or None,
    )
    if args.dry_run:
        print(json.dumps({"JobFlowId": args.cluster_id, "Steps": [step]}, indent=2))
        return 0
    step_ids = add_steps(args.cluster_id, [step], region=args.region)
    for step_id in step_ids:
        print(step_id)
    region = f" --region {args.region}" if args.region else ""
    print(f"Follow it with: aws emr describe-step --cluster-id {args.cluster_id} --step-id {step_ids[0]}"
          f"{region}", file=sys.stderr)
    return 0


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
