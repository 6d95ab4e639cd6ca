"""Typed, strictly validated configuration loaded from YAML.

A config file has four sections (see ``docs/config.md`` for every key)::

    project:
      name: driver_ranking
    offline_store:
      root: ${FEATURESPARK_HOME:-.featurespark}/offline
      database: featurespark
    online_store:
      type: dynamodb
      region: eu-west-1
      endpoint_url: http://127.0.0.1:8000
    spark:
      conf:
        spark.sql.shuffle.partitions: "8"

The file is a local path or an ``s3://`` URI (read with boto3). ``${VAR}`` and ``${VAR:-default}`` are
expanded from the environment inside values (never in comments) before YAML gives them a type.
Unknown keys, duplicate keys, wrong types and missing required keys raise
:class:`~featurespark.errors.ConfigError` naming the file, the key (and the line) and what was expected.
Relative local paths are resolved against the directory of a local config file (the working directory
for one on S3), so a feature repo works from any working directory.
"""
from __future__ import annotations

import dataclasses
import difflib
import logging
import os
import re
import string
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Literal, Mapping, Optional, Union

import yaml

from featurespark._paths import is_uri, join_path
from featurespark.aws import is_s3_uri, read_s3_text, resolve_region
from featurespark.errors import ConfigError
from featurespark.options import IcebergCatalogType, OfflineFormat

logger = logging.getLogger(__name__)

_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class ProjectConfig:
    """The ``project`` section.

    Attributes
    ----------
    name : str
        Project name: letters, digits and ``_``. Used in DynamoDB table names.
    description : str
        Free text shown by ``featurespark describe``.
    """

    name: str
    description: str = ""


@dataclass(frozen=True)
class LogStoreConfig:
    """The ``offline_store.log_store`` section: how Delta commits are coordinated on S3.

    S3 has no atomic "create if absent", so two Spark drivers committing to the same Delta table at once
    can overwrite each other's commit. Delta's DynamoDB-backed log store (``S3DynamoDBLogStore``, shipped
    with EMR) records every commit in a DynamoDB table first, so concurrent writers (jobs, streams,
    notebooks, ``apply``) stay safe. It is used for ``s3://`` / ``s3a://`` roots unless turned off.

    Attributes
    ----------
    enabled : bool or None
        ``None`` (default): on when ``offline_store.root`` is on S3. ``false``: one writer at a time only.
    table_name : str
        The DynamoDB table of the commit entries (created by ``featurespark apply`` unless it exists).
    region : str or None
        Its region; unset: the same lookup as ``online_store.region`` (config, ``AWS_REGION``, the EC2
        instance's region).
    """

    enabled: Optional[bool] = None
    table_name: str = "featurespark_delta_log"
    region: Optional[str] = None


#: Table name (and folder name) of the registry under the offline root.
REGISTRY_TABLE = "_registry"
#: Iceberg catalog properties that ``configure_spark`` derives from the ``offline_store`` section, so that
#: ``iceberg_catalog_options`` cannot contradict it; credentials belong in the AWS default chain.
RESERVED_CATALOG_OPTIONS = frozenset({
    "type", "catalog-impl", "io-impl", "warehouse", "cache-enabled",
    "s3.access-key-id", "s3.secret-access-key", "s3.session-token",
})


