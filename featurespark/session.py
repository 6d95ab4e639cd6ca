"""Configure a :class:`pyspark.sql.SparkSession.Builder` for featurespark.

The library itself never creates a session: jobs and notebooks do, through
:func:`configure_spark` (model: ``delta.configure_spark_with_delta_pip``)::

    from pyspark.sql import SparkSession
    from featurespark import configure_spark, load_config

    config = load_config("conf/local.yaml")
    spark = configure_spark(SparkSession.builder.appName("x"), config).getOrCreate()
"""
from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path
from typing import Optional

import pyspark
from pyspark.sql import SparkSession

from featurespark._compat import PYSPARK_VERSION
from featurespark.config import Config
from featurespark.errors import ConfigError
from featurespark.log_store import LOG_STORE_CLASS, LOG_STORE_JAR_PREFIX, log_store_conf
from featurespark.offline.formats import DELTA_EXTENSIONS, ICEBERG_EXTENSIONS, ICEBERG_JAR_PREFIX, table_format_conf
from featurespark.offline.iceberg import iceberg_catalog_conf

logger = logging.getLogger(__name__)

_REPO_ROOT = Path(__file__).resolve().parent.parent

#: Folder ``bootstrap/setup-local.sh`` resolves the JVM jars of the main environment into (Spark 4).
MAIN_JARS_DIR = _REPO_ROOT / ".jars"
#: Folder ``bootstrap/setup-compat.sh`` resolves the JVM jars of the Spark 3.5 environment into.
SPARK35_JARS_DIR = _REPO_ROOT / ".jars-spark35"
#: The jars folder of this checkout for the running pyspark: ``.jars`` (4.x) or ``.jars-spark35`` (3.5).
DEFAULT_JARS_DIR = SPARK35_JARS_DIR if PYSPARK_VERSION < (4, 0) else MAIN_JARS_DIR
#: Environment variable naming the jars folder; ``conf/local.yaml`` and the test fixture honour it.
JARS_DIR_ENV = "FEATURESPARK_JARS_DIR"

# delta-spark_<scala binary version>-<delta version>.jar
_DELTA_JAR = re.compile(r"^delta-spark_(\d+\.\d+)-(\d+)\.[\w.\-]*\.jar$")


def default_jars_dir() -> Path:
    """The jars folder for a local session of this checkout: ``$FEATURESPARK_JARS_DIR`` if set, else
    the folder the set-up script of the running pyspark fills (``.jars`` for Spark 4,
    ``.jars-spark35`` for Spark 3.5).

    Examples
    --------
    >>> default_jars_dir().name in {".jars", ".jars-spark35"}  # doctest: +SKIP
    True
    """
    configured = os.environ.get(JARS_DIR_ENV)
    return Path(configured).resolve() if configured else DEFAULT_JARS_DIR


def local_jars(jars_dir: Path | str) -> list[str]:
    """List the jar files of a folder resolved by ``bootstrap/setup-local.sh`` (or ``setup-compat.sh``).

    Parameters
    ----------
    jars_dir : Path or str
        The folder (normally ``.jars`` at the repository root, ``.jars-spark35`` for Spark 3.5).

    Returns
    -------
    list of str
        Absolute paths of the jars, sorted.

    Raises
    ------
    ConfigError
        If the folder holds no Delta Lake jar (set-up has not run), or a Delta Lake built for another
        Spark than the running pyspark.
    """
    folder = Path(jars_dir)
    jars = sorted(str(p.resolve()) for p in folder.glob("*.jar")) if folder.is_dir() else []
    delta = [Path(j).name for j in jars if Path(j).name.startswith("delta-spark")]
    if not delta:
        raise ConfigError(
            f"No Delta Lake jar in {folder}. Run `bash bootstrap/setup-local.sh` to resolve the JVM jars "
            "with Maven (`bash bootstrap/setup-compat.sh` for Spark 3.5), or leave spark.jars_dir unset on a "
            "cluster that ships Delta (EMR)."
        )
    _check_delta_matches_spark(folder, delta[0])
    return jars


