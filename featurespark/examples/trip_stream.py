"""Example streaming feature: trips per driver per time window, from trip events.

Events are JSON objects ``{"driver_id": 7, "event_time": "2026-01-01T10:05:00Z", "fare": 12.5}``
(from Kafka in production, from JSON files in local runs and tests). :func:`trip_window_features`
turns them into rows of the ``driver_trip_stats`` view of ``examples/driver_repo``: one row per
driver and window, stamped with the window's end; an update of a window (late events) carries a
later ``created`` time, so it replaces the earlier row in both stores.
"""
from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

__all__ = ["TRIP_EVENT_SCHEMA", "trip_window_features", "write_trip_event_files"]

#: Schema of a trip event.
TRIP_EVENT_SCHEMA = StructType([
    StructField("driver_id", LongType()),
    StructField("event_time", StringType()),
    StructField("fare", DoubleType()),
])


def trip_window_features(events: DataFrame, *, window: str = "1 hour", watermark: str = "2 hours") -> DataFrame:
    """Trips and average fare per driver and tumbling window (a streaming aggregation).

    Parameters
    ----------
    events : DataFrame
        Streaming (or batch) trip events with :data:`TRIP_EVENT_SCHEMA`'s columns.
    window : str
        Window length (Spark interval string).
    watermark : str
        How late an event may arrive; older windows are finalized and their state dropped.

    Returns
    -------
    DataFrame
        ``driver_id``, ``event_timestamp`` (window end), ``created`` (processing time), ``trips``,
        ``avg_fare``: the columns of the ``driver_trip_stats`` view. An event without a parseable
        time becomes a row with a null ``event_timestamp`` (and null features), so the view's
        validation rejects it visibly (fail or quarantine) instead of the aggregation dropping it.
        Events later than the watermark are ignored by Spark's aggregation, as in any streaming
        aggregation: choose the watermark from how late events really arrive.

    Examples
    --------
    >>> trips = spark.createDataFrame([(7, "2026-01-01T10:05:00Z", 12.5), (7, "2026-01-01T10:35:00Z", 7.5)],
    ...                               TRIP_EVENT_SCHEMA)
    >>> trip_window_features(trips, window="1 hour").select("driver_id", "trips", "avg_fare").collect()
    [Row(driver_id=7, trips=2, avg_fare=10.0)]
    """
    timed = events.withColumn("event_ts", F.try_to_timestamp(F.col("event_time")))
    aggregated = (
        timed.where(F.col("event_ts").isNotNull())
        .withWatermark("event_ts", watermark)
        .groupBy("driver_id", F.window("event_ts", window))
        .agg(F.count(F.lit(1)).alias("trips"), F.avg("fare").alias("avg_fare"))
        .select(
            "driver_id",
            F.col("window.end").alias("event_timestamp"),
            F.current_timestamp().alias("created"),
            F.col("trips").cast("long").alias("trips"),
            "avg_fare",
        )
    )
    unparseable = timed.where(F.col("event_ts").isNull()).select(
        "driver_id",
        F.lit(None).cast("timestamp").alias("event_timestamp"),
        F.current_timestamp().alias("created"),
        F.lit(None).cast("long").alias("trips"),
        F.lit(None).cast("double").alias("avg_fare"),
    )
    return aggregated.unionByName(unparseable)


def write_trip_event_files(folder: str | Path, *, start: datetime, hours: int, drivers: int, files: int,
                           seed: int = 7) -> list[dict[str, object]]:
    """Write random trip events as ``files`` JSON-lines files (one per future micro-batch).

    Returns every event written, for checks against a brute-force count.
    """
    rng = random.Random(seed)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    events: list[dict[str, object]] = []
    for i in range(hours * drivers * 3):
        at = start + timedelta(seconds=rng.randrange(hours * 3600))
        events.append({"driver_id": rng.randrange(1, drivers + 1),
                       "event_time": at.isoformat().replace("+00:00", "Z"), "fare": round(rng.uniform(5, 60), 2)})
    per_file = -(-len(events) // files)
    for n in range(files):
        chunk = events[n * per_file:(n + 1) * per_file]
        (out / f"trips-{n:04d}.json").write_text("".join(json.dumps(e) + "\n" for e in chunk))
    return events
