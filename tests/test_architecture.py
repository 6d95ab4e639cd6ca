"""The layering of docs/architecture.md, checked on the source: toolkits below services below the facade.

These tests read import statements (no Spark) and import the package in subprocesses where pyspark,
pandas and pyarrow cannot be imported, as in a Lambda or on a laptop with only boto3 and pyyaml.
"""
from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

import pytest

import featurespark

PACKAGE = Path(featurespark.__file__).resolve().parent
REPO = PACKAGE.parent
TOOLKITS = ("definitions", "pit", "aggregations", "offline", "online", "registry", "streaming")
FORBIDDEN_FOR_TOOLKITS = ("featurespark.config", "featurespark.services", "featurespark.store", "featurespark.cli")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _modules(package: str) -> list[Path]:
    return sorted((PACKAGE / package).rglob("*.py"))


@pytest.mark.parametrize("toolkit", TOOLKITS)
def test_toolkits_never_see_the_config_the_services_or_the_facade(toolkit: str) -> None:
    offenders = {
        str(path.relative_to(REPO)): sorted(m for m in _imports(path) if m.startswith(FORBIDDEN_FOR_TOOLKITS))
        for path in _modules(toolkit)
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_online_and_streaming_do_not_reach_sideways() -> None:
    sideways = {
        "online": ("featurespark.registry", "featurespark.offline", "featurespark.training", "featurespark.pit"),
        "streaming": ("featurespark.online", "featurespark.offline", "featurespark.registry"),
    }
    offenders = {
        str(path.relative_to(REPO)): sorted(m for m in _imports(path) if m.startswith(banned))
        for package, banned in sideways.items()
        for path in _modules(package)
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_every_public_module_declares_its_api_and_every_listed_name_exists() -> None:
    missing_all, missing_names = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(REPO).with_suffix("")
        if any(part.startswith("_") for part in relative.parts) or relative.parts[1] == "emr":
            continue
        module = importlib.import_module(".".join(relative.parts))
        exported = getattr(module, "__all__", None)
        if exported is None:
            missing_all.append(str(relative))
            continue
        missing_names += [f"{relative}.{name}" for name in exported if not hasattr(module, name)]
    assert missing_all == [] and missing_names == []


def test_result_and_error_types_have_one_name_each_and_are_exported_from_the_root() -> None:
    owners: dict[str, list[str]] = defaultdict(list)
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                owners[node.name].append(str(path.relative_to(REPO)))
    assert {name: files for name, files in owners.items() if len(files) > 1} == {}
    for name in ("OfflineWriteSummary", "OnlineWriteSummary", "PushSummary", "OnlineResponse", "HistoricalRetrieval",
                 "FeatureStream", "FeatureServer", "RetryPolicy", "FeaturesparkError", "RetriesExhaustedError"):
        assert name in featurespark.__all__
        assert getattr(featurespark, name).__name__ == name


_BLOCK_HEAVY_IMPORTS = textwrap.dedent(
    """
    import sys

    class Refuse:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {"pyspark", "pandas", "pyarrow", "numpy", "py4j"}:
                raise ImportError(f"{name} is not installed here")
            return None

    sys.meta_path.insert(0, Refuse())
    """
)


def test_online_lookups_and_the_registry_snapshot_load_without_spark_or_pandas() -> None:
    code = _BLOCK_HEAVY_IMPORTS + textwrap.dedent(
        """
        import featurespark
        from featurespark import FeatureServer, load_snapshot, Entity, FeatureView, Field
        from featurespark.online import OnlineReader, ItemLayout
        from featurespark.online.tiles import TiledLayout, evaluate, get_aggregates
        from featurespark.online.tiles.read import get_aggregates as _read
        view = FeatureView(name="v", entities=[Entity("e", join_keys={"k": "int64"})], schema=[Field("x", "float64")])
        assert view.feature_names == ["x"]
        assert not [m for m in sys.modules if m.split(".")[0] in {"pyspark", "pandas", "pyarrow"}]
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
