from __future__ import annotations

from pathlib import Path

import pytest

from featurespark.config import expand_env, load_config, parse_config
from featurespark.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]

MINIMAL = """
project:
  name: demo
offline_store:
  root: data/offline
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "featurespark.yaml"
    path.write_text(text)
    return path


def test_minimal_config_gets_defaults_and_absolute_paths(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL))
    assert cfg.project.name == "demo"
    assert cfg.offline_store.root == str(tmp_path / "data" / "offline")
    assert cfg.offline_store.database == "featurespark"
    assert cfg.offline_store.registry_path == str(tmp_path / "data" / "offline" / "_registry")
    assert cfg.online_store.billing_mode == "PAY_PER_REQUEST"
    assert cfg.online_store.endpoint_url is None
    assert cfg.online_store.table_name("demo", "v") == "demo.v"
    assert cfg.spark.jars_dir is None


def test_s3_root_is_kept_as_uri(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL.replace("data/offline", "s3://bucket/fs")))
    assert cfg.offline_store.root == "s3://bucket/fs"


def test_shipped_configs_are_valid() -> None:
    local = load_config(ROOT / "conf" / "local.yaml", env={})
    assert local.online_store.endpoint_url == "http://127.0.0.1:8000"
    assert local.spark.jars_dir == str(ROOT / ".jars")
    emr = load_config(ROOT / "conf" / "emr.yaml", env={"FEATURESPARK_BUCKET": "my-bucket"})
    assert emr.offline_store.root == "s3://my-bucket/featurespark/offline"
    assert emr.spark.metastore_dir is None and emr.spark.jars_dir is None


def test_env_expansion_with_and_without_default() -> None:
    assert expand_env("a: ${X}", env={"X": "1"}) == "a: 1"
    assert expand_env("a: ${X:-fallback}", env={}) == "a: fallback"
    with pytest.raises(ConfigError, match=r"f.yaml:2: environment variable \$\{MISSING\} is not set"):
        expand_env("a: 1\nb: ${MISSING}", source="f.yaml", env={})


def test_unknown_key_names_file_key_and_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "  databse: x\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert str(path) in msg
    assert "unknown key 'offline_store.databse'" in msg
    assert "Did you mean 'offline_store.database'?" in msg


def test_unknown_section(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown key 'registry'. Allowed here: project, offline_store"):
        load_config(write(tmp_path, MINIMAL + "registry: x\n"))


def test_missing_required_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing required key 'offline_store.root' \(expected a string\)"):
        load_config(write(tmp_path, "project:\n  name: demo\noffline_store:\n  database: x\n"))


def test_wrong_types(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="key 'online_store.read_capacity_units': expected an integer, found 'ten'"):
        load_config(write(tmp_path, MINIMAL + "online_store:\n  read_capacity_units: ten\n"))
    with pytest.raises(ConfigError, match=r"key 'online_store.billing_mode': expected one of 'PAY_PER_REQUEST', "
                                          r"'PROVISIONED', found 'ON_DEMAND'"):
        load_config(write(tmp_path, MINIMAL + "online_store:\n  billing_mode: ON_DEMAND\n"))
    with pytest.raises(ConfigError, match="key 'spark.conf': expected a mapping of names to strings"):
        load_config(write(tmp_path, MINIMAL + "spark:\n  conf: [a, b]\n"))
    with pytest.raises(ConfigError, match="key 'project': expected a mapping with keys name, description"):
        load_config(write(tmp_path, "project: demo\noffline_store:\n  root: x\n"))


def test_spark_conf_values_become_strings(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL + "spark:\n  conf:\n    a.b: 8\n    c.d: true\n"))
    assert cfg.spark.conf == {"a.b": "8", "c.d": "true"}


def test_invalid_project_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="key 'project.name': expected letters, digits and '_'"):
        load_config(write(tmp_path, MINIMAL.replace("demo", "my-project")))


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist. Pass --config"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "project: [unclosed\n"))
    with pytest.raises(ConfigError, match="expected a mapping with sections"):
        parse_config(["a"], source="x.yaml")


def test_variables_in_comments_are_not_looked_up_and_values_keep_their_type(tmp_path: Path) -> None:
    text = MINIMAL + (
        "# set ${NOT_SET_ANYWHERE} to move the data  (a comment: never expanded)\n"
        "online_store:\n"
        "  read_capacity_units: ${RCU:-7}   # ${ALSO_NOT_SET}\n"
        "  endpoint_url: \"http://127.0.0.1:${PORT}/#not-a-comment\"\n"
    )
    cfg = load_config(write(tmp_path, text), env={"PORT": "8001"})
    assert cfg.online_store.read_capacity_units == 7  # expanded before YAML typed it: an integer
    assert cfg.online_store.endpoint_url == "http://127.0.0.1:8001/#not-a-comment"


def test_an_unset_variable_in_a_value_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "online_store:\n  region: ${REGION_VAR}\n")
    with pytest.raises(ConfigError, match=rf"{path}:7: environment variable \$\{{REGION_VAR\}} is not set"):
        load_config(path, env={})


def test_duplicate_keys_are_an_error_naming_file_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "  database: first\n  database: second\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (f"{path}:7: duplicate key 'database' (first at line 6). YAML would silently keep "
                               "the last value; keep one.")
    with pytest.raises(ConfigError, match=r":6: duplicate key 'project' \(first at line 2\)"):
        load_config(write(tmp_path, MINIMAL + "project:\n  name: other\n"))
    # The same key in two different mappings is no duplicate, and YAML merge keys still override.
    merged = MINIMAL + "spark:\n  conf: &base\n    a.b: '1'\nonline_store:\n  tags:\n    <<: *base\n    team: x\n"
    assert load_config(write(tmp_path, merged)).online_store.tags == {"a.b": "1", "team": "x"}


def test_a_config_on_s3_is_read_with_boto3_and_keeps_its_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    from moto import mock_aws

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "eu-west-1"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket="cfg-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        text = MINIMAL.replace("data/offline", "s3://data-bucket/fs/offline") + "online_store:\n  region: eu-west-1\n"
        s3.put_object(Bucket="cfg-bucket", Key="featurespark/conf/emr.yaml", Body=text.encode())
        cfg = load_config("s3://cfg-bucket/featurespark/conf/emr.yaml")
        assert cfg.source == "s3://cfg-bucket/featurespark/conf/emr.yaml"  # not mangled into s3:/cfg-bucket/...
        assert cfg.offline_store.root == "s3://data-bucket/fs/offline"
        with pytest.raises(ConfigError, match=r"Config s3://cfg-bucket/nope.yaml does not exist \(NoSuchKey\). "
                                              r"Upload it with `aws s3 cp featurespark.yaml s3://cfg-bucket/nope.yaml`"):
            load_config("s3://cfg-bucket/nope.yaml")
        with pytest.raises(ConfigError, match="is not an S3 object URI; expected s3://BUCKET/KEY"):
            load_config("s3://cfg-bucket")
        s3.put_object(Bucket="cfg-bucket", Key="dup.yaml", Body=(MINIMAL + "project:\n  name: x\n").encode())
        with pytest.raises(ConfigError, match=r"^s3://cfg-bucket/dup.yaml:6: duplicate key 'project'"):
            load_config("s3://cfg-bucket/dup.yaml")


def test_database_location_is_a_folder_of_its_own_under_the_root(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL))
    assert cfg.offline_store.database_location == str(tmp_path / "data" / "offline" / "_metastore" /
                                                       "featurespark.db")


@pytest.mark.parametrize(("template", "message"), [
    ("{proj}.{view}", r"unknown placeholder\(s\) \{proj\} in '\{proj\}\.\{view\}'; only \{project\} and \{view\}"),
    ("{project}", r"has no \{view\} placeholder"),
    ("fs_{view", r"is not a valid format string"),
    ("{project}/{view}", r"gives table names like 'demo/view', which DynamoDB refuses"),
])
def test_a_bad_table_name_template_is_refused_when_the_config_loads(template: str, message: str) -> None:
    raw = {"project": {"name": "demo"}, "offline_store": {"root": "/tmp/fs"},
           "online_store": {"table_name_template": template}}
    with pytest.raises(ConfigError, match=r"^team\.yaml: key 'online_store\.table_name_template': .*" + message):
        parse_config(raw, source="team.yaml")


def test_a_good_table_name_template_names_tables() -> None:
    raw = {"project": {"name": "demo"}, "offline_store": {"root": "/tmp/fs"},
           "online_store": {"table_name_template": "fs-{project}.{view}"}}
    assert parse_config(raw).online_store.table_name("demo", "stats") == "fs-demo.stats"


def test_offline_format_iceberg_names_its_catalog_and_registry(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL + "  format: iceberg\n  database: feats\n  iceberg_catalog: lake\n"))
    assert (cfg.offline_store.format, cfg.offline_store.registry_table) == ("iceberg", "lake.feats._registry")
    assert cfg.offline_store.registry_path == str(tmp_path / "data" / "offline" / "feats" / "_registry")
    assert load_config(write(tmp_path, MINIMAL)).offline_store.registry_table is None
    with pytest.raises(ConfigError, match=r"key 'offline_store.format': expected one of 'delta', 'iceberg', "
                                          r"found 'hudi'"):
        load_config(write(tmp_path, MINIMAL + "  format: hudi\n"))
    with pytest.raises(ConfigError, match=r"key 'offline_store.iceberg_catalog': expected letters, digits and '_' "
                                          r"\(starting with a letter\), found 'my-lake'"):
        load_config(write(tmp_path, MINIMAL + "  format: iceberg\n  iceberg_catalog: my-lake\n"))


def test_iceberg_catalog_type_glue_keeps_the_registry_in_the_glue_catalog(tmp_path: Path) -> None:
    from featurespark.offline.glue_pointer import GlueTable
    from featurespark.services.locations import registry_glue_table

    cfg = load_config(write(tmp_path, MINIMAL + "  format: iceberg\n  database: feats\n  iceberg_catalog: lake\n"
                                                "  iceberg_catalog_type: glue\n"))
    offline = cfg.offline_store
    assert (offline.iceberg_catalog_type, offline.registry_catalog, offline.registry_table) == (
        "glue", "lake", "lake.feats._registry")
    assert offline.registry_path == str(tmp_path / "data" / "offline" / "feats" / "_registry")
    # The Spark-free snapshot check reaches Glue as Iceberg's GlueCatalog does: the same catalog options.
    assert registry_glue_table(cfg) == GlueTable("feats", "_registry")
    with_options = load_config(write(tmp_path, MINIMAL + (
        "  format: iceberg\n  database: feats\n  iceberg_catalog_type: glue\n  iceberg_catalog_options:\n"
        "    glue.endpoint: https://glue.vpce.example\n    client.region: eu-west-1\n    glue.id: '123456789012'\n"
        "    s3.endpoint: https://s3.vpce.example\n")))
    assert registry_glue_table(with_options) == GlueTable("feats", "_registry", endpoint="https://glue.vpce.example",
                                                          region="eu-west-1", catalog_id="123456789012")
    hadoop = load_config(write(tmp_path, MINIMAL + "  format: iceberg\n"))
    assert registry_glue_table(hadoop) is None and registry_glue_table(load_config(write(tmp_path, MINIMAL))) is None
    assert load_config(write(tmp_path, MINIMAL + "  format: iceberg\n")).offline_store.iceberg_catalog_type == "hadoop"
    with pytest.raises(ConfigError, match=r"key 'offline_store.iceberg_catalog_type': expected one of 'hadoop', "
                                          r"'glue', found 'hive'"):
        load_config(write(tmp_path, MINIMAL + "  format: iceberg\n  iceberg_catalog_type: hive\n"))


GLUE_OPTIONS = MINIMAL + "  format: iceberg\n  iceberg_catalog_type: glue\n  iceberg_catalog_options:\n"


def test_iceberg_catalog_options_are_catalog_properties(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GLUE_OPTIONS + "    glue.endpoint: https://glue.vpce.example\n"
                                                     "    s3.path-style-access: true\n"))
    assert cfg.offline_store.iceberg_catalog_options == {"glue.endpoint": "https://glue.vpce.example",
                                                         "s3.path-style-access": "true"}
    assert load_config(write(tmp_path, MINIMAL)).offline_store.iceberg_catalog_options == {}


@pytest.mark.parametrize("line, message", [
    ("warehouse: s3://elsewhere", r"'offline_store.iceberg_catalog_options.warehouse': featurespark sets this property"),
    ("s3.secret-access-key: x", r"'offline_store.iceberg_catalog_options.s3.secret-access-key': featurespark sets "
                                r"this property itself .*AWS default chain"),
    ("glue endpoint: x", r"'offline_store.iceberg_catalog_options.glue endpoint': expected an Iceberg catalog "
                         r"property name"),
])
def test_iceberg_catalog_options_refuses_what_featurespark_sets_and_odd_names(tmp_path: Path, line: str,
                                                                             message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, GLUE_OPTIONS + f"    {line}\n"))
