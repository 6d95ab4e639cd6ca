"""Shared plumbing of the spark-submit jobs in ``jobs/``: arguments, logging, session, exit codes."""
from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Callable, Optional, Sequence

from pyspark.sql import SparkSession

from featurespark.config import Config, load_config
from featurespark.errors import FeaturesparkError

logger = logging.getLogger("featurespark.jobs")


def job_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every job has (``--config``, ``--master``, ``-v``)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--config", default="conf/local.yaml",
                        help="featurespark YAML config: a local path or an s3:// URI, read with boto3 by the driver "
                             "in cluster and client deploy mode alike (default: conf/local.yaml)")
    parser.add_argument("--master", default=None,
                        help="Spark master for plain `python` runs (spark-submit sets its own)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    return parser


def run_job(
    name: str,
    args: argparse.Namespace,
    body: Callable[[SparkSession, Config, argparse.Namespace], Optional[str]],
) -> int:
    """Load the config, build the session once, run ``body``, stop the session.

    ``body`` returns a summary line, logged at the end. Featurespark errors are logged with
    their message and give exit code 1; anything else propagates (non-zero exit too).
    """
    from featurespark.session import start_session

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("py4j", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    started = time.monotonic()
    try:
        config = load_config(args.config)
    except FeaturesparkError as exc:
        logger.error("%s failed: %s", name, exc)
        return 1
    spark = start_session(config, f"featurespark-{name}", master=args.master)
    spark.sparkContext.setLogLevel("ERROR")
    try:
        summary = body(spark, config, args)
    except FeaturesparkError as exc:
        logger.error("%s failed after %.1fs: %s", name, time.monotonic() - started, exc)
        return 1
    finally:
        spark.stop()
    logger.info("%s done in %.1fs%s", name, time.monotonic() - started, f": {summary}" if summary else "")
    return 0


def parse(parser: argparse.ArgumentParser, argv: Optional[Sequence[str]]) -> argparse.Namespace:
    """Parse ``argv`` (default: ``sys.argv[1:]``)."""
    return parser.parse_args(list(argv) if argv is not None else None)
