"""Streaming sources with the options that bound a micro-batch (back-pressure at the source).

The online write of every batch is rate-limited (``max_items_per_second``); these options keep a
batch itself to a size that limit can absorb in a trigger interval:

- Kafka: ``maxOffsetsPerTrigger`` (records per batch across partitions).
- Files: ``maxFilesPerTrigger`` (new files per batch).

The Kafka source needs the ``spark-sql-kafka-0-10`` connector on the classpath: resolved with Maven
into ``.jars/`` locally (``bootstrap/jars/pom.xml``), shipped with EMR (see ``docs/streaming.md``).
"""
from __future__ import annotations

from typing import Mapping, Optional

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from featurespark.errors import InvalidArgumentError

__all__ = ["json_files_stream", "kafka_json_stream"]


def kafka_json_stream(
    spark: SparkSession,
    *,
    bootstrap_servers: str,
    topic: str,
    schema: StructType,
    starting_offsets: str = "latest",
    max_offsets_per_trigger: Optional[int] = None,
    options: Optional[Mapping[str, str]] = None,
) -> DataFrame:
    """Records of a Kafka topic whose values are JSON objects, parsed with ``schema``.

    Parameters
    ----------
    spark : SparkSession
    bootstrap_servers : str
        ``host:port[,host:port...]`` of the brokers.
    topic : str
        Topic to subscribe to.
    schema : StructType
        Fields of the JSON values; values that do not parse give null fields (and then fail or
        go to quarantine under the view's validation rules instead of vanishing).
    starting_offsets : {"latest", "earliest"} or JSON
        Where a query without a checkpoint starts; a checkpoint's offsets win afterwards.
    max_offsets_per_trigger : int, optional
        Upper bound of records per micro-batch.
    options : mapping, optional
        More source options, e.g. ``{"kafka.security.protocol": "SSL"}`` or ``failOnDataLoss``.

    Returns
    -------
    DataFrame
        Streaming; the schema's columns plus ``kafka_timestamp``, ``kafka_partition``, ``kafka_offset``.

    Examples
    --------
    >>> from featurespark.examples.trip_stream import TRIP_EVENT_SCHEMA
    >>> trips = kafka_json_stream(spark, bootstrap_servers="b-1.msk:9092", topic="trips", schema=TRIP_EVENT_SCHEMA,
    ...                           max_offsets_per_trigger=100_000)  # no broker is contacted until a query starts
    >>> trips.isStreaming, trips.columns
    (True, ['driver_id', 'event_time', 'fare', 'kafka_timestamp', 'kafka_partition', 'kafka_offset'])
    """
    if not bootstrap_servers or not topic:
        raise InvalidArgumentError("Kafka needs bootstrap_servers (host:port) and a topic.")
    if max_offsets_per_trigger is not None and max_offsets_per_trigger <= 0:
        raise InvalidArgumentError(f"max_offsets_per_trigger must be positive, found {max_offsets_per_trigger}.")
    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap_servers)
        .option("subscribe", topic)
        .option("startingOffsets", starting_offsets)
    )
    if max_offsets_per_trigger is not None:
        reader = reader.option("maxOffsetsPerTrigger", str(max_offsets_per_trigger))
    for key, value in (options or {}).items():
        reader = reader.option(key, value)
    raw = reader.load()
    parsed = F.from_json(F.col("value").cast("string"), schema).alias("event")
    return raw.select(parsed, F.col("timestamp").alias("kafka_timestamp"), F.col("partition").alias("kafka_partition"),
                      F.col("offset").alias("kafka_offset")).select("event.*", "kafka_timestamp", "kafka_partition",
                                                                      "kafka_offset")


def json_files_stream(
    spark: SparkSession, path: str, *, schema: StructType, max_files_per_trigger: Optional[int] = None
) -> DataFrame:
    """New JSON-lines files in a folder (local or S3) as a stream, ``max_files_per_trigger`` per batch.

    Examples
    --------
    >>> from featurespark.examples.trip_stream import TRIP_EVENT_SCHEMA
    >>> (tmp_path / "trips").mkdir()
    >>> trips = json_files_stream(spark, str(tmp_path / "trips"), schema=TRIP_EVENT_SCHEMA, max_files_per_trigger=10)
    >>> trips.isStreaming
    True
    """
    if max_files_per_trigger is not None and max_files_per_trigger <= 0:
        raise InvalidArgumentError(f"max_files_per_trigger must be positive, found {max_files_per_trigger}.")
    reader = spark.readStream.schema(schema)
    if max_files_per_trigger is not None:
        reader = reader.option("maxFilesPerTrigger", str(max_files_per_trigger))
    return reader.json(path)
