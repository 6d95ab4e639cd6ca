"""bootstrap/emr-configurations.json: the EMR configuration shape and the settings featurespark needs."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

CONFIGURATIONS = Path(__file__).resolve().parents[1] / "bootstrap" / "emr-configurations.json"


def shape_errors(configurations: Any, where: str = "$") -> list[str]:
    """Every way ``configurations`` departs from EMR's shape: a list of {Classification, Properties?,
    Configurations?} objects, Properties mapping str to str, Configurations recursive."""
    if not isinstance(configurations, list):
        return [f"{where}: expected a list, got {type(configurations).__name__}"]
    errors: list[str] = []
    for i, item in enumerate(configurations):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            errors.append(f"{at}: expected an object")
            continue
        unknown = set(item) - {"Classification", "Properties", "Configurations"}
        if unknown:
            errors.append(f"{at}: unknown keys {sorted(unknown)}")
        if not isinstance(item.get("Classification"), str) or not item["Classification"]:
            errors.append(f"{at}.Classification: expected a non-empty string")
        properties = item.get("Properties", {})
        if not isinstance(properties, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in properties.items()):
            errors.append(f"{at}.Properties: expected an object of string values")
        if "Configurations" in item:
            errors.extend(shape_errors(item["Configurations"], f"{at}.Configurations"))
    return errors


def by_classification(configurations: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    names = [c["Classification"] for c in configurations]
    assert len(names) == len(set(names)), f"a classification appears twice: {names}"
    return {c["Classification"]: c for c in configurations}


@pytest.fixture(scope="module")
def configurations() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(CONFIGURATIONS.read_text(encoding="utf-8"))
    return data


def test_file_has_the_emr_configuration_shape(configurations: list[dict[str, Any]]) -> None:
    assert shape_errors(configurations) == []


@pytest.mark.parametrize(("bad", "error"), [
    ({"Classification": "x"}, "$: expected a list, got dict"),
    ([{"Properties": {}}], "$[0].Classification: expected a non-empty string"),
    ([{"Classification": "x", "Properties": {"a": 1}}], "$[0].Properties: expected an object of string values"),
    ([{"Classification": "x", "Configurations": [{"Classification": "y", "Props": {}}]}],
     "$[0].Configurations[0]: unknown keys ['Props']"),
])
def test_the_shape_check_can_fail(bad: Any, error: str) -> None:
    assert shape_errors(bad) == [error]


def test_spark_defaults(configurations: list[dict[str, Any]]) -> None:
    props = by_classification(configurations)["spark-defaults"]["Properties"]
    assert props["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert props["spark.sql.catalog.spark_catalog"] == "org.apache.spark.sql.delta.catalog.DeltaCatalog"
    assert props["spark.sql.session.timeZone"] == "UTC"
    assert props["spark.executorEnv.TZ"] == props["spark.yarn.appMasterEnv.TZ"] == "UTC"


def test_emr_own_jvm_options_are_kept(configurations: list[dict[str, Any]]) -> None:
    # A spark-defaults value replaces EMR's own (--add-opens, OOM handling); the JVMs take UTC from TZ instead.
    props = by_classification(configurations)["spark-defaults"]["Properties"]
    assert not [k for k in props if "JavaOptions" in k]


def test_delta_glue_and_python(configurations: list[dict[str, Any]]) -> None:
    sections = by_classification(configurations)
    assert sections["delta-defaults"]["Properties"] == {"delta.enabled": "true"}
    assert sections["spark-hive-site"]["Properties"]["hive.metastore.client.factory.class"] == \
        "com.amazonaws.glue.catalog.metastore.AWSGlueDataCatalogHiveClientFactory"
    (export,) = [c for c in sections["spark-env"]["Configurations"] if c["Classification"] == "export"]
    # The virtualenv bootstrap/emr-bootstrap.sh makes by default, for client-mode drivers and YARN's AM.
    venv_python = "/opt/featurespark/venv/bin/python"
    assert "--venv DIR     the virtualenv to create (default /opt/featurespark/venv" in \
        (CONFIGURATIONS.parent / "emr-bootstrap.sh").read_text()
    assert export["Properties"]["PYSPARK_PYTHON"] == venv_python
    assert sections["spark-defaults"]["Properties"]["spark.yarn.appMasterEnv.PYSPARK_PYTHON"] == venv_python
    assert export["Properties"]["TZ"] == "UTC"


def test_delta_python_package_and_log_store_match_the_library(configurations: list[dict[str, Any]]) -> None:
    from featurespark.config import parse_config
    from featurespark.emr import EMR_DELTA_JAR
    from featurespark.log_store import EMR_LOG_STORE_JAR, log_store_conf

    props = by_classification(configurations)["spark-defaults"]["Properties"]
    assert props["spark.submit.pyFiles"] == EMR_DELTA_JAR
    assert props["spark.jars"] == EMR_LOG_STORE_JAR
    config = parse_config({"project": {"name": "p"}, "offline_store": {"root": "s3://b/fs"},
                           "online_store": {"region": "eu-west-1"}})
    expected = log_store_conf(config)
    assert {k: props[k] for k in expected} == {**expected, "spark.io.delta.storage.S3DynamoDBLogStore.ddb.region":
                                               "@REGION@"}


def test_the_region_placeholder_renders_as_docs_emr_md_says(configurations: list[dict[str, Any]]) -> None:
    docs = (CONFIGURATIONS.parents[1] / "docs" / "emr.md").read_text()
    assert 'sed "s/@REGION@/$REGION/" bootstrap/emr-configurations.json > emr-configurations.json' in docs
    rendered = json.loads(CONFIGURATIONS.read_text().replace("@REGION@", "eu-west-1"))
    assert "@REGION@" not in json.dumps(rendered)
    assert shape_errors(rendered) == []


def test_iceberg_and_hudi_use_the_cluster_jars(configurations: list[dict[str, Any]]) -> None:
    # EMR puts its own Iceberg runtime on the classpath with iceberg-defaults (docs/offline_store.md);
    # hudi-defaults writes /etc/hudi/conf/hudi-defaults.conf, read by every Hudi reader on the cluster.
    sections = by_classification(configurations)
    assert sections["iceberg-defaults"]["Properties"] == {"iceberg.enabled": "true"}
    assert sections["hudi-defaults"]["Properties"] == {"hoodie.metadata.enable": "true"}
    docs = (CONFIGURATIONS.parents[1] / "docs" / "offline_store.md").read_text()
    assert "iceberg-defaults" in docs and "hudi-defaults" in docs