@dataclass(frozen=True)
class OfflineStoreConfig:
    """The ``offline_store`` section.

    Attributes
    ----------
    root : str
        Local directory or ``s3://`` / ``s3a://`` URI under which feature tables and the
        registry live (Delta: ``<root>/<view>``, ``<root>/_registry``; Iceberg: the catalog's warehouse,
        ``<root>/<database>/<view>``, ``<root>/<database>/_registry``).
    database : str
        Metastore database (Hive locally, Glue Data Catalog on EMR) holding the feature tables; with
        Iceberg, the catalog namespace.
    format : {"delta", "iceberg"}
        Table format of the managed feature tables, their quarantine tables and the registry.
    iceberg_catalog : str
        With ``format: iceberg``, the name of the Spark catalog holding the tables (``configure_spark``
        sets it up with ``root`` as its warehouse); tables are ``<iceberg_catalog>.<database>.<view>``.
    iceberg_catalog_type : {"hadoop", "glue"}
        With ``format: iceberg``, what that catalog is: a Hadoop catalog (tables and their commits in files
        under ``root``), or the AWS Glue Data Catalog (EMR; tables created at ``<root>/<database>/<view>``).
        The registry is in the same catalog (with ``glue``, a Glue table created at ``<root>/<database>/_registry``
        whose Spark-free snapshot check asks Glue, reached as the next key says).
    iceberg_catalog_options : dict
        With ``format: iceberg``, more Iceberg catalog properties of ``iceberg_catalog``
        (``spark.sql.catalog.<iceberg_catalog>.<key>``), e.g. for a Glue catalog reached through VPC
        endpoints or a local AWS API endpoint: ``glue.endpoint``, ``s3.endpoint``, ``s3.path-style-access``,
        ``client.region``, ``glue.id``. The properties featurespark sets itself (:data:`RESERVED_CATALOG_OPTIONS`)
        are refused. Credentials come from the AWS default chain, never from here. With ``glue``, the registry's
        Spark-free snapshot check (serving, the CLI) calls Glue with the same ``glue.endpoint``, ``client.region``
        and ``glue.id``.
    log_store : LogStoreConfig
        Coordination of concurrent Delta commits on S3.
    """

    root: str
    database: str = "featurespark"
    format: OfflineFormat = "delta"
    iceberg_catalog: str = "featurespark"
    iceberg_catalog_type: IcebergCatalogType = "hadoop"
    iceberg_catalog_options: Dict[str, str] = field(default_factory=dict)
    log_store: LogStoreConfig = field(default_factory=LogStoreConfig)

    @property
    def registry_path(self) -> str:
        """Location of the registry table (``<root>/_registry``; Iceberg: ``<root>/<database>/_registry``).

        Examples
        --------
        >>> OfflineStoreConfig(root="/data/offline", format="iceberg").registry_path
        '/data/offline/featurespark/_registry'
        """
        if self.format == "iceberg":
            return join_path(self.root, self.database, REGISTRY_TABLE)
        return join_path(self.root, REGISTRY_TABLE)

    @property
    def registry_table(self) -> Optional[str]:
        """Catalog name of the Iceberg registry table (``<iceberg_catalog>.<database>._registry``); None
        for Delta, whose registry is a path-only table."""
        if self.format == "iceberg":
            return f"{self.registry_catalog}.{self.database}.{REGISTRY_TABLE}"
        return None

    @property
    def registry_catalog(self) -> str:
        """The Iceberg catalog of the registry: ``iceberg_catalog`` (a Hadoop or a Glue catalog).

        Examples
        --------
        >>> OfflineStoreConfig(root="s3://b/o", format="iceberg", iceberg_catalog_type="glue").registry_table
        'featurespark.featurespark._registry'
        """
        return self.iceberg_catalog

    @property
    def database_location(self) -> str:
        """Where the metastore database is created: ``<root>/_metastore/<database>.db``.

        A folder of its own, so that dropping the database with CASCADE (which deletes its location)
        can never delete the feature tables or the registry.

        Examples
        --------
        >>> OfflineStoreConfig(root="s3://my-bucket/featurespark/offline").database_location
        's3://my-bucket/featurespark/offline/_metastore/featurespark.db'
        """
        return join_path(self.root, "_metastore", f"{self.database}.db")

    @property
    def uses_s3_log_store(self) -> bool:
        """True when Delta commits under the root go through the DynamoDB-backed log store."""
        if self.log_store.enabled is None:
            return is_s3_uri(self.root)
        return self.log_store.enabled


