"""`pip install featurespark` without extras: the EMR commands run with boto3 and pyyaml only.

The commands run in a fresh interpreter whose import system refuses Spark, pandas, pyarrow and numpy, as on
a laptop or CI runner that has only the base requirements.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFUSED = ("pyspark", "py4j", "pandas", "pyarrow", "numpy", "delta")

# Installed before featurespark is imported: any import of a refused package fails loudly.
_PRELUDE = f"""
import sys

class _Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {REFUSED!r}:
            raise ImportError(f"{{name}} must not be imported by the light CLI")
        return None

sys.meta_path.insert(0, _Refuse())
from featurespark.cli import main
code = main(sys.argv[1:])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {REFUSED!r})
assert not loaded, loaded
sys.exit(code)
"""


def light(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _PRELUDE, *argv], capture_output=True, text=True, cwd=cwd,
                          timeout=120, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT),
                                            "AWS_EC2_METADATA_DISABLED": "true"})


def test_the_hook_does_refuse() -> None:
    result = subprocess.run([sys.executable, "-c", _PRELUDE.replace("from featurespark.cli import main",
                                                                      "import pandas")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "pandas must not be imported by the light CLI" in result.stderr


@pytest.mark.parametrize("argv", [["--help"], ["emr", "add-steps", "--help"], ["emr-serverless", "submit", "--help"]])
def test_help_needs_no_spark(argv: list[str]) -> None:
    result = light(*argv)
    assert result.returncode == 0, result.stderr
    assert "usage: featurespark" in result.stdout


def test_emr_dry_runs_need_no_spark() -> None:
    config = ["--config", "s3://my-bucket/featurespark/conf/emr.yaml"]
    steps = light("emr", "add-steps", "--cluster-id", "j-2AXXXXXXGAPLF", "--job", "materialize", "--code-uri",
                  "s3://my-bucket/featurespark/jobs/", "--dry-run", "--", *config, "--incremental", "--end",
                  "2026-01-02T00:00:00")
    assert steps.returncode == 0, steps.stderr
    assert json.loads(steps.stdout)["Steps"][0]["HadoopJarStep"]["Args"][-5:-3] == config
    run = light("emr-serverless", "submit", "--application-id", "00fabcd1234567", "--execution-role-arn",
                "arn:aws:iam::123456789012:role/fs", "--job", "ingest", "--code-uri",
                "s3://my-bucket/featurespark/jobs/", "--environment-uri",
                "s3://my-bucket/featurespark/dist/featurespark-venv.tar.gz", "--dry-run", "--", *config)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["jobDriver"]["sparkSubmit"]["entryPointArguments"] == config


def test_init_and_a_featurespark_error_need_no_spark(tmp_path: Path) -> None:
    assert light("init", str(tmp_path / "repo")).returncode == 0
    assert (tmp_path / "repo" / "featurespark.yaml").is_file()
    bad = light("emr", "add-steps", "--cluster-id", "j-1", "--job", "ingest", "--code-uri", "jobs/", "--dry-run")
    assert bad.returncode == 1 and "error: code_uri must be the s3:// URI" in bad.stderr


def test_the_public_names_resolve_lazily() -> None:
    import featurespark

    code = ("import sys, featurespark; assert 'pyspark' not in sys.modules; "
            "from featurespark import FeatureStore, load_config; assert 'pyspark' in sys.modules; "
            "print(sorted(featurespark.__all__) == featurespark.__all__, FeatureStore.__name__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.stdout.split() == ["True", "FeatureStore"], result.stderr
    assert "FeatureStore" in dir(featurespark)
    with pytest.raises(AttributeError, match="module 'featurespark' has no attribute 'FeatureStor'"):
        getattr(featurespark, "FeatureStor")
    # The table and the names typed for mypy (the TYPE_CHECKING imports) list the same names.
    import ast

    tree = ast.parse((ROOT / "featurespark" / "__init__.py").read_text())
    typed = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
             and node.module.startswith("featurespark.") and node.module != "featurespark._lazy" for alias in node.names}
    assert typed == set(featurespark._EXPORTS)
    assert all(getattr(featurespark, name) is not None for name in featurespark._EXPORTS)
