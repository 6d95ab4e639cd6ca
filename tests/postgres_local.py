"""Test helper: a throwaway PostgreSQL server on 127.0.0.1 for the JdbcSource tests.

The session fixture ``postgres`` (tests/conftest.py) runs ``initdb`` into a fresh folder, starts the
server on a free 127.0.0.1 port with ``pg_ctl`` and stops it (and removes the folder) at the end of the
session. The binaries come from Debian's ``postgresql`` package, installed by
``bootstrap/postgresql/install.sh`` (run by ``bootstrap/setup-local.sh``). PostgreSQL refuses to run as
root, so under root the server runs as the ``postgres`` user the package creates. If it cannot start,
the tests that need it fail with the server's log; they are never skipped.
"""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dynamodb_local import free_port

REPO = Path(__file__).resolve().parent.parent
USER = "featurespark"


@dataclass(frozen=True)
class PostgresServer:
    """A running server started by :func:`start_postgres`."""

    port: int
    folder: Path
    password: str
    bin_dir: Path

    @property
    def url(self) -> str:
        return f"jdbc:postgresql://127.0.0.1:{self.port}/postgres"


def _bin_dir() -> Path:
    configured = os.environ.get("FEATURESPARK_PG_BIN")
    candidates = [Path(configured)] if configured else []
    found = shutil.which("initdb")
    if found:
        candidates.append(Path(found).resolve().parent)
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    raise RuntimeError("PostgreSQL is not installed: run `bash bootstrap/postgresql/install.sh` "
                       "(or bootstrap/setup-local.sh), or set FEATURESPARK_PG_BIN to its bin folder.")


def _run(cmd: list[str], *, as_postgres: bool) -> None:
    full = ["runuser", "-u", "postgres", "--", *cmd] if as_postgres else cmd
    result = subprocess.run(full, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout[-2000:]}\n"
                           f"{result.stderr[-2000:]}")


def start_postgres() -> PostgresServer:
    """initdb + pg_ctl start on a free 127.0.0.1 port; password authentication for user ``featurespark``."""
    bin_dir = _bin_dir()
    as_postgres = os.geteuid() == 0
    folder = Path(tempfile.mkdtemp(prefix="featurespark-pg-"))
    password = secrets.token_hex(12)
    (folder / "pwfile").write_text(password + "\n")
    if as_postgres:
        folder.chmod(0o755)
        shutil.chown(folder, "postgres")
        shutil.chown(folder / "pwfile", "postgres")
    port = free_port()
    data = folder / "data"
    _run([str(bin_dir / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={folder / 'pwfile'}",
          "--auth=scram-sha-256", "-E", "UTF8"], as_postgres=as_postgres)
    _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w", "-t", "60",
          "-o", f"-p {port} -h 127.0.0.1 -k {folder}", "start"], as_postgres=as_postgres)
    return PostgresServer(port=port, folder=folder, password=password, bin_dir=bin_dir)


def stop_postgres(server: PostgresServer) -> None:
    """Stop the server (fast shutdown) and remove its folder."""
    try:
        _run([str(server.bin_dir / "pg_ctl"), "-D", str(server.folder / "data"), "-m", "fast", "-w", "stop"],
             as_postgres=os.geteuid() == 0)
    finally:
        shutil.rmtree(server.folder, ignore_errors=True)