def _check_delta_matches_spark(folder: Path, delta_jar: str) -> None:
    # A Delta Lake built for another Spark only fails later, deep in the JVM (NoSuchMethodError,
    # NoClassDefFoundError for scala.collection...), so say it here. Delta 3.x is built for Spark 3.5,
    # Delta 4.x for Spark 4.x; the Scala of pyspark's wheel is 2.12 on 3.5 and 2.13 on 4.x.
    match = _DELTA_JAR.match(delta_jar)
    if not match:
        return
    scala, delta_major = match.group(1), int(match.group(2))
    spark_major = PYSPARK_VERSION[0]
    expected_scala = "2.13" if spark_major >= 4 else "2.12"
    if delta_major != spark_major or scala != expected_scala:
        suggestion = DEFAULT_JARS_DIR
        script = "setup-compat.sh" if spark_major < 4 else "setup-local.sh"
        raise ConfigError(
            f"{folder / delta_jar} is Delta Lake {delta_major}.x for Scala {scala}, but this Python runs "
            f"pyspark {pyspark.__version__} (needs Delta Lake {spark_major}.x for Scala {expected_scala}). "
            f"Point spark.jars_dir (or ${JARS_DIR_ENV}) at {suggestion}, resolved by "
            f"`bash bootstrap/{script}`."
        )


