"""Stream trip events into the ``driver_trip_stats`` view: Delta and DynamoDB together (spark-submit job).

Reads trip events from Kafka (or, for local runs, from JSON files arriving in a folder), computes
trips and average fare per driver and hour window, and writes every micro-batch to the view's
Delta table (idempotent upsert) and its DynamoDB table (conditional writes, rate-limited).

    spark-submit --jars <spark-sql-kafka and its dependencies> jobs/stream_features.py --config conf/emr.yaml \\
        --kafka-bootstrap-servers b-1.msk.example:9092 --topic trips --max-offsets-per-trigger 200000 \\
        --checkpoint s3://my-bucket/featurespark/checkpoints/driver_trip_stats --trigger-interval "1 minute" \\
        --max-items-per-second 1000

    python jobs/stream_features.py --source files --input-path .featurespark/trips \\
        --checkpoint .featurespark/checkpoints/driver_trip_stats --available-now

Stop it with Ctrl-C / SIGTERM (or --run-seconds): the query stops after its current batch. A
killed run resumes from the checkpoint; no event is written twice.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any, Optional, Sequence

from pyspark.errors import StreamingQueryException
from pyspark.sql import SparkSession

from featurespark import FeatureStore
from featurespark._jobs import job_parser, parse, run_job
from featurespark.config import Config
from featurespark.errors import InvalidArgumentError, StreamFailedError
from featurespark.examples.trip_stream import TRIP_EVENT_SCHEMA, trip_window_features
from featurespark.streaming.sources import json_files_stream, kafka_json_stream

logger = logging.getLogger("featurespark.jobs.stream_features")


def _kafka_option(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, found {text!r}")
    return key, value


def build_parser() -> argparse.ArgumentParser:
    parser = job_parser("stream_features", "Stream trip events into the driver_trip_stats view (offline and "
                                           "online stores together).")
    parser.add_argument("--view", default="driver_trip_stats", help="registered view to write (default: %(default)s)")
    parser.add_argument("--source", choices=["kafka", "files"], default="kafka", help="event source (default: kafka)")
    kafka = parser.add_argument_group("kafka source")
    kafka.add_argument("--kafka-bootstrap-servers", help="host:port[,host:port] of the brokers")
    kafka.add_argument("--topic", default="trips", help="topic of trip events (default: %(default)s)")
    kafka.add_argument("--starting-offsets", default="latest",
                       help="where a new query starts: latest, earliest or Kafka's JSON (default: %(default)s)")
    kafka.add_argument("--max-offsets-per-trigger", type=int,
                       help="records per micro-batch at most (back-pressure at the source)")
    kafka.add_argument("--kafka-option", type=_kafka_option, action="append", default=[], metavar="KEY=VALUE",
                       help="more Kafka source options, e.g. kafka.security.protocol=SSL (repeatable)")
    files = parser.add_argument_group("files source")
    files.add_argument("--input-path", help="folder of JSON-lines trip event files (local or s3://)")
    files.add_argument("--max-files-per-trigger", type=int, help="new files per micro-batch at most")
    parser.add_argument("--checkpoint", required=True, help="checkpoint folder; reuse it to resume")
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--trigger-interval", help='micro-batch interval, e.g. "1 minute" (default: back to back)')
    when.add_argument("--available-now", action="store_true", help="process what is there, then stop")
    parser.add_argument("--window", default="1 hour", help="aggregation window (default: %(default)s)")
    parser.add_argument("--watermark", default="2 hours", help="allowed lateness of events (default: %(default)s)")
    parser.add_argument("--max-items-per-second", type=float, help="rate limit of each batch's DynamoDB writes")
    parser.add_argument("--on-invalid", choices=["fail", "quarantine"], default="fail",
                        help="rows the view rejects (e.g. unparseable event times): stop, or quarantine them")
    parser.add_argument("--run-seconds", type=float, help="stop the query after this many seconds")
    return parser


def _trigger(args: argparse.Namespace) -> Optional[dict[str, Any]]:
    if args.available_now:
        return {"availableNow": True}
    if args.trigger_interval:
        return {"processingTime": args.trigger_interval}
    return None


def stream(spark: SparkSession, config: Config, args: argparse.Namespace) -> str:
    if args.source == "kafka":
        if not args.kafka_bootstrap_servers:
            raise InvalidArgumentError("--kafka-bootstrap-servers is required with --source kafka.")
        events = kafka_json_stream(
            spark, bootstrap_servers=args.kafka_bootstrap_servers, topic=args.topic, schema=TRIP_EVENT_SCHEMA,
            starting_offsets=args.starting_offsets, max_offsets_per_trigger=args.max_offsets_per_trigger,
            options=dict(args.kafka_option),
        )
    else:
        if not args.input_path:
            raise InvalidArgumentError("--input-path is required with --source files.")
        events = json_files_stream(spark, args.input_path, schema=TRIP_EVENT_SCHEMA,
                                   max_files_per_trigger=args.max_files_per_trigger)
    features = trip_window_features(events, window=args.window, watermark=args.watermark)
    store = FeatureStore(spark, config)
    query = store.write_stream(args.view, features, checkpoint_location=args.checkpoint, trigger=_trigger(args),
                               max_items_per_second=args.max_items_per_second, on_invalid=args.on_invalid)
    stop = threading.Event()

    def request_stop(signum: int, _frame: Any) -> None:
        logger.info("Signal %d: stopping after the current batch", signum)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, request_stop)
    deadline = args.run_seconds
    waited = 0.0
    try:
        while query.isActive and not stop.is_set() and (deadline is None or waited < deadline):
            query.awaitTermination(1.0)
            waited += 1.0
    except StreamingQueryException:
        pass  # reported below from query.exception()
    query.stop()  # a no-op for a failed query; also removes its progress listener
    failure = query.error()
    if failure:
        raise StreamFailedError(f"The stream into '{args.view}' stopped: {failure}")
    done = query.summaries()
    rows = sum(s.offline.rows_in for s in done)
    items = sum(s.online.items for s in done if s.online is not None)
    retries = sum(s.online.retries for s in done if s.online is not None)
    rejected = sum(s.offline.rows_rejected for s in done)
    return (f"{len(done)} batch(es), {rows} feature rows, {rejected} rejected, {items} online items, "
            f"{retries} retries")


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse(build_parser(), argv)
    return run_job("stream_features", args, stream)


if __name__ == "__main__":
    sys.exit(main())
