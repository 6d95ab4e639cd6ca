"""bootstrap/emr-bootstrap.sh run against fake aws / pip / python3 / sudo (tests/fake_bin), and shellcheck.

The fakes append each invocation to a log (program and arguments, tab-separated); the fake pip keeps the
"installed" featurespark version in a state folder, so a second run sees the first one's install.
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
WHEEL = "featurespark-0.1.0-py3-none-any.whl"
URI = f"s3://my-bucket/featurespark/dist/{WHEEL}"
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \[featurespark-bootstrap\] ")
PIP_INSTALL = ["install", "--no-cache-dir", "--disable-pip-version-check"]


@dataclass
class Sandbox:
    bin: Path
    log: Path
    state: Path
    tmp: Path
    env: dict[str, str]

    @property
    def python(self) -> str:
        return str(self.bin / "python3")

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
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
    state, tmp = tmp_path / "state", tmp_path / "tmp"
    state.mkdir()
    tmp.mkdir()
    log = tmp_path / "calls.log"
    env = {"PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}", "FAKE_LOG": str(log), "FAKE_STATE": str(state),
           "FAKE_UID": "1000", "TMPDIR": str(tmp), "HOME": str(tmp_path), "LC_ALL": "C"}
    return Sandbox(bin=fake_bin, log=log, state=state, tmp=tmp, env=env)


def download_target(calls: list[list[str]]) -> str:
    (aws,) = [c for c in calls if c[0] == "aws"]
    assert aws[:4] == ["aws", "s3", "cp", "--only-show-errors"] and aws[4] == URI
    assert aws[5].endswith(f"/{WHEEL}")
    return aws[5]


def test_first_run_downloads_and_installs_with_sudo_then_second_run_does_nothing(sandbox: Sandbox) -> None:
    first = sandbox.run("--python", sandbox.python, URI)
    assert first.returncode == 0, first.stderr
    calls = sandbox.calls()
    wheel = download_target(calls)
    assert wheel.startswith(str(sandbox.tmp))
    py, pip = ["python3"], ["-m", "pip"]
    assert calls == [
        [*py, *pip, "--version"],
        [*py, *pip, "show", "featurespark"],
        ["aws", "s3", "cp", "--only-show-errors", URI, wheel],
        ["sudo", sandbox.python, *pip, *PIP_INSTALL, wheel],
        [*py, *pip, *PIP_INSTALL, wheel],
        [*py, *pip, "show", "featurespark"],
    ]
    lines = first.stdout.splitlines()
    assert lines and all(LOG_LINE.match(line) for line in lines)
    assert f"installing featurespark 0.1.0 for {sandbox.python} (installed: none) from {URI}" in first.stdout
    assert lines[-1].endswith(f"featurespark 0.1.0 installed for {sandbox.python}")
    assert list(sandbox.tmp.iterdir()) == [], "the download folder is removed"

    sandbox.log.unlink()
    second = sandbox.run("--python", sandbox.python, URI)
    assert second.returncode == 0, second.stderr
    assert sandbox.calls() == [[*py, *pip, "--version"], [*py, *pip, "show", "featurespark"]]
    assert "featurespark 0.1.0 is already installed" in second.stdout and "nothing to do" in second.stdout


def test_a_new_version_replaces_the_installed_one(sandbox: Sandbox) -> None:
    (sandbox.state / "featurespark.version").write_text("0.0.9\n")
    result = sandbox.run("--python", sandbox.python, URI)
    assert result.returncode == 0, result.stderr
    assert "(installed: 0.0.9)" in result.stdout
    assert (sandbox.state / "featurespark.version").read_text().strip() == "0.1.0"


def test_as_root_without_sudo_and_with_an_explicit_pip(sandbox: Sandbox) -> None:
    pip = str(sandbox.bin / "pip")
    result = sandbox.run("--pip", pip, URI, FAKE_UID="0")
    assert result.returncode == 0, result.stderr
    calls = sandbox.calls()
    wheel = download_target(calls)
    assert [c[0] for c in calls] == ["pip", "pip", "aws", "pip", "pip"]
    assert calls[3] == ["pip", *PIP_INSTALL, wheel]


def test_python_from_the_environment(sandbox: Sandbox) -> None:
    result = sandbox.run(URI, FEATURESPARK_PYTHON=sandbox.python)
    assert result.returncode == 0, result.stderr
    assert ["sudo", sandbox.python, "-m", "pip", *PIP_INSTALL, download_target(sandbox.calls())] in sandbox.calls()


def test_force_reinstalls_the_same_version_without_dependencies(sandbox: Sandbox) -> None:
    (sandbox.state / "featurespark.version").write_text("0.1.0\n")
    result = sandbox.run("--python", sandbox.python, "--force", URI)
    assert result.returncode == 0, result.stderr
    wheel = download_target(sandbox.calls())
    assert ["sudo", sandbox.python, "-m", "pip", *PIP_INSTALL, "--force-reinstall", "--no-deps", wheel] \
        in sandbox.calls()


def test_missing_argument_fails_loudly_and_runs_nothing(sandbox: Sandbox) -> None:
    result = sandbox.run("--python", sandbox.python)
    assert result.returncode == 2
    assert LOG_LINE.match(result.stderr)
    assert ("ERROR: missing argument: the S3 URI of the featurespark wheel, e.g. "
            "s3://my-bucket/featurespark/dist/featurespark-0.1.0-py3-none-any.whl") in result.stderr
    assert "usage: emr-bootstrap.sh" in result.stderr
    assert sandbox.calls() == []


@pytest.mark.parametrize(("uri", "message"), [
    ("my-bucket/featurespark-0.1.0-py3-none-any.whl", "is not the S3 URI of a wheel"),
    ("s3://my-bucket/dist/featurespark-0.1.0.zip", "is not the S3 URI of a wheel"),
    ("s3://my-bucket/dist/other-0.1.0-py3-none-any.whl", "'other-0.1.0-py3-none-any.whl' is not a featurespark "
                                                         "wheel file name"),
])
def test_a_uri_that_is_not_a_featurespark_wheel(sandbox: Sandbox, uri: str, message: str) -> None:
    result = sandbox.run("--python", sandbox.python, uri)
    assert result.returncode == 2
    assert message in result.stderr
    assert sandbox.calls() == []


def test_download_failure_names_the_uri_and_the_likely_cause(sandbox: Sandbox) -> None:
    result = sandbox.run("--python", sandbox.python, URI, FAKE_AWS_FAIL="1")
    assert result.returncode == 1
    assert f"ERROR: could not download {URI}: check that it exists" in result.stderr
    assert "instance profile may s3:GetObject it" in result.stderr
    assert not any(c[0] == "sudo" or "install" in c for c in sandbox.calls())
    assert list(sandbox.tmp.iterdir()) == []


def test_pip_failure_is_reported(sandbox: Sandbox) -> None:
    result = sandbox.run("--python", sandbox.python, URI, FAKE_PIP_FAIL="1")
    assert result.returncode == 1
    assert f"ERROR: pip could not install {WHEEL} for {sandbox.python}" in result.stderr
    assert not (sandbox.state / "featurespark.version").exists()


def test_missing_python_and_unknown_option(sandbox: Sandbox) -> None:
    result = sandbox.run("--python", "/nonexistent/python3", URI)
    assert result.returncode == 1
    assert "Python interpreter '/nonexistent/python3' not found; pass --python PATH." in result.stderr
    result = sandbox.run("--pyhton", sandbox.python, URI)
    assert result.returncode == 2
    assert "unknown option '--pyhton'" in result.stderr


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