def configure_spark(
    builder: SparkSession.Builder,
    config: Optional[Config] = None,
    *,
    jars_dir: Optional[str] = None,
    metastore_dir: Optional[str] = None,
    extra_conf: Optional[dict[str, str]] = None,
) -> SparkSession.Builder:
    """Add Delta Lake, Hive metastore support, UTC time and the S3 log store to a session builder.

    With ``offline_store.format: iceberg`` it also adds Iceberg's SQL extensions and the catalog
    ``offline_store.iceberg_catalog`` whose warehouse is ``offline_store.root``: a Hadoop catalog, or with
    ``iceberg_catalog_type: glue`` the Glue Data Catalog plus the registry's Hadoop catalog
    (:func:`offline_catalog_conf`).

    On a cluster (no ``jars_dir`` / ``metastore_dir``) the cluster's own JVM options are left alone:
    the time zone reaches executors through ``TZ`` (``bootstrap/emr-configurations.json`` sets it for the
    driver too). When the offline root is on S3, Delta's DynamoDB-backed log store is configured
    (``offline_store.log_store``; see :mod:`featurespark.log_store`), so several writers are safe.

    Parameters
    ----------
    builder : SparkSession.Builder
        The builder to configure; it is returned for chaining.
    config : Config, optional
        Its ``spark`` section supplies ``jars_dir``, ``metastore_dir`` and a conf overlay.
    jars_dir : str, optional
        Folder of jars to put on ``spark.jars`` (local runs). Overrides the config.
        When neither is given the cluster's own Delta Lake is used (EMR).
    metastore_dir : str, optional
        Folder of an embedded Derby metastore and warehouse (local runs). Overrides the config.
        When neither is given the cluster's metastore is used (Glue Data Catalog on EMR).
    extra_conf : dict, optional
        Spark settings applied last.

    Returns
    -------
    SparkSession.Builder
        The same builder.

    Raises
    ------
    ConfigError
        If ``jars_dir`` lacks Delta Lake (or the log store's jar while the log store is on, or Iceberg's
        runtime jar with ``offline_store.format: iceberg``), or the log store is on and no AWS region is
        found for it.

    Examples
    --------
    >>> spark = configure_spark(SparkSession.builder.master("local[2]"),
    ...                         jars_dir=".jars", metastore_dir=".featurespark/metastore"
    ...                         ).getOrCreate()  # doctest: +SKIP
    """
    spark_cfg = config.spark if config is not None else None
    jars = jars_dir or (spark_cfg.jars_dir if spark_cfg else None)
    metastore = metastore_dir or (spark_cfg.metastore_dir if spark_cfg else None)
    log_store = log_store_conf(config) if config is not None else {}
    offline_format = config.offline_store.format if config is not None else "delta"

    builder = (
        builder.config("spark.sql.extensions", DELTA_EXTENSIONS)
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.sql.session.timeZone", "UTC")
        # The JVM takes its default time zone from TZ: executors agree with the session on UTC.
        .config("spark.executorEnv.TZ", "UTC")
    )
    if jars or metastore:
        # A local session starts its own JVM, so its JVM options are ours. A cluster's spark-defaults carry
        # JVM options of their own (EMR's --add-opens, OOM handling) that a value set here would replace.
        builder = builder.config("spark.driver.extraJavaOptions", _java_options(metastore)).config(
            "spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
    if jars:
        jar_files = local_jars(jars)
        if log_store and not any(Path(j).name.startswith(LOG_STORE_JAR_PREFIX) for j in jar_files):
            raise ConfigError(
                f"offline_store.root is on S3, so Delta commits go through the DynamoDB log store "
                f"({LOG_STORE_CLASS}), but {jars} has no {LOG_STORE_JAR_PREFIX} jar. Put it there, or set "
                "offline_store.log_store.enabled: false when only one writer uses these tables at a time."
            )
        builder = builder.config("spark.jars", ",".join(jar_files))
        for key, value in table_format_conf(jar_files, metastore).items():  # Iceberg / Hudi when their jars are there
            builder = builder.config(key, value)
        if offline_format == "iceberg" and not any(Path(j).name.startswith(ICEBERG_JAR_PREFIX) for j in jar_files):
            raise ConfigError(
                f"offline_store.format is iceberg, but {jars} has no {ICEBERG_JAR_PREFIX}* jar. Run `bash "
                "bootstrap/setup-local.sh` (`bash bootstrap/setup-compat.sh` for Spark 3.5) to resolve it, or use "
                "offline_store.format: delta."
            )
    if offline_format == "iceberg" and config is not None:
        # The managed tables' catalog: a Hadoop catalog whose warehouse is the offline root. The Iceberg
        # extensions are needed for MERGE INTO on Spark 3.5 (a cluster without jars_dir brings the jar).
        builder = builder.config("spark.sql.extensions", f"{DELTA_EXTENSIONS},{ICEBERG_EXTENSIONS}")
        for key, value in offline_catalog_conf(config).items():
            builder = builder.config(key, value)
    if metastore:
        home = Path(metastore).resolve()
        home.mkdir(parents=True, exist_ok=True)
        builder = (
            builder.config("spark.sql.catalogImplementation", "hive")
            .config("spark.sql.warehouse.dir", str(home / "warehouse"))
            .config(
                "spark.hadoop.javax.jdo.option.ConnectionURL",
                f"jdbc:derby:;databaseName={home / 'metastore_db'};create=true",
            )
        )
    builder = builder.enableHiveSupport()
    overlay = dict(log_store)
    overlay.update(spark_cfg.conf if spark_cfg else {})
    overlay.update(extra_conf or {})
    for key, value in overlay.items():
        builder = builder.config(key, value)
    return builder


def offline_catalog_conf(config: Config) -> dict[str, str]:
    """Spark settings of the Iceberg catalog of an offline store with ``format: iceberg`` (none for Delta).

    The catalog ``offline_store.iceberg_catalog`` (a Hadoop or a Glue catalog, ``iceberg_catalog_type``) with the
    offline root as warehouse and ``iceberg_catalog_options``; it holds the feature tables and the registry.

    Examples
    --------
    >>> from featurespark.config import parse_config
    >>> config = parse_config({"project": {"name": "p"}, "offline_store": {
    ...     "root": "s3://b/offline", "format": "iceberg", "iceberg_catalog_type": "glue"}})
    >>> conf = offline_catalog_conf(config)
    >>> conf["spark.sql.catalog.featurespark.catalog-impl"], [k for k in conf if "featurespark_registry" in k]
    ('org.apache.iceberg.aws.glue.GlueCatalog', [])
    """
    offline = config.offline_store
    if offline.format != "iceberg":
        return {}
    return iceberg_catalog_conf(offline.iceberg_catalog, offline.root, offline.iceberg_catalog_type,
                                offline.iceberg_catalog_options)


def _java_options(metastore: Optional[str]) -> str:
    options = ["-Duser.timezone=UTC"]
    if metastore:
        # Derby writes derby.log into its home; keep it out of the working directory.
        options.append(f"-Dderby.system.home={Path(metastore).resolve()}")
    return " ".join(options)


def start_session(config: Config, app_name: str, *, master: Optional[str] = None) -> SparkSession:
    """Build the session of an entry point (a job, the CLI, a notebook) from a config.

    Library functions never call this: they receive the session. ``master`` is left to
    ``spark-submit`` unless given (plain ``python`` runs default to ``local[*]``).

    Raises
    ------
    ConfigError
        Before any JVM starts, when this would start a local Spark without Delta Lake (no
        ``spark.jars_dir`` and nothing else that brings jars); after it starts, when the embedded Derby
        metastore of ``spark.metastore_dir`` is held by another process.
    """
    use_this_python_for_workers()
    if not config.spark.jars_dir and _starts_local_jvm_without_jars(config, master):
        raise ConfigError(
            f"{config.source or 'The config'} has no spark.jars_dir, so this local Spark would start without "
            "Delta Lake. Set spark.jars_dir (or $FEATURESPARK_JARS_DIR) to a folder with the Delta jars - "
            "`bash bootstrap/setup-local.sh` in a featurespark checkout resolves them into its .jars folder - "
            "or run with spark-submit on a cluster that ships Delta (EMR)."
        )
    from pyspark import SparkContext

    metastore = config.spark.metastore_dir
    if metastore and SparkContext._active_spark_context is None and _derby_locked(metastore):
        raise _metastore_in_use(metastore)
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    spark = configure_spark(builder, config).getOrCreate()
    if metastore:
        require_free_metastore(spark, metastore)
    return spark


def _derby_locked(metastore_dir: str) -> bool:
    """True when another process holds the embedded Derby database of ``metastore_dir``.

    Derby takes an exclusive file lock on ``metastore_db/dbex.lck`` while a JVM has the database open
    (on Linux and macOS a POSIX record lock, which ``fcntl.lockf`` sees); the lock goes with the process.
    """
    lock = Path(metastore_dir) / "metastore_db" / "dbex.lck"
    try:
        import fcntl
    except ImportError:  # Windows: left to require_free_metastore after the session starts
        return False
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.lockf(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _metastore_in_use(metastore_dir: str) -> ConfigError:
    return ConfigError(
        f"The embedded Hive metastore in {metastore_dir} is in use by another Spark process (Derby allows one "
        "at a time). Stop the other process (a notebook, a job, a featurespark command), or give this one its "
        "own spark.metastore_dir (e.g. FEATURESPARK_HOME=/tmp/other); on EMR the Glue Data Catalog has no such "
        "limit."
    )


def _starts_local_jvm_without_jars(config: Config, master: Optional[str]) -> bool:
    # True only when this process is about to launch a local JVM with nothing that could bring Delta:
    # not under spark-submit (which starts the JVM and sets PYSPARK_GATEWAY_PORT), no running context,
    # no jars or packages in the config's conf or in spark-defaults.conf, and a local master.
    from pyspark import SparkContext

    if os.environ.get("PYSPARK_GATEWAY_PORT") or SparkContext._active_spark_context is not None:
        return False
    settings = dict(_spark_defaults())
    settings.update(config.spark.conf)
    if any(settings.get(key) for key in ("spark.jars", "spark.jars.packages")):
        return False
    effective = master or settings.get("spark.master") or "local[*]"
    return effective.startswith("local")


def _spark_defaults() -> dict[str, str]:
    """Settings of the spark-defaults.conf that spark-submit would read (``$SPARK_CONF_DIR`` or
    ``$SPARK_HOME/conf``, else pyspark's own folder)."""
    folder = os.environ.get("SPARK_CONF_DIR") or str(Path(os.environ.get("SPARK_HOME") or
                                                         Path(pyspark.__file__).parent) / "conf")
    path = Path(folder) / "spark-defaults.conf"
    settings: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.strip().split(None, 1)
            if len(parts) == 2 and not parts[0].startswith("#"):
                settings[parts[0]] = parts[1].strip()
    return settings


def require_free_metastore(spark: SparkSession, metastore_dir: str) -> None:
    """Raise a clear error when the embedded Derby metastore is held by another process.

    Derby lets one JVM open a database at a time; a second process (a notebook next to a job, two
    CLI commands at once) would otherwise fail on its first catalog call with pages of Java errors.

    Raises
    ------
    ConfigError
        Naming the folder and the ways out.
    """
    try:
        spark.catalog.databaseExists("default")
    except Exception as exc:
        # The Hive client wraps Derby's error in several layers; the Java stack trace has them all.
        text = f"{exc} {getattr(exc, '_stackTrace', '')}"
        if "Another instance of Derby" in text or "XSDB6" in text:
            raise _metastore_in_use(metastore_dir) from None
        raise


def use_this_python_for_workers() -> None:
    """Make Spark's Python workers run this interpreter unless ``PYSPARK_PYTHON`` says otherwise.

    PySpark starts workers with ``$PYSPARK_PYTHON`` (default: ``python3`` on PATH), read when the
    SparkContext is created. Locally that must be the virtualenv's interpreter, which has
    featurespark's dependencies; on EMR the cluster configuration sets ``PYSPARK_PYTHON``. Call it
    from entry points (jobs, CLI, notebooks) before the session is built.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


__all__ = [
    "DEFAULT_JARS_DIR", "JARS_DIR_ENV", "MAIN_JARS_DIR", "SPARK35_JARS_DIR", "configure_spark", "default_jars_dir",
    "local_jars", "offline_catalog_conf", "require_free_metastore", "start_session", "use_this_python_for_workers",
]
