"""Follow EMR steps until they end (``featurespark emr add-steps --wait``), and say where a failure's logs are.

EMR copies a step's ``controller``, ``stdout`` and ``stderr`` logs to ``<log-uri>/<cluster>/steps/<step>/``
(gzip files) while it runs and within minutes after it ends. On a failed step the waiter prints that
folder and, when it can already read it, the last lines of ``stderr.gz`` (where spark-submit reports the
error of a client-mode driver, or the YARN application of a cluster-mode one).
"""
from __future__ import annotations

import gzip
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from botocore.exceptions import BotoCoreError, ClientError

from featurespark.emr.errors import EmrError

logger = logging.getLogger(__name__)

#: Step states after which nothing changes any more.
TERMINAL_STATES = frozenset({"COMPLETED", "CANCELLED", "FAILED", "INTERRUPTED"})
#: Lines of stderr shown for a failed step.
STDERR_TAIL_LINES = 40


@dataclass(frozen=True)
class StepOutcome:
    """How one step ended.

    Attributes
    ----------
    step_id, name, state : str
        The step and its final state (``COMPLETED``, ``FAILED``, ``CANCELLED``, ``INTERRUPTED``).
    log_folder : str or None
        ``s3://.../<cluster>/steps/<step>/`` when the cluster has a log URI.
    failure : str or None
        EMR's reason and message for a failed step.
    stderr_tail : str or None
        The last lines of the step's ``stderr.gz``, when it could be read.
    """

    step_id: str
    name: str
    state: str
    log_folder: Optional[str] = None
    failure: Optional[str] = None
    stderr_tail: Optional[str] = None

    @property
    def succeeded(self) -> bool:
        """True when the step completed."""
        return self.state == "COMPLETED"

    def describe(self) -> str:
        """A few lines for a person: the state, and for a failure where to look.

        Examples
        --------
        >>> StepOutcome("s-1", "featurespark ingest", "COMPLETED").describe()
        's-1 (featurespark ingest): COMPLETED'
        """
        lines = [f"{self.step_id} ({self.name}): {self.state}"]
        if self.succeeded:
            return lines[0]
        if self.failure:
            lines.append(f"  reason: {self.failure}")
        if self.log_folder:
            lines.append(f"  logs: {self.log_folder} (controller.gz, stdout.gz, stderr.gz)")
        else:
            lines.append("  logs: the cluster has no log URI; see the step on the primary node under "
                         "/mnt/var/log/hadoop/steps/")
        if self.stderr_tail:
            lines.append(f"  last lines of stderr:\n{_indent(self.stderr_tail)}")
        elif self.log_folder:
            lines.append(f"  stderr is not on S3 yet (EMR copies step logs within about five minutes): "
                         f"aws s3 cp {self.log_folder}stderr.gz - | gunzip | tail -n {STDERR_TAIL_LINES}")
        return "\n".join(lines)


def wait_for_steps(
    cluster_id: str,
    step_ids: Sequence[str],
    *,
    client: Any,
    s3_client: Any = None,
    poll_seconds: float = 30.0,
    timeout_seconds: Optional[float] = None,
    report: Callable[[str], None] = logger.info,
    sleep: Optional[Callable[[float], None]] = None,
    clock: Optional[Callable[[], float]] = None,
) -> list[StepOutcome]:
    """Poll steps until each has ended; report every state change.

    Parameters
    ----------
    cluster_id : str
        The cluster, ``j-...``.
    step_ids : sequence of str
        The steps to follow, e.g. what :func:`featurespark.emr.add_steps` returned.
    client : botocore.client.EMR
        The EMR client the steps were added with.
    s3_client : botocore.client.S3, optional
        Reads the failed steps' ``stderr.gz`` (default: a client for the EMR client's region).
    poll_seconds : float
        Time between polls.
    timeout_seconds : float, optional
        Stop waiting after this long (the steps go on running).
    report : callable
        Called with one line per state change (the CLI prints them).
    sleep, clock : callable, optional
        Default ``time.sleep`` and ``time.monotonic``; injected in tests.

    Returns
    -------
    list of StepOutcome
        In the order of ``step_ids``.

    Raises
    ------
    EmrError
        If EMR cannot be asked, or the timeout passes first.

    Examples
    --------
    >>> outcomes = wait_for_steps("j-2AXXXXXXGAPLF", ["s-1XXXXXXXXXXXA"], client=emr_client("eu-west-1"),
    ...                           report=print)  # doctest: +SKIP
    s-1XXXXXXXXXXXA (featurespark materialize): PENDING
    s-1XXXXXXXXXXXA (featurespark materialize): RUNNING
    s-1XXXXXXXXXXXA (featurespark materialize): COMPLETED
    """
    sleep = sleep or time.sleep
    clock = clock or time.monotonic
    started = clock()
    last: dict[str, str] = {}
    steps: dict[str, dict[str, Any]] = {}
    while True:
        for step_id in step_ids:
            if last.get(step_id) in TERMINAL_STATES:
                continue
            steps[step_id] = _describe_step(client, cluster_id, step_id)
            state = str(steps[step_id].get("Status", {}).get("State", "UNKNOWN"))
            if state != last.get(step_id):
                report(f"{step_id} ({steps[step_id].get('Name', '?')}): {state}")
                last[step_id] = state
        if all(last.get(s) in TERMINAL_STATES for s in step_ids):
            break
        if timeout_seconds is not None and clock() - started >= timeout_seconds:
            pending = ", ".join(f"{s} {last.get(s)}" for s in step_ids if last.get(s) not in TERMINAL_STATES)
            raise EmrError(f"Stopped waiting after {timeout_seconds:.0f}s; still running on {cluster_id}: {pending}. "
                           f"Follow them with `aws emr describe-step --cluster-id {cluster_id} --step-id ...`.")
        sleep(poll_seconds)
    log_uri = _cluster_log_uri(client, cluster_id) if any(last[s] != "COMPLETED" for s in step_ids) else None
    return [_outcome(cluster_id, steps[s], log_uri, client, s3_client) for s in step_ids]


