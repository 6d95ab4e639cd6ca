"""Submit steps to a running EMR cluster with boto3 (``AddJobFlowSteps``), translating its errors.

Credentials always come from the AWS default chain (environment, profile, instance role); none are
passed or stored here.
"""
from __future__ import annotations

import logging
import re
from typing import Any, Mapping, Optional, Sequence

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from featurespark.emr.errors import ClusterUnavailableError, EmrError, StepConcurrencyError
from featurespark.errors import InvalidArgumentError

logger = logging.getLogger(__name__)

_CLUSTER_ID = re.compile(r"^j-[0-9A-Za-z]{1,64}$")
#: Cluster states in which EMR accepts new steps.
_ACCEPTS_STEPS = frozenset({"STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING"})
_MAX_STEPS = 256  # AddJobFlowSteps takes at most 256 steps per call
_MAX_CONCURRENCY = 256  # EMR's limit on StepConcurrencyLevel
_NOT_FOUND_CODES = frozenset({"InvalidRequestException", "ValidationException", "ResourceNotFoundException"})


def emr_client(region: Optional[str] = None) -> Any:
    """Create a boto3 EMR client with credentials from the AWS default chain.

    Parameters
    ----------
    region : str, optional
        AWS region of the cluster; ``None`` uses the default chain (``AWS_REGION``,
        ``AWS_DEFAULT_REGION``, the profile's ``region``).

    Returns
    -------
    botocore.client.EMR
        The client.

    Raises
    ------
    EmrError
        If no region is given and the default chain has none.

    Examples
    --------
    >>> client = emr_client("eu-west-1")  # doctest: +SKIP
    """
    import boto3

    try:
        # A session of its own: boto3's shared default session caches credentials and is not thread-safe.
        return boto3.session.Session().client("emr", region_name=region)
    except BotoCoreError as exc:
        raise EmrError(f"Cannot create an EMR client: {exc}. Pass --region (region=...) or set "
                       f"AWS_REGION.") from exc


