"""Test helpers for a local Kafka broker: started and stopped through bootstrap/kafka/{start,stop}.sh.

The session fixture ``kafka`` (tests/conftest.py) starts one single-node KRaft broker on free
127.0.0.1 ports; tests that need it fail (never skip) if it cannot start.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from dynamodb_local import free_port

SCRIPTS = Path(__file__).resolve().parent.parent / "bootstrap" / "kafka"


@dataclass(frozen=True)
class KafkaBroker:
    """A running broker: ``bootstrap_servers`` is ``127.0.0.1:<port>``."""

    bootstrap_servers: str
    pid_file: Path
    log_file: Path


def start_kafka(workdir: Path, *, timeout_s: int = 120, attempts: int = 3) -> KafkaBroker:
    """Start a broker on free loopback ports; raise RuntimeError with the script's output if it cannot."""
    output = ""
    for _ in range(attempts):
        port, controller = free_port(), free_port()
        pid_file, log_file = workdir / f"kafka-{port}.pid", workdir / f"kafka-{port}.log"
        proc = subprocess.run(
            ["bash", str(SCRIPTS / "start.sh"), "--port", str(port), "--controller-port", str(controller),
             "--data-dir", str(workdir / f"data-{port}"), "--pid-file", str(pid_file), "--log-file", str(log_file),
             "--timeout", str(timeout_s)],
            capture_output=True, text=True, timeout=timeout_s + 600, check=False,
        )
        if proc.returncode == 0:
            return KafkaBroker(f"127.0.0.1:{port}", pid_file, log_file)
        output = f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        if "already in use" not in proc.stderr:
            break
    raise RuntimeError(f"Could not start Kafka with bootstrap/kafka/start.sh (needs Java 17 and, the first "
                       f"time, Maven with access to Maven Central):\n{output}")


def stop_kafka(broker: KafkaBroker) -> None:
    """Stop a broker started by :func:`start_kafka`."""
    subprocess.run(["bash", str(SCRIPTS / "stop.sh"), "--pid-file", str(broker.pid_file)],
                   capture_output=True, text=True, timeout=60, check=False)
