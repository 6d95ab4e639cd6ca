"""bootstrap/emr-bootstrap.sh run against fake aws / python3 / sudo (tests/fake_bin), and shellcheck.

The fakes append each invocation to a log (program and arguments, tab-separated); `python3 -m venv` makes a
fake virtualenv whose pip keeps the "installed" featurespark version in a state folder, so a second run sees
the first one's install. The real thing (real pip, real wheels, the aws CLI against a local S3 endpoint)
runs in the EMR dress rehearsal (tests/test_emr_rehearsal.py).
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bootstrap" / "emr-bootstrap.sh"
FAKES = Path(__file__).resolve().parent / "fake_bin"
URI = "s3://my-bucket/featurespark/wheelhouse/"
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \[featurespark-bootstrap\] ")
PIP_INSTALL = ["-m", "pip", "install", "--no-index", "--find-links"]


@dataclass
class Sandbox:
    bin: Path
    log: Path
    state: Path
    tmp: Path
    venv: Path
    links: Path
    env: dict[str, str]

    @property
    def python(self) -> str:
        return str(self.bin / "python3")

    @property
    def venv_python(self) -> str:
        return str(self.venv / "bin" / "python")

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        base = ["--python", self.python, "--venv", str(self.venv), "--bin-dir", str(self.links)]
        return subprocess.run(["bash", str(SCRIPT), *base, *args], capture_output=True, text=True,
                              env={**self.env, **env}, timeout=60)

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [line.split("\t") for line in self.log.read_text().splitlines()]


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    # Copies, made executable here: the test does not depend on git keeping the fakes' mode bits.
    fake_bin = tmp_path / "bin"
    shutil.copytree(FAKES, fake_bin)
    for fake in fake_bin.iterdir():
        fake.chmod(fake.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    state, tmp, links = tmp_path / "state", tmp_path / "tmp", tmp_path / "usr-local-bin"
    for folder in (state, tmp, links):
        folder.mkdir()
    log = tmp_path / "calls.log"
    env = {"PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}", "FAKE_LOG": str(log), "FAKE_STATE": str(state),
           "FAKE_UID": "1000", "TMPDIR": str(tmp), "HOME": str(tmp_path), "LC_ALL": "C"}
    return Sandbox(bin=fake_bin, log=log, state=state, tmp=tmp, venv=tmp_path / "opt" / "venv", links=links,
                   env=env)


def wheelhouse(calls: list[list[str]]) -> str:
    (aws,) = [c for c in calls if c[0] == "aws"]
    assert aws[:4] == ["aws", "s3", "sync", "--only-show-errors"] and aws[4] == URI
    assert aws[5].endswith("/wheelhouse")
    return aws[5]


def test_first_run_makes_a_virtualenv_from_the_wheelhouse_only_then_second_run_does_nothing(
        sandbox: Sandbox) -> None:
    first = sandbox.run(URI)
    assert first.returncode == 0, first.stderr
    calls = sandbox.calls()
    local = wheelhouse(calls)
    assert local.startswith(str(sandbox.tmp))
    venv, links = str(sandbox.venv), str(sandbox.links)
    install = [*PIP_INSTALL, local, "--no-cache-dir", "--disable-pip-version-check", "featurespark[emr]==0.1.0"]
    assert calls == [
        ["aws", "s3", "sync", "--only-show-errors", URI, local],
        ["python3", "--version"],
        ["sudo", sandbox.python, "-m", "venv", venv],
        ["python3", "-m", "venv", venv],
        ["sudo", sandbox.venv_python, *install],
        ["venv-python", *install],
        ["venv-python", "-m", "pip", "show", "featurespark"],
        ["sudo", "ln", "-sfn", f"{venv}/bin/featurespark", f"{links}/featurespark"],
    ]
    assert not any(c[0] in ("pip", "python3") and "install" in c for c in calls), "the system Python is untouched"
    lines = first.stdout.splitlines()
    assert lines and all(LOG_LINE.match(line) for line in lines)
    assert "installing featurespark[emr]==0.1.0 into " + venv + " from the wheelhouse only (installed: none)" \
        in first.stdout
    assert lines[-1].endswith(f"featurespark 0.1.0 installed in {venv} (PYSPARK_PYTHON={venv}/bin/python)")
    assert (sandbox.links / "featurespark").resolve() == sandbox.venv / "bin" / "featurespark"
    assert list(sandbox.tmp.iterdir()) == [], "the download folder is removed"

    sandbox.log.unlink()
    second = sandbox.run(URI)
    assert second.returncode == 0, second.stderr
    assert [c[0] for c in sandbox.calls()] == ["aws", "venv-python"]
    assert f"featurespark 0.1.0 is already installed in {venv}; nothing to do" in second.stdout


def test_a_new_version_is_installed_into_the_existing_virtualenv(sandbox: Sandbox) -> None:
    assert sandbox.run(URI).returncode == 0
    sandbox.log.unlink()
    result = sandbox.run(URI, FAKE_WHEELS="featurespark-0.2.0-py3-none-any.whl")
    assert result.returncode == 0, result.stderr
    assert "(installed: 0.1.0)" in result.stdout
    assert not any(c[:3] == ["python3", "-m", "venv"] for c in sandbox.calls()), "the virtualenv is reused"
    assert (sandbox.state / "featurespark.version").read_text().strip() == "0.2.0"


def test_as_root_without_sudo_and_force_reinstalls(sandbox: Sandbox) -> None:
    assert sandbox.run(URI, FAKE_UID="0").returncode == 0
    assert not any(c[0] == "sudo" for c in sandbox.calls())
    sandbox.log.unlink()
    result = sandbox.run("--force", URI, FAKE_UID="0")
    assert result.returncode == 0, result.stderr
    (install,) = [c for c in sandbox.calls() if "install" in c]
    assert install[-2:] == ["--force-reinstall", "featurespark[emr]==0.1.0"]


def test_missing_argument_fails_loudly_and_runs_nothing(sandbox: Sandbox) -> None:
    result = sandbox.run()
    assert result.returncode == 2
    assert LOG_LINE.match(result.stderr)
    assert ("ERROR: missing argument: the S3 folder of the wheelhouse, e.g. "
            "s3://my-bucket/featurespark/wheelhouse/") in result.stderr
    assert "usage: emr-bootstrap.sh" in result.stderr
    assert sandbox.calls() == []


@pytest.mark.parametrize(("args", "message", "code"), [
    (["my-bucket/wheelhouse/"], "'my-bucket/wheelhouse/' is not an S3 folder", 2),
    (["--venv", "relative/venv", URI], "--venv must be an absolute path; got 'relative/venv'", 2),
    (["--pyhton", "x", URI], "unknown option '--pyhton'", 2),
])
def test_bad_arguments(sandbox: Sandbox, args: list[str], message: str, code: int) -> None:
    result = sandbox.run(*args)
    assert result.returncode == code
    assert message in result.stderr
    assert sandbox.calls() == []


@pytest.mark.parametrize(("env", "message"), [
    ({"FAKE_AWS_FAIL": "1"}, f"ERROR: could not download {URI}: check that it exists"),
    ({"FAKE_WHEELS": "pandas-2.3.3-cp39-cp39-manylinux_2_28_x86_64.whl"},
     f"ERROR: expected one featurespark-<version>-*.whl in {URI}, found 0"),
    ({"FAKE_VENV_FAIL": "1"}, "ERROR: could not create the virtualenv"),
    ({"FAKE_PIP_FAIL": "1"}, "ERROR: pip could not install featurespark[emr]==0.1.0 from " + URI),
])
def test_failures_say_what_failed(sandbox: Sandbox, env: dict[str, str], message: str) -> None:
    result = sandbox.run(URI, **env)
    assert result.returncode == 1
    assert message in result.stderr
    assert not (sandbox.state / "featurespark.version").exists()
    assert list(sandbox.tmp.iterdir()) == []


def test_missing_python(sandbox: Sandbox) -> None:
    result = subprocess.run(["bash", str(SCRIPT), "--python", "/nonexistent/python3", URI], capture_output=True,
                            text=True, env=sandbox.env, timeout=60)
    assert result.returncode == 1
    assert "Python interpreter '/nonexistent/python3' not found; pass --python PATH." in result.stderr


def test_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        reason = ("shellcheck is not installed, so bootstrap/emr-bootstrap.sh and bootstrap/package.sh are not "
                  "linted: install it (apt-get install -y shellcheck) to run this test")
        print(reason)
        pytest.skip(reason)
    # Every shell script of the repository: bootstrap (EMR, set-up, local servers), benchmarks, CI.
    scripts = [*sorted((ROOT / "bootstrap").rglob("*.sh")), *sorted((ROOT / "benchmarks").glob("*.sh")),
               ROOT / ".ci" / "run", *sorted(p for p in FAKES.iterdir() if p.is_file())]
    result = subprocess.run([shellcheck, "--external-sources", "--shell=bash", *map(str, scripts)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