def add_steps(
    cluster_id: str,
    steps: Sequence[Mapping[str, Any]],
    *,
    region: Optional[str],
    client: Any = None,
    min_concurrency: int = 1,
    raise_concurrency_to: Optional[int] = None,
) -> list[str]:
    """Add steps to a running EMR cluster.

    The cluster is described first, so an unknown id or a terminated cluster gives a clear error
    rather than the API's generic one. A step that never ends (a stream) needs a cluster that runs
    several steps at once: ``min_concurrency=2`` refuses a cluster whose step concurrency is lower,
    unless ``raise_concurrency_to`` allows raising it.

    Parameters
    ----------
    cluster_id : str
        The cluster, ``j-`` followed by letters and digits (``aws emr list-clusters --active``).
    steps : sequence of dict
        Steps from :func:`featurespark.emr.build_step` (1 to 256).
    region : str or None
        AWS region of the cluster; ``None`` uses the default chain. Ignored when ``client`` is given.
    client : botocore.client.EMR, optional
        A client to use instead of creating one (tests, custom retry settings).
    min_concurrency : int, optional
        The step concurrency the cluster must have (its ``StepConcurrencyLevel``; EMR's default is 1).
    raise_concurrency_to : int, optional
        If the cluster's concurrency is below ``min_concurrency``, set it to this (``ModifyCluster``,
        2 to 256) instead of refusing.

    Returns
    -------
    list of str
        The new step ids (``s-...``), in the order of ``steps``.

    Raises
    ------
    InvalidArgumentError
        If the cluster id is malformed, the number of steps is out of range, or ``raise_concurrency_to``
        is below ``min_concurrency`` or above 256.
    ClusterUnavailableError
        If no such cluster exists in the region, or it is terminating or terminated.
    StepConcurrencyError
        If the cluster runs fewer steps at once than ``min_concurrency`` and raising it was not asked.
    EmrError
        If the EMR API refuses the call (access denied, throttling) or cannot be reached.

    Examples
    --------
    >>> from featurespark.emr import build_step
    >>> step = build_step("ingest", ["--config", "emr.yaml", "--view", "driver_stats",
    ...                              "--source-table", "raw.driver_stats", "--mode", "append"],
    ...                   code_uri="s3://my-bucket/featurespark/jobs/")
    >>> add_steps("j-2AXXXXXXGAPLF", [step], region="eu-west-1")  # doctest: +SKIP
    ['s-1XXXXXXXXXXXA']
    """
    if not _CLUSTER_ID.match(cluster_id or ""):
        raise InvalidArgumentError(
            f"{cluster_id!r} is not an EMR cluster id (they look like j-2AXXXXXXGAPLF); list the running "
            "ones with `aws emr list-clusters --active`."
        )
    if not 1 <= len(steps) <= _MAX_STEPS:
        raise InvalidArgumentError(f"Pass 1 to {_MAX_STEPS} steps per call; got {len(steps)}.")
    if raise_concurrency_to is not None and not max(min_concurrency, 2) <= raise_concurrency_to <= _MAX_CONCURRENCY:
        raise InvalidArgumentError(f"The step concurrency to raise to must be {max(min_concurrency, 2)} to "
                                   f"{_MAX_CONCURRENCY}; got {raise_concurrency_to}.")
    emr = client if client is not None else emr_client(region)
    where = f"region {emr.meta.region_name}"

    try:
        cluster = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]
    except ClientError as exc:
        code, message = _error_parts(exc)
        if code in _NOT_FOUND_CODES:
            raise ClusterUnavailableError(
                f"EMR cluster {cluster_id} was not found in {where} ({code}: {message}). Check the id and "
                f"the region: `aws emr list-clusters --active --region {emr.meta.region_name}`."
            ) from exc
        raise _api_error("describe", cluster_id, where, exc) from exc
    except BotoCoreError as exc:
        raise _api_error("describe", cluster_id, where, exc) from exc

    state = cluster.get("Status", {}).get("State", "UNKNOWN")
    if state not in _ACCEPTS_STEPS:
        raise ClusterUnavailableError(
            f"EMR cluster {cluster_id} ({cluster.get('Name', '?')}) in {where} is {state} and cannot take "
            "steps; create a new cluster (docs/emr.md) and pass its id."
        )

    level = int(cluster.get("StepConcurrencyLevel", 1))
    if level < min_concurrency:
        if raise_concurrency_to is None:
            raise StepConcurrencyError(
                f"EMR cluster {cluster_id} runs {level} step(s) at a time, and a stream is a step that does not end: "
                f"every later step would wait behind it. Raise the cluster's step concurrency: "
                f"`aws emr modify-cluster --cluster-id {cluster_id} --step-concurrency-level 5 --region "
                f"{emr.meta.region_name}`, or pass --step-concurrency 5 (raise_concurrency_to=5) to let featurespark "
                "do it (needs elasticmapreduce:ModifyCluster)."
            )
        try:
            emr.modify_cluster(ClusterId=cluster_id, StepConcurrencyLevel=raise_concurrency_to)
        except (ClientError, BotoCoreError) as exc:
            raise _api_error("raise the step concurrency of", cluster_id, where, exc) from exc
        logger.info("raised the step concurrency of %s from %d to %d", cluster_id, level, raise_concurrency_to)

    try:
        response = emr.add_job_flow_steps(JobFlowId=cluster_id, Steps=[dict(s) for s in steps])
    except (ClientError, BotoCoreError) as exc:
        raise _api_error("add steps to", cluster_id, where, exc) from exc
    step_ids = [str(s) for s in response["StepIds"]]
    logger.info("added %d step(s) to EMR cluster %s (%s, %s): %s", len(step_ids), cluster_id,
                cluster.get("Name", "?"), state, ", ".join(step_ids))
    return step_ids


def _error_parts(exc: ClientError) -> tuple[str, str]:
    error = exc.response.get("Error", {})
    return str(error.get("Code", "Unknown")), str(error.get("Message", exc))


def _api_error(action: str, cluster_id: str, where: str, exc: Exception) -> EmrError:
    if isinstance(exc, NoCredentialsError):
        return EmrError(
            f"Cannot {action} EMR cluster {cluster_id}: no AWS credentials found. Configure the default "
            "chain (AWS_PROFILE, `aws configure`, or an instance role)."
        )
    if isinstance(exc, ClientError):
        code, message = _error_parts(exc)
        hint = ""
        if "AccessDenied" in code or "UnauthorizedOperation" in code:
            hint = (" The caller needs elasticmapreduce:DescribeCluster and elasticmapreduce:AddJobFlowSteps "
                    "on the cluster, and ModifyCluster to raise its step concurrency (see the submitter policy in "
                    "docs/emr.md).")
        return EmrError(f"Cannot {action} EMR cluster {cluster_id} in {where}: {code}: {message}.{hint}")
    return EmrError(f"Cannot {action} EMR cluster {cluster_id} in {where}: {exc}.")
