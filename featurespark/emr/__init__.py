"""Run featurespark on Amazon EMR: steps and EMR Serverless job runs for the jobs, and their commands.

The bootstrap action, the cluster configurations and the packaging script live in ``bootstrap/``;
``docs/emr.md`` walks from an empty AWS account to a training set.
"""
from __future__ import annotations

from featurespark.emr.cli import add_emr_subcommand, run_emr_command
from featurespark.emr.client import add_steps, emr_client
from featurespark.emr.errors import ClusterUnavailableError, EmrError, StepConcurrencyError
from featurespark.emr.serverless import build_job_run, start_job_run, wait_for_job_run
from featurespark.emr.steps import ACTIONS_ON_FAILURE, EMR_DELTA_JAR, EMR_LOG_STORE_JAR, JOBS, build_step, \
    job_script_uri
from featurespark.emr.wait import StepOutcome, wait_for_steps

__all__ = [
    "ACTIONS_ON_FAILURE",
    "ClusterUnavailableError",
    "EMR_DELTA_JAR",
    "EMR_LOG_STORE_JAR",
    "EmrError",
    "JOBS",
    "StepConcurrencyError",
    "StepOutcome",
    "add_emr_subcommand",
    "add_steps",
    "build_job_run",
    "build_step",
    "emr_client",
    "job_script_uri",
    "run_emr_command",
    "start_job_run",
    "wait_for_job_run",
    "wait_for_steps",
]