def step_log_folder(log_uri: str, cluster_id: str, step_id: str) -> str:
    """The S3 folder of a step's logs, from the cluster's log URI (EMR reports it as ``s3n://``).

    Examples
    --------
    >>> step_log_folder("s3n://my-bucket/featurespark/logs/", "j-2AXXXXXXGAPLF", "s-1XXXXXXXXXXXA")
    's3://my-bucket/featurespark/logs/j-2AXXXXXXGAPLF/steps/s-1XXXXXXXXXXXA/'
    """
    base = log_uri.replace("s3n://", "s3://", 1).replace("s3a://", "s3://", 1).rstrip("/")
    return f"{base}/{cluster_id}/steps/{step_id}/"


def _describe_step(client: Any, cluster_id: str, step_id: str) -> dict[str, Any]:
    try:
        step: dict[str, Any] = client.describe_step(ClusterId=cluster_id, StepId=step_id)["Step"]
    except (ClientError, BotoCoreError) as exc:
        raise EmrError(f"Cannot describe step {step_id} of EMR cluster {cluster_id}: {exc}. The caller needs "
                       "elasticmapreduce:DescribeStep (see the submitter policy in docs/emr.md).") from exc
    return step


def _cluster_log_uri(client: Any, cluster_id: str) -> Optional[str]:
    try:
        uri = client.describe_cluster(ClusterId=cluster_id)["Cluster"].get("LogUri")
    except (ClientError, BotoCoreError) as exc:
        logger.warning("cannot read the log URI of %s: %s", cluster_id, exc)
        return None
    return str(uri) if uri else None


def _outcome(cluster_id: str, step: dict[str, Any], log_uri: Optional[str], client: Any,
             s3_client: Any) -> StepOutcome:
    status = step.get("Status", {})
    state = str(status.get("State", "UNKNOWN"))
    step_id, name = str(step.get("Id")), str(step.get("Name", "?"))
    if state == "COMPLETED":
        return StepOutcome(step_id, name, state)
    details = status.get("FailureDetails") or {}
    reason = status.get("StateChangeReason", {}).get("Message")
    failure = "; ".join(str(x) for x in (details.get("Reason"), details.get("Message"), reason) if x) or None
    folder = step_log_folder(log_uri, cluster_id, step_id) if log_uri else None
    tail = _stderr_tail(folder, client, s3_client) if folder else None
    return StepOutcome(step_id, name, state, folder, failure, tail)


def _stderr_tail(folder: str, client: Any, s3_client: Any) -> Optional[str]:
    from featurespark.aws import split_s3_uri

    bucket, prefix = split_s3_uri(folder + "stderr.gz")
    if s3_client is None:
        import boto3

        s3_client = boto3.session.Session().client("s3", region_name=client.meta.region_name)
    try:
        body = s3_client.get_object(Bucket=bucket, Key=prefix)["Body"].read()
        text = gzip.decompress(body).decode("utf-8", errors="replace")
    except (ClientError, BotoCoreError, OSError) as exc:
        # Not there yet (EMR copies logs every few minutes) or not readable: the message says where to look.
        logger.info("cannot read s3://%s/%s yet: %s", bucket, prefix, exc)
        return None
    return "\n".join(text.rstrip("\n").splitlines()[-STDERR_TAIL_LINES:])


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines())
