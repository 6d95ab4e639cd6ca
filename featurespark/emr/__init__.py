"""Run featurespark on Amazon EMR: spark-submit steps for the jobs and the ``featurespark emr`` command.

The bootstrap action, the cluster configurations and the packaging script live in ``bootstrap/``;
``docs/emr.md`` walks from an empty AWS account to a training set.
"""
from __future__ import annotations

from featurespark.emr.cli import add_emr_subcommand, run_emr_command
from featurespark.emr.client import add_steps, emr_client
from featurespark.emr.errors import ClusterUnavailableError, EmrError
from featurespark.emr.steps import ACTIONS_ON_FAILURE, EMR_DELTA_JAR, JOBS, build_step, job_script_uri

__all__ = [
    "ACTIONS_ON_FAILURE",
    "ClusterUnavailableError",
    "EMR_DELTA_JAR",
    "EmrError",
    "JOBS",
    "add_emr_subcommand",
    "add_steps",
    "build_step",
    "emr_client",
    "job_script_uri",
    "run_emr_command",
]
