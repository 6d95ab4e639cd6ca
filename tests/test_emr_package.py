"""bootstrap/package.sh: the wheel and the --py-files zip, and the zip imports on its own."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import featurespark

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(["bash", str(ROOT / "bootstrap" / "package.sh"), "--dist", str(out), "--no-jars"],
                            capture_output=True, text=True, env={**os.environ, "PYTHON": sys.executable},
                            timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


@pytest.mark.slow
def test_wheel_holds_the_package_and_its_runtime_requirements(dist: Path) -> None:
    wheel = dist / f"featurespark-{featurespark.__version__}-py3-none-any.whl"
    assert wheel.is_file()
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(f"featurespark-{featurespark.__version__}.dist-info/METADATA").decode()
    assert {"featurespark/__init__.py", "featurespark/config.py", "featurespark/emr/steps.py"} <= names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert sorted(r.split()[1].split(">")[0].lower() for r in requires) == ["boto3", "pyyaml"]
    emr = sorted(line.split()[1] for line in metadata.splitlines() if 'extra == "emr"' in line)
    assert emr == ["numpy==1.26.4;", "pandas==2.3.3;", "pyarrow==21.0.0;"]


@pytest.mark.slow
def test_wheelhouse_holds_every_wheel_for_python_39_and_nothing_to_build(dist: Path) -> None:
    wheels = sorted(p.name for p in (dist / "wheelhouse").iterdir())
    assert all(w.endswith(".whl") for w in wheels), "no source distributions: the nodes have no compiler"
    names = {w.split("-")[0].lower(): w for w in wheels}
    assert {"featurespark", "boto3", "botocore", "pyyaml", "pandas", "numpy", "pyarrow"} <= set(names)
    for binary in ("pandas", "numpy", "pyarrow", "pyyaml"):
        assert "-cp39-cp39-manylinux" in names[binary] and "x86_64" in names[binary], names[binary]
    assert names["numpy"].startswith("numpy-1.26.4-") and names["pandas"].startswith("pandas-2.3.3-")
    # Resolved for Python 3.9: botocore needs urllib3 < 1.27 there.
    assert names["urllib3"].startswith("urllib3-1.26.")


@pytest.mark.slow
def test_zip_imports_featurespark_from_itself(dist: Path, tmp_path: Path) -> None:
    archive = dist / f"featurespark-{featurespark.__version__}.zip"
    assert archive.is_file()
    with zipfile.ZipFile(archive) as z:
        names = z.namelist()
    assert "featurespark/config.py" in names and all(n.startswith("featurespark/") for n in names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    # From an empty folder, with the zip first on sys.path: featurespark must come from the zip, not from
    # this checkout or an installed copy.
    code = "import featurespark.config as c; print(c.__file__); print(c.load_config.__name__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(archive)}, timeout=120)
    assert result.returncode == 0, result.stderr
    location, name = result.stdout.split()
    assert location == str(archive / "featurespark" / "config.py")
    assert name == "load_config"