@dataclass(frozen=True)
class OnlineStoreConfig:
    """The ``online_store`` section.

    Attributes
    ----------
    type : str
        Only ``dynamodb``.
    region : str or None
        AWS region of the DynamoDB tables. Unset: ``AWS_REGION``, ``AWS_DEFAULT_REGION``, the AWS
        profile's region, else the region of the EC2 instance (see :func:`online_region`); never a
        silent default.
    endpoint_url : str or None
        Endpoint override, e.g. ``http://127.0.0.1:8000`` for a local endpoint. Leave unset for AWS.
    table_name_template : str
        Python format string for table names, with ``{project}`` and ``{view}``.
    billing_mode : str
        ``PAY_PER_REQUEST`` (on-demand) or ``PROVISIONED``.
    read_capacity_units, write_capacity_units : int
        Used only with ``PROVISIONED``.
    tags : dict
        Tags put on tables featurespark creates.
    manage_tables : bool
        Create the table of every online view on ``apply`` (or check a pre-existing one). When
        false, tables are created by other tooling and only checked when materializing.
    """

    type: Literal["dynamodb"] = "dynamodb"
    region: Optional[str] = None
    endpoint_url: Optional[str] = None
    table_name_template: str = "{project}.{view}"
    billing_mode: Literal["PAY_PER_REQUEST", "PROVISIONED"] = "PAY_PER_REQUEST"
    read_capacity_units: int = 5
    write_capacity_units: int = 5
    tags: Dict[str, str] = field(default_factory=dict)
    manage_tables: bool = True

    def table_name(self, project: str, view: str) -> str:
        """DynamoDB table name of a view."""
        return self.table_name_template.format(project=project, view=view)


@dataclass(frozen=True)
class SparkConfig:
    """The ``spark`` section.

    Attributes
    ----------
    conf : dict
        Spark settings applied to the session builder (jobs and notebooks), on top of featurespark's.
    jars_dir : str or None
        Folder of JVM jars resolved by ``bootstrap/setup-local.sh`` (``.jars``). Leave unset on EMR,
        where the cluster provides Delta Lake.
    metastore_dir : str or None
        Folder of the embedded Derby Hive metastore for local runs. Leave unset on EMR, where the
        cluster's metastore (Glue Data Catalog) is used.
    """

    conf: Dict[str, str] = field(default_factory=dict)
    jars_dir: Optional[str] = None
    metastore_dir: Optional[str] = None


@dataclass(frozen=True)
class RedshiftConfig:
    """The ``redshift`` section: how ``RedshiftSource`` views are read (docs/config.md).

    Attributes
    ----------
    url : str or None
        JDBC URL of the cluster or workgroup, without credentials.
    temp_dir : str or None
        S3 folder Redshift UNLOADs query results to, for Spark to read.
    iam_role : str or None
        ARN of the IAM role Redshift assumes to write to ``temp_dir``.
    user_env, password_env : str or None
        Names of environment variables holding the database user and password (for URLs that do not
        authenticate with IAM).
    """

    url: Optional[str] = None
    temp_dir: Optional[str] = None
    iam_role: Optional[str] = None
    user_env: Optional[str] = None
    password_env: Optional[str] = None


@dataclass(frozen=True)
class Config:
    """A whole featurespark configuration (see :func:`load_config`)."""

    project: ProjectConfig
    offline_store: OfflineStoreConfig
    online_store: OnlineStoreConfig = field(default_factory=OnlineStoreConfig)
    spark: SparkConfig = field(default_factory=SparkConfig)
    redshift: Optional[RedshiftConfig] = None
    source: Optional[str] = None  # file the config was read from, for messages


def online_region(config: Config) -> str:
    """The AWS region of the online store's DynamoDB tables.

    ``online_store.region`` if set, else ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, the AWS profile's
    region, or the EC2 instance's region (instance metadata). Call it on the driver and pass the result
    on, so executors use the same region.

    Raises
    ------
    ConfigError
        If none of these gives a region: the message names the config file and the key to set.

    Examples
    --------
    >>> cfg = parse_config({"project": {"name": "p"}, "offline_store": {"root": "/tmp/fs"},
    ...                     "online_store": {"region": "eu-west-1"}})
    >>> online_region(cfg)
    'eu-west-1'
    """
    return resolve_region(config.online_store.region, setting="online_store.region", source=config.source)


def log_store_region(config: Config) -> str:
    """The region of the Delta log store's DynamoDB table: ``offline_store.log_store.region``, else the
    same lookup as :func:`online_region` (naming ``offline_store.log_store.region`` if none is found)."""
    configured = config.offline_store.log_store.region or config.online_store.region
    return resolve_region(configured, setting="offline_store.log_store.region", source=config.source)


