"""Test helpers for the local DynamoDB endpoint: start/stop one through the repo's bootstrap scripts.

The session fixture ``dynamodb_local`` (tests/conftest.py) starts one instance on a free port on
127.0.0.1 with ``bootstrap/dynamodb-local/start.sh`` (moto's server, run by this interpreter) and stops it with ``stop.sh`` at the end of the session. If it cannot start, the tests that
need it fail with the script's output; they are never skipped.

Test modules import the credential fixtures from here: ``from dynamodb_local import aws_env``.
"""
from __future__ import annotations

import socket
import sys
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest
from pyspark.sql import SparkSession

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "bootstrap" / "dynamodb-local"
REGION = "us-east-1"
#: Dummy credentials (letters and digits, which every local DynamoDB endpoint accepts);
#: the library reads them from the default chain.
DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "featuresparkTest",
    "AWS_SECRET_ACCESS_KEY": "featuresparkTest",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
}


@dataclass(frozen=True)
class DynamoDBLocal:
    """A running local DynamoDB endpoint started by :func:`start_dynamodb_local`."""

    endpoint_url: str
    port: int
    pid_file: Path
    log_file: Path
    region: str = REGION

    def client(self) -> Any:
        """A low-level client with explicit dummy credentials (test code only)."""
        return boto3.session.Session().client(
            "dynamodb",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=DUMMY_AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        )


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_dynamodb_local(workdir: Path, *, timeout_s: int = 120, attempts: int = 3) -> DynamoDBLocal:
    """Start an in-memory DynamoDB endpoint (moto's server) on a free loopback port; raise RuntimeError if it cannot.

    Parameters
    ----------
    workdir : Path
        Folder for the pid and log files.
    timeout_s : int
        Seconds to wait for the server.
    attempts : int
        Tries with a new port when the chosen one was taken in the meantime.
    """
    output = ""
    for _ in range(attempts):
        port = free_port()
        pid_file, log_file = workdir / f"ddb-{port}.pid", workdir / f"ddb-{port}.log"
        proc = subprocess.run(
            ["bash", str(SCRIPTS / "start.sh"), "--port", str(port), "--pid-file", str(pid_file),
             "--log-file", str(log_file), "--timeout", str(timeout_s), "--python", sys.executable],
            capture_output=True, text=True, timeout=timeout_s + 600, check=False,
        )
        if proc.returncode == 0:
            return DynamoDBLocal(f"http://127.0.0.1:{port}", port, pid_file, log_file)
        output = f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        if "already in use" not in proc.stderr:
            break
    raise RuntimeError(
        "Could not start the local DynamoDB endpoint with bootstrap/dynamodb-local/start.sh (needs moto[server], "
        f"from featurespark's dev extra):\n{output}"
    )


def stop_dynamodb_local(instance: DynamoDBLocal) -> None:
    """Stop an instance started by :func:`start_dynamodb_local`."""
    subprocess.run(
        ["bash", str(SCRIPTS / "stop.sh"), "--pid-file", str(instance.pid_file)],
        capture_output=True, text=True, timeout=60, check=False,
    )


def unique_table(prefix: str = "fs_test") -> str:
    """A fresh table name (tables live for the whole session in the shared instance)."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


class FakeClock:
    """A clock that only moves when someone sleeps (for rate-limit and backoff tests)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def set_dummy_aws_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Put the dummy AWS credentials in this process's environment (undone with ``monkeypatch``), with no
    profile or credential file of the machine's in the way; return them."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in DUMMY_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    return dict(DUMMY_AWS_ENV)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Dummy AWS credentials in this process's environment, for the default credential chain."""
    return set_dummy_aws_env(monkeypatch)


@pytest.fixture
def spark_aws_env(spark: SparkSession, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Spark's Python workers run this interpreter and see the dummy credentials, for one test.

    The workers' environment is fixed when the JVM starts, plus ``SparkContext.environment``, which
    PySpark sends with every Python function; setting it here (and undoing it after the test) reaches
    the executors without touching the session's configuration. ``pythonExec`` is pointed at this
    interpreter too: without PYSPARK_PYTHON, workers run the first ``python3`` on PATH, which may lack
    featurespark's dependencies (boto3, pandas).
    """
    for name, value in aws_env.items():
        monkeypatch.setitem(spark.sparkContext.environment, name, value)
    monkeypatch.setattr(spark.sparkContext, "pythonExec", sys.executable)
    yield
