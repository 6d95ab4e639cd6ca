"""Small text files (manifests, the registry snapshot) on local disk, S3 or any Hadoop file system.

Two implementations of one interface:

- :class:`HadoopFiles` goes through a Spark session's Hadoop file systems (``s3://`` with EMRFS on
  EMR, ``s3a://``, ``hdfs://``, local paths), with the session's credentials and endpoints;
- :class:`DirectFiles` needs no JVM: local paths through Python, ``s3://``/``s3a://``/``s3n://`` through
  boto3 (default credential chain; ``AWS_ENDPOINT_URL_S3`` points it at another endpoint).

Writes of local files are atomic (a temporary file renamed into place), and so are S3 puts.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Protocol
from urllib.parse import urlparse

from featurespark.errors import InvalidArgumentError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_S3_SCHEMES = ("s3", "s3a", "s3n")


class TextFiles(Protocol):
    """What the registry snapshot and the training-set manifest need from a file system."""

    def exists(self, path: str) -> bool:
        """Whether a file exists."""

    def read_text(self, path: str) -> Optional[str]:
        """The file's UTF-8 text, or None when it does not exist."""

    def write_text(self, path: str, text: str) -> None:
        """Write (or replace) a file."""


def _local_path(path: str) -> Optional[Path]:
    parsed = urlparse(path)
    if parsed.scheme in ("", "file"):
        return Path(parsed.path if parsed.scheme else path)
    return None


def _write_local(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class DirectFiles:
    """Local files through Python and S3 objects through boto3: no Spark, no JVM.

    Examples
    --------
    >>> files = DirectFiles()
    >>> files.write_text(str(tmp_path / "a" / "note.txt"), "hello")
    >>> files.read_text(str(tmp_path / "a" / "note.txt")), files.exists(str(tmp_path / "missing"))
    ('hello', False)
    """

    def __init__(self, s3_client: Any = None) -> None:
        self._s3 = s3_client

    def _client(self) -> Any:
        if self._s3 is None:
            import boto3

            self._s3 = boto3.session.Session().client("s3")
        return self._s3

    @staticmethod
    def _bucket_key(path: str) -> tuple[str, str]:
        parsed = urlparse(path)
        if parsed.scheme not in _S3_SCHEMES or not parsed.netloc:
            raise InvalidArgumentError(
                f"{path!r} is neither a local path nor an s3:// URI; without Spark only those can be read. "
                "Read it through a Spark session instead."
            )
        return parsed.netloc, parsed.path.lstrip("/")

    def exists(self, path: str) -> bool:
        local = _local_path(path)
        if local is not None:
            return local.exists()
        return self.read_text(path) is not None

    def read_text(self, path: str) -> Optional[str]:
        local = _local_path(path)
        if local is not None:
            return local.read_text(encoding="utf-8") if local.is_file() else None
        bucket, key = self._bucket_key(path)
        client = self._client()
        try:
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except client.exceptions.NoSuchKey:
            return None
        return str(body.decode("utf-8"))

    def write_text(self, path: str, text: str) -> None:
        local = _local_path(path)
        if local is not None:
            _write_local(local, text)
            return
        bucket, key = self._bucket_key(path)
        self._client().put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"))


def jvm_class(spark: SparkSession, name: str) -> Any:
    """The JVM class ``name`` (fully qualified) of the session's JVM, as py4j's ``JavaClass``.

    The class is named to py4j whole: ``spark.sparkContext._jvm.org.apache.hadoop.fs.Path`` resolves
    it one package at a time, a round trip each whose failed class lookups scan the classpath's jars
    (about 3 ms for that name, against a fraction of a millisecond for the call itself).

    Examples
    --------
    >>> jvm_class(spark, "org.apache.hadoop.fs.Path")(str(tmp_path / "a.txt")).getName()
    'a.txt'
    """
    from py4j.java_gateway import JavaClass

    jvm: Any = spark.sparkContext._jvm
    return JavaClass(name, jvm._gateway_client)


def hadoop_path(spark: SparkSession, path: str) -> Any:
    """A JVM ``org.apache.hadoop.fs.Path`` of ``path`` (see :func:`jvm_class`)."""
    return jvm_class(spark, "org.apache.hadoop.fs.Path")(path)


class HadoopFiles:
    """Files through the Hadoop file systems of a Spark session (every URI scheme the cluster knows).

    Local paths are written atomically through Python; other schemes through Hadoop's
    ``FileSystem.create`` (an S3 object appears whole when the stream closes).
    """

    def __init__(self, spark: SparkSession) -> None:
        self._spark = spark

    def _fs(self, path: str) -> tuple[Any, Any]:
        # Python has no Hadoop file system client; the session's JVM does, for every URI scheme.
        jsc: Any = self._spark.sparkContext._jsc
        hpath = hadoop_path(self._spark, path)
        return hpath.getFileSystem(jsc.hadoopConfiguration()), hpath

    def exists(self, path: str) -> bool:
        fs, hpath = self._fs(path)
        return bool(fs.exists(hpath))

    def read_text(self, path: str) -> Optional[str]:
        fs, hpath = self._fs(path)
        if not fs.exists(hpath):
            return None
        stream = fs.open(hpath)
        try:
            return str(jvm_class(self._spark, "org.apache.commons.io.IOUtils").toString(stream, "UTF-8"))
        finally:
            stream.close()

    def delete(self, path: str) -> bool:
        """Delete a file or a folder with everything in it; False when there was nothing."""
        fs, hpath = self._fs(path)
        return bool(fs.exists(hpath)) and bool(fs.delete(hpath, True))

    def write_text(self, path: str, text: str) -> None:
        local = _local_path(path)
        if local is not None:
            _write_local(local, text)
            return
        fs, hpath = self._fs(path)
        stream = fs.create(hpath, True)
        try:
            stream.write(bytearray(text.encode("utf-8")))
        finally:
            stream.close()