def expand_env(text: str, *, source: str = "<string>", env: Optional[Mapping[str, str]] = None,
               first_line: int = 1) -> str:
    """Expand ``${VAR}`` and ``${VAR:-default}`` in ``text``.

    :func:`load_config` applies it to each YAML value (never to comments).

    Parameters
    ----------
    text : str
        The text, e.g. one value of a config file.
    source : str
        File name used in error messages.
    env : mapping, optional
        Variables to use instead of ``os.environ``.
    first_line : int
        Line number of the start of ``text`` in ``source``, for error messages.

    Returns
    -------
    str
        The text with every reference replaced.

    Raises
    ------
    ConfigError
        If a variable without default is not set.

    Examples
    --------
    >>> expand_env("${HOME_DIR:-/tmp}/x", env={})
    '/tmp/x'
    """
    variables = os.environ if env is None else env

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in variables:
            return variables[name]
        if default is not None:
            return default
        line = first_line + text.count("\n", 0, match.start())
        raise ConfigError(
            f"{source}:{line}: environment variable ${{{name}}} is not set. "
            f"Set it, or give a default as ${{{name}:-value}}."
        )

    return _ENV_PATTERN.sub(replace, text)


class _ConfigLoader(yaml.SafeLoader):
    """``yaml.safe_load`` that expands ``${VAR}`` inside scalars and refuses duplicate keys.

    Expanding each scalar before YAML resolves its type keeps ``port: ${PORT}`` an integer, and leaves
    comments alone (a ``${VAR}`` in a comment is never looked up).
    """

    source = "<config>"
    env: Optional[Mapping[str, str]] = None

    def compose_scalar_node(self, anchor: Any) -> yaml.ScalarNode:
        event = self.get_event()
        value = event.value
        if "${" in value:
            value = expand_env(value, source=self.source, env=self.env, first_line=event.start_mark.line + 1)
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.resolve(yaml.ScalarNode, value, event.implicit)
        node = yaml.ScalarNode(tag, value, event.start_mark, event.end_mark, style=event.style)
        if anchor is not None:
            self.anchors[anchor] = node
        return node

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor` merges are YAML's own way of overriding keys
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(f"{self.source}:{line}: duplicate key '{key}' (first at line {seen[key]}). "
                                  "YAML would silently keep the last value; keep one.")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str, *, source: str = "<string>", env: Optional[Mapping[str, str]] = None) -> Any:
    """Parse YAML text like ``yaml.safe_load``, with ``${VAR}`` expansion in values and no duplicate keys.

    Parameters
    ----------
    text : str
        The YAML document.
    source : str
        File name used in error messages.
    env : mapping, optional
        Variables for ``${VAR}`` expansion instead of ``os.environ``.

    Returns
    -------
    Any
        What ``yaml.safe_load`` would return.

    Raises
    ------
    ConfigError
        If the text is not valid YAML, a key is repeated in a mapping, or a variable without default is
        unset.

    Examples
    --------
    >>> load_yaml("root: ${ROOT:-/data}  # ${NOT_SET} in a comment is left alone", env={})
    {'root': '/data'}
    >>> load_yaml("a: 1\\na: 2", source="x.yaml")
    Traceback (most recent call last):
    ...
    featurespark.errors.ConfigError: x.yaml:2: duplicate key 'a' (first at line 1). YAML would silently keep the last value; keep one.
    """
    loader = _ConfigLoader(text)
    loader.source, loader.env = source, env
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    finally:
        loader.dispose()


def load_config(path: Union[str, Path], *, env: Optional[Mapping[str, str]] = None) -> Config:
    """Read and validate a YAML config file, local or on S3.

    Parameters
    ----------
    path : str or Path
        The YAML file: a local path, or an ``s3://bucket/key`` URI read with boto3 (the default
        credential chain; on EMR the instance profile).
    env : mapping, optional
        Variables for ``${VAR}`` expansion instead of ``os.environ``.

    Returns
    -------
    Config
        Validated, immutable configuration with local paths made absolute (against the file's folder;
        against the working directory for a file on S3).

    Raises
    ------
    ConfigError
        If the file is missing or unreadable, is not valid YAML, repeats a key, or does not match the
        schema.

    Examples
    --------
    >>> _ = (tmp_path / "fs.yaml").write_text("project:\\n  name: demo\\noffline_store:\\n  root: data/offline\\n")
    >>> cfg = load_config(tmp_path / "fs.yaml")
    >>> cfg.offline_store.database, cfg.offline_store.root == str(tmp_path / "data" / "offline")
    ('featurespark', True)
    >>> cfg = load_config("s3://my-bucket/featurespark/conf/emr.yaml")  # doctest: +SKIP
    """
    text_path = str(path)
    if is_s3_uri(text_path):
        # Path() would turn s3://bucket/key into s3:/bucket/key.
        text = read_s3_text(text_path)
        return parse_config(load_yaml(text, source=text_path, env=env), source=text_path, base_dir=None)
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"Config file {file} does not exist. Pass --config with the path of a YAML file "
                          "(or an s3:// URI).")
    raw = load_yaml(file.read_text(encoding="utf-8"), source=str(file), env=env)
    return parse_config(raw, source=str(file), base_dir=file.resolve().parent)


def parse_config(raw: Any, *, source: str = "<config>", base_dir: Optional[Path] = None) -> Config:
    """Validate a parsed YAML mapping into a :class:`Config`.

    Parameters
    ----------
    raw : Any
        Result of ``yaml.safe_load``.
    source : str
        Name of the file for error messages.
    base_dir : Path, optional
        Directory relative local paths are resolved against (default: the working directory).

    Returns
    -------
    Config

    Raises
    ------
    ConfigError
        On unknown keys, wrong types or missing required keys.
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping with sections project, offline_store, ... "
                          f"but found {type(raw).__name__}.")
    cfg = _build(Config, {k: v for k, v in raw.items()}, source, "")
    if not _NAME_PATTERN.match(cfg.project.name):
        raise ConfigError(f"{source}: key 'project.name': expected letters, digits and '_' "
                          f"(starting with a letter), found {cfg.project.name!r}.")
    _check_table_name_template(cfg.online_store.table_name_template, cfg.project.name, source)
    if not _NAME_PATTERN.match(cfg.offline_store.iceberg_catalog):
        raise ConfigError(f"{source}: key 'offline_store.iceberg_catalog': expected letters, digits and '_' "
                          f"(starting with a letter), found {cfg.offline_store.iceberg_catalog!r}.")
    _check_catalog_options(cfg.offline_store.iceberg_catalog_options, source)
    base = base_dir or Path.cwd()
    offline = dataclasses.replace(cfg.offline_store, root=_absolute(cfg.offline_store.root, base))
    spark = dataclasses.replace(
        cfg.spark,
        jars_dir=_absolute(cfg.spark.jars_dir, base) if cfg.spark.jars_dir else None,
        metastore_dir=_absolute(cfg.spark.metastore_dir, base) if cfg.spark.metastore_dir else None,
    )
    return dataclasses.replace(cfg, offline_store=offline, spark=spark, source=source)


def _check_catalog_options(options: Mapping[str, str], source: str) -> None:
    """Refuse ``iceberg_catalog_options`` that are no property names or that featurespark sets itself.

    Examples
    --------
    >>> _check_catalog_options({"glue.endpoint": "https://glue.eu-west-1.amazonaws.com"}, "fs.yaml")
    >>> _check_catalog_options({"io-impl": "org.apache.iceberg.hadoop.HadoopFileIO"}, "fs.yaml")
    Traceback (most recent call last):
    ...
    featurespark.errors.ConfigError: fs.yaml: key 'offline_store.iceberg_catalog_options.io-impl': featurespark sets this property itself (from offline_store.root and iceberg_catalog_type; credentials come from the AWS default chain); remove it.
    """
    for key in options:
        where = f"offline_store.iceberg_catalog_options.{key}"
        if not key or any(c.isspace() for c in key) or key.startswith(".") or key.endswith("."):
            raise ConfigError(f"{source}: key {where!r}: expected an Iceberg catalog property name such as "
                              "'glue.endpoint' (no spaces, no leading or trailing '.').")
        if key in RESERVED_CATALOG_OPTIONS:
            raise ConfigError(f"{source}: key {where!r}: featurespark sets this property itself (from "
                              "offline_store.root and iceberg_catalog_type; credentials come from the AWS default "
                              "chain); remove it.")


#: DynamoDB table names: 3 to 255 of letters, digits, '_', '-' and '.'.
_DYNAMODB_TABLE_NAME = re.compile(r"^[A-Za-z0-9_.\-]{3,255}$")


def _check_table_name_template(template: str, project: str, source: str) -> None:
    """Refuse a ``table_name_template`` that could not name a DynamoDB table, before anything is written."""
    key = "online_store.table_name_template"
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ConfigError(f"{source}: key '{key}': {template!r} is not a valid format string ({exc}); write "
                          "placeholders as {project} and {view}, and a literal brace as {{ or }}.") from exc
    unknown = sorted(fields - {"project", "view"})
    if unknown:
        raise ConfigError(f"{source}: key '{key}': unknown placeholder(s) {', '.join('{' + f + '}' for f in unknown)} "
                          f"in {template!r}; only {{project}} and {{view}} exist.")
    if "view" not in fields:
        raise ConfigError(f"{source}: key '{key}': {template!r} has no {{view}} placeholder, so every view would "
                          "share one DynamoDB table; add {view}.")
    sample = template.format(project=project, view="view")
    if not _DYNAMODB_TABLE_NAME.match(sample):
        raise ConfigError(f"{source}: key '{key}': {template!r} gives table names like {sample!r}, which DynamoDB "
                          "refuses (3-255 characters of letters, digits, '_', '-' and '.').")


def _absolute(path: str, base: Path) -> str:
    if is_uri(path):
        return path
    return str((base / path).resolve())


_TYPE_WORDS = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(_describe(a) for a in args) + " (or null)"
    if origin in (dict, Dict):
        return "a mapping of names to strings"
    if dataclasses.is_dataclass(tp):
        return f"a mapping with keys {', '.join(f.name for f in _fields(tp))}"
    return _TYPE_WORDS.get(tp, str(tp))


def _fields(cls: Any) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(cls) if f.name != "source"]


def _build(cls: Any, raw: Any, source: str, prefix: str) -> Any:
    where = prefix.rstrip(".") or "top level"
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: key '{where}': expected {_describe(cls)}, found {type(raw).__name__}.")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in _fields(cls)}
    for key in raw:
        if key not in known:
            hint = difflib.get_close_matches(str(key), list(known), n=1)
            suggestion = f" Did you mean '{prefix}{hint[0]}'?" if hint else ""
            raise ConfigError(f"{source}: unknown key '{prefix}{key}'. Allowed here: "
                              f"{', '.join(known)}.{suggestion}")
    values: Dict[str, Any] = {}
    for name, fld in known.items():
        required = fld.default is dataclasses.MISSING and fld.default_factory is dataclasses.MISSING
        if name not in raw:
            if required:
                raise ConfigError(f"{source}: missing required key '{prefix}{name}' "
                                  f"(expected {_describe(hints[name])}).")
            continue
        values[name] = _coerce(hints[name], raw[name], source, f"{prefix}{name}")
    return cls(**values)


def _coerce(tp: Any, value: Any, source: str, key: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, {} if value is None else value, source, f"{key}.")
    if origin is Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, source, key)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"{source}: key '{key}': expected {_describe(tp)}, found {value!r}.")
        return value
    if origin in (dict, Dict):
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(
            isinstance(v, (str, int, float, bool)) for v in value.values()
        ):
            raise ConfigError(f"{source}: key '{key}': expected {_describe(tp)}, found {value!r}.")
        # Spark and AWS tags take strings; YAML may read "8" as 8 or true as True.
        return {str(k): (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: key '{key}': expected true or false, found {value!r}.")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: key '{key}': expected an integer, found {value!r}.")
        return value
    if tp is str:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{source}: key '{key}': expected a non-empty string, found {value!r}.")
        return value
    raise ConfigError(f"{source}: key '{key}': unsupported value {value!r}.")  # pragma: no cover


__all__ = [
    "Config", "LogStoreConfig", "OfflineStoreConfig", "OnlineStoreConfig", "ProjectConfig", "RESERVED_CATALOG_OPTIONS",
    "RedshiftConfig", "SparkConfig", "expand_env",
    "is_uri", "join_path", "load_config", "load_yaml", "log_store_region", "online_region", "parse_config",
]
