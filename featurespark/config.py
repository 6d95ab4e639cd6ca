"""Typed, strictly validated configuration loaded from YAML.

A config file has four sections (see ``docs/config.md`` for every key)::

    project:
      name: driver_ranking
    offline_store:
      root: ${FEATURESPARK_HOME:-.featurespark}/offline
      database: featurespark
    online_store:
      type: dynamodb
      region: us-east-1
      endpoint_url: http://127.0.0.1:8000
    spark:
      conf:
        spark.sql.shuffle.partitions: "8"

``${VAR}`` and ``${VAR:-default}`` are expanded from the environment before parsing.
Unknown keys, wrong types and missing required keys raise :class:`~featurespark.errors.ConfigError`
naming the file, the key and what was expected. Relative local paths are resolved against
the directory of the config file, so a feature repo works from any working directory.
"""
from __future__ import annotations

import dataclasses
import difflib
import logging
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Literal, Mapping, Optional, Union

import yaml

from featurespark._paths import is_uri, join_path
from featurespark.errors import ConfigError

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
class OfflineStoreConfig:
    """The ``offline_store`` section.

    Attributes
    ----------
    root : str
        Local directory or ``s3://`` / ``s3a://`` URI under which feature tables and the
        registry live (``<root>/<view>``, ``<root>/_registry``).
    database : str
        Metastore database (Hive locally, Glue Data Catalog on EMR) holding the feature tables.
    format : str
        Table format. Only ``delta`` is supported.
    """

    root: str
    database: str = "featurespark"
    format: Literal["delta"] = "delta"

    @property
    def registry_path(self) -> str:
        """Location of the registry Delta table."""
        return join_path(self.root, "_registry")


@dataclass(frozen=True)
class OnlineStoreConfig:
    """The ``online_store`` section.

    Attributes
    ----------
    type : str
        Only ``dynamodb``.
    region : str
        AWS region of the DynamoDB tables.
    endpoint_url : str or None
        Endpoint override, e.g. ``http://127.0.0.1:8000`` for DynamoDB Local. Leave unset for AWS.
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
    region: str = "us-east-1"
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
class Config:
    """A whole featurespark configuration (see :func:`load_config`)."""

    project: ProjectConfig
    offline_store: OfflineStoreConfig
    online_store: OnlineStoreConfig = field(default_factory=OnlineStoreConfig)
    spark: SparkConfig = field(default_factory=SparkConfig)
    source: Optional[str] = None  # file the config was read from, for messages


def expand_env(text: str, *, source: str = "<string>", env: Optional[Mapping[str, str]] = None) -> str:
    """Expand ``${VAR}`` and ``${VAR:-default}`` in ``text``.

    Parameters
    ----------
    text : str
        Raw file content.
    source : str
        File name used in error messages.
    env : mapping, optional
        Variables to use instead of ``os.environ``.

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
    >>> expand_env("root: ${HOME_DIR:-/tmp}/x", env={})
    'root: /tmp/x'
    """
    variables = os.environ if env is None else env

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in variables:
            return variables[name]
        if default is not None:
            return default
        line = text.count("\n", 0, match.start()) + 1
        raise ConfigError(
            f"{source}:{line}: environment variable ${{{name}}} is not set. "
            f"Set it, or give a default as ${{{name}:-value}}."
        )

    return _ENV_PATTERN.sub(replace, text)


def load_config(path: Union[str, Path], *, env: Optional[Mapping[str, str]] = None) -> Config:
    """Read and validate a YAML config file.

    Parameters
    ----------
    path : str or Path
        The YAML file.
    env : mapping, optional
        Variables for ``${VAR}`` expansion instead of ``os.environ``.

    Returns
    -------
    Config
        Validated, immutable configuration with local paths made absolute.

    Raises
    ------
    ConfigError
        If the file is missing, is not valid YAML, or does not match the schema.

    Examples
    --------
    >>> _ = (tmp_path / "fs.yaml").write_text("project:\\n  name: demo\\noffline_store:\\n  root: data/offline\\n")
    >>> cfg = load_config(tmp_path / "fs.yaml")
    >>> cfg.offline_store.database, cfg.offline_store.root == str(tmp_path / "data" / "offline")
    ('featurespark', True)
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"Config file {file} does not exist. Pass --config with the path of a YAML file.")
    text = expand_env(file.read_text(encoding="utf-8"), source=str(file), env=env)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}") from exc
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
    base = base_dir or Path.cwd()
    offline = dataclasses.replace(cfg.offline_store, root=_absolute(cfg.offline_store.root, base))
    spark = dataclasses.replace(
        cfg.spark,
        jars_dir=_absolute(cfg.spark.jars_dir, base) if cfg.spark.jars_dir else None,
        metastore_dir=_absolute(cfg.spark.metastore_dir, base) if cfg.spark.metastore_dir else None,
    )
    return dataclasses.replace(cfg, offline_store=offline, spark=spark, source=source)


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
    "Config", "OfflineStoreConfig", "OnlineStoreConfig", "ProjectConfig", "SparkConfig", "expand_env", "is_uri",
    "join_path", "load_config", "parse_config",
]
