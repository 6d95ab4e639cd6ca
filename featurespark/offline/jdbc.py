"""Database tables and queries as feature sources: Spark's JDBC reader and the Spark Redshift connector.

:class:`~featurespark.definitions.JdbcSource` and :class:`~featurespark.definitions.RedshiftSource` share
one code path: :func:`reader_options` builds the reader's options (the table or query, the URL, the
credentials taken from the environment variables the source names) and :func:`read_jdbc` reads them.
A Redshift source adds what the connector EMR ships needs (``tempdir`` on S3, ``aws_iam_role``) and
uses its format name. Credentials are never logged or put in error messages: errors name the
environment variable, not its value.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Mapping, Optional

from pyspark.sql import DataFrame, SparkSession

from featurespark.definitions import JdbcSource, RedshiftSource
from featurespark.errors import ConfigError, SourceNotFoundError
from featurespark.offline._java_errors import error_summary

logger = logging.getLogger(__name__)

__all__ = ["REDSHIFT_FORMAT", "RedshiftConnection", "reader_options", "read_jdbc", "redacted"]

#: Data source name of the Spark Redshift connector EMR ships (``/usr/share/aws/redshift/spark-redshift``).
REDSHIFT_FORMAT = "io.github.spark_redshift_community.spark.redshift"
_SECRET_OPTIONS = ("password", "user")
# Drivers of the common databases, named explicitly: a driver jar given with spark.jars is loaded by Spark's
# class loader, where java.sql.DriverManager (used when no driver is named) does not find it.
_DRIVERS = {
    "jdbc:postgresql:": "org.postgresql.Driver",
    "jdbc:mysql:": "com.mysql.cj.jdbc.Driver",
    "jdbc:mariadb:": "org.mariadb.jdbc.Driver",
    "jdbc:sqlserver:": "com.microsoft.sqlserver.jdbc.SQLServerDriver",
    "jdbc:oracle:": "oracle.jdbc.OracleDriver",
}


@dataclass(frozen=True)
class RedshiftConnection:
    """Where and how Redshift sources are read: the ``redshift`` section of the config.

    Attributes
    ----------
    url : str
        JDBC URL, e.g. ``jdbc:redshift://cluster.abc.eu-west-1.redshift.amazonaws.com:5439/dev``.
    temp_dir : str
        S3 folder Redshift UNLOADs to and Spark reads from (``s3://`` on EMR).
    iam_role : str
        ARN of the IAM role Redshift assumes to write to ``temp_dir``.
    user_env, password_env : str, optional
        Environment variables holding the database user and password, when the URL does not
        authenticate with IAM (``jdbc:redshift:iam://...``).
    """

    url: str
    temp_dir: str
    iam_role: str
    user_env: Optional[str] = None
    password_env: Optional[str] = None


def _credential(owner: str, field: str, name: Optional[str], env: Mapping[str, str]) -> Optional[str]:
    if name is None:
        return None
    value = env.get(name)
    if value is None:
        raise ConfigError(f"{owner}.{field} names the environment variable {name}, which is not set. Set it "
                          "where the job runs (on EMR: spark-env / yarn.appMasterEnv), or unset the field.")
    return value


def reader_options(source: JdbcSource, *, redshift: Optional[RedshiftConnection] = None,
                   env: Optional[Mapping[str, str]] = None) -> tuple[str, dict[str, str]]:
    """The data source name and options that read ``source``.

    Parameters
    ----------
    source : JdbcSource or RedshiftSource
    redshift : RedshiftConnection, optional
        Required for a ``RedshiftSource``.
    env : mapping, optional
        Environment to take credentials from (default ``os.environ``).

    Returns
    -------
    tuple of (str, dict)
        ``("jdbc", options)``, or the Redshift connector's name and its options.

    Raises
    ------
    ConfigError
        If a named credential variable is not set, or a Redshift source has no ``redshift`` config.

    Examples
    --------
    >>> src = JdbcSource(url="jdbc:postgresql://db:5432/f", table="trips", password_env="PGPASSWORD",
    ...                  user_env="PGUSER", options={"fetchsize": "1000"}, timestamp_field="ts")
    >>> fmt, opts = reader_options(src, env={"PGUSER": "fs", "PGPASSWORD": "s3cret"})
    >>> fmt, redacted(opts)
    ('jdbc', {'fetchsize': '1000', 'url': 'jdbc:postgresql://db:5432/f', 'driver': 'org.postgresql.Driver', \
'dbtable': 'trips', 'user': '***', 'password': '***'})
    >>> rs = RedshiftSource(query="select * from trips", timestamp_field="ts")
    >>> fmt, opts = reader_options(rs, redshift=RedshiftConnection(
    ...     url="jdbc:redshift:iam://c.abc.eu-west-1.redshift.amazonaws.com:5439/dev",
    ...     temp_dir="s3://bucket/tmp/redshift/", iam_role="arn:aws:iam::123456789012:role/rs"), env={})
    >>> fmt, sorted(opts)
    ('io.github.spark_redshift_community.spark.redshift', ['aws_iam_role', 'query', 'tempdir', 'url'])
    """
    environ = os.environ if env is None else env
    owner = type(source).__name__
    options = dict(source.options or {})
    user_env, password_env = source.user_env, source.password_env
    fmt = "jdbc"
    url = source.url
    if isinstance(source, RedshiftSource):
        if redshift is None:
            raise ConfigError("A RedshiftSource needs the redshift section of the config (url, temp_dir, iam_role); "
                              "see docs/config.md.")
        fmt = REDSHIFT_FORMAT
        url = source.url or redshift.url
        user_env = user_env or redshift.user_env
        password_env = password_env or redshift.password_env
        options["tempdir"] = redshift.temp_dir
        options["aws_iam_role"] = redshift.iam_role
        owner = "redshift"
    options["url"] = url
    driver = next((d for prefix, d in _DRIVERS.items() if url.startswith(prefix)), None)
    if fmt == "jdbc" and driver and "driver" not in options:
        options["driver"] = driver
    if source.table is not None:
        options["dbtable"] = source.table
    else:
        options["query"] = source.query or ""
    user = _credential(owner, "user_env", user_env, environ)
    password = _credential(owner, "password_env", password_env, environ)
    if user is not None:
        options["user"] = user
    if password is not None:
        options["password"] = password
    return fmt, options


def redacted(options: Mapping[str, str]) -> dict[str, str]:
    """``options`` with the credentials replaced by ``***``, for logs and messages.

    Examples
    --------
    >>> redacted({"url": "jdbc:postgresql://db/f", "password": "s3cret"})
    {'url': 'jdbc:postgresql://db/f', 'password': '***'}
    """
    return {k: ("***" if k in _SECRET_OPTIONS else v) for k, v in options.items()}


def read_jdbc(spark: SparkSession, source: JdbcSource, *, redshift: Optional[RedshiftConnection] = None,
              env: Optional[Mapping[str, str]] = None) -> DataFrame:
    """Read a JDBC or Redshift source (lazily: Spark reads the schema now, the rows when an action runs).

    Filters on the result (the training set's time window) are pushed into the database's query by
    Spark's JDBC reader.

    Raises
    ------
    SourceNotFoundError
        If the database cannot be reached or the table or query fails; the message names the URL and
        table, never the credentials.
    """
    fmt, options = reader_options(source, redshift=redshift, env=env)
    secrets = [options[k] for k in _SECRET_OPTIONS if options.get(k)]
    logger.info("Reading %s with options %s", fmt, redacted(options))
    try:
        return spark.read.format(fmt).options(**options).load()
    except Exception as exc:  # noqa: BLE001 - Py4JJavaError (PSQLException, ClassNotFoundException, ...)
        detail = error_summary(exc)
        for secret in secrets:
            detail = detail.replace(secret, "***")
        what = f"table {source.table}" if source.table is not None else "its query"
        raise SourceNotFoundError(
            f"{type(source).__name__} {what} at {options['url']} cannot be read: {detail}. Check the URL, the "
            "table or query, that the database is reachable from the cluster and that the credentials in "
            f"{source.user_env or 'user_env'} / {source.password_env or 'password_env'} are right (and, for "
            "JDBC, that the driver's jar is on the session)."
        ) from None
