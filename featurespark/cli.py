"""The ``featurespark`` command line.

Exit codes scripts can rely on:

- ``0``: success (``plan``: whether or not there are changes, unless ``--exit-code``);
- ``1``: a featurespark error (bad config, definitions, sources; the message says what to fix);
- ``2``: wrong command-line usage;
- ``3``: ``plan --exit-code`` found changes to apply;
- ``4``: ``consistency`` found online values that disagree with the offline recompute.

This module is a command line: its results are printed to stdout and errors to stderr, by design.
The library modules it calls log through ``logging`` instead (``-v`` shows those logs).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Sequence

from featurespark.config import Config, load_config, online_region
from featurespark.errors import FeaturesparkError

if TYPE_CHECKING:
    from featurespark.registry import RegistryState
    from featurespark.store import FeatureStore

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_CHANGES, EXIT_MISMATCH = 0, 1, 2, 3, 4


class UsageError(Exception):
    """Options that do not go together (exit code 2, like argparse's own usage errors)."""

_CONFIG_TEMPLATE = """\
# featurespark configuration; every key is documented in docs/config.md.
project:
  name: {name}
offline_store:
  # A local folder or an s3:// URI; the registry lives at <root>/_registry.
  root: ${{FEATURESPARK_HOME:-data}}/offline
  database: {name}
online_store:
  type: dynamodb
  # region: eu-west-1   # unset: AWS_REGION / AWS_DEFAULT_REGION, else the EC2 instance's region
  endpoint_url: ${{FEATURESPARK_DYNAMODB_ENDPOINT:-http://127.0.0.1:8000}}
spark:
{jars_line}
  metastore_dir: ${{FEATURESPARK_HOME:-data}}/metastore
  conf:
    # Small local data: a few shuffle partitions, no console progress bars.
    spark.sql.shuffle.partitions: "8"
    spark.ui.showConsoleProgress: "false"
    spark.databricks.delta.snapshotPartitions: "2"
"""

# The jars line of the scaffold: local runs need Delta Lake's jars on the classpath.
_JARS_FOUND = """\
  # Delta Lake's jars for local runs, found in the featurespark checkout when this repo was created
  # (FEATURESPARK_JARS_DIR overrides). Remove the line on EMR, where the cluster ships Delta.
  jars_dir: ${{FEATURESPARK_JARS_DIR:-{folder}}}"""
_JARS_MISSING = """\
  # Local runs need Delta Lake's jars: `bash bootstrap/setup-local.sh` in a featurespark checkout resolves
  # them into its .jars folder; point jars_dir there. Leave it unset on EMR, where the cluster ships Delta.
  # jars_dir: /path/to/featurespark/.jars"""

_DEFINITIONS_TEMPLATE = '''\
"""Feature definitions of this repo: edit, then run `featurespark plan` and `featurespark apply`."""
from datetime import timedelta

from featurespark import Entity, FeatureView, Field, ManagedSource

driver = Entity("driver", join_keys={"driver_id": "int64"})

driver_stats = FeatureView(
    name="driver_stats",
    entities=[driver],
    schema=[Field("conv_rate", "float64"), Field("avg_daily_trips", "int64")],
    source=ManagedSource(timestamp_field="event_timestamp"),
    ttl=timedelta(days=1),
    # online=True serves the view from DynamoDB (online_store in featurespark.yaml; locally a DynamoDB endpoint on 127.0.0.1).
    online=False,
)
'''

_QUICKSTART_TEMPLATE = '''\
"""Ingest a few rows into driver_stats and build a point-in-time training set.

Run from the repo folder after `featurespark apply`:  python scripts/quickstart.py
"""
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from featurespark import FeatureStore, load_config
from featurespark.session import start_session

config = load_config(Path(__file__).resolve().parent.parent / "featurespark.yaml")
spark = start_session(config, "quickstart")
store = FeatureStore(spark, config)


def at(hour: int) -> datetime:
    return datetime(2026, 1, 1, hour, tzinfo=timezone.utc)


stats = pd.DataFrame({
    "driver_id": [1, 1, 2],
    "event_timestamp": [at(8), at(10), at(9)],
    "conv_rate": [0.5, 0.7, 0.4],
    "avg_daily_trips": [10, 12, 7],
})
print(store.write_features("driver_stats", stats, mode="upsert"))

labels = pd.DataFrame({"driver_id": [1, 1, 2], "event_timestamp": [at(9), at(11), at(12)], "label": [0, 1, 1]})
training = store.get_historical_features(labels, ["driver_stats:conv_rate", "driver_stats:avg_daily_trips"])
training.orderBy("driver_id", "event_timestamp").show()
spark.stop()
'''


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command (also used to render ``--help``)."""
    parser = argparse.ArgumentParser(
        prog="featurespark",
        description="Manage a featurespark feature repo: scaffold it, plan and apply definitions, inspect "
        "the registry.",
        epilog="Exit codes: 0 ok, 1 featurespark error, 2 usage error, 3 `plan --exit-code` found changes, "
               "4 `consistency` found disagreeing values.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str, needs_repo: bool = False) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--config", help="YAML config (default: $FEATURESPARK_CONFIG, else "
                                        "<repo>/featurespark.yaml)")
        p.add_argument("--repo", default=".", help="feature repo folder with the definitions (default: .)")
        return p

    init = sub.add_parser("init", help="create a feature repo with a config and example definitions",
                          description="Create a feature repo folder with featurespark.yaml and definitions.py.")
    init.add_argument("path", help="folder to create (must not exist or be empty)")
    init.add_argument("--name", help="project name (default: the folder name)")

    plan = add("plan", "show what apply would change in the registry; writes nothing")
    plan.add_argument("--delete", action="store_true", help="also plan deleting registered objects the repo "
                                                             "no longer defines")
    plan.add_argument("--exit-code", action="store_true", help="exit with 3 when there are changes")
    plan.add_argument("--drop-data", action="store_true", help="with --delete: show the deleted views' tables as "
                                                               "dropped rather than kept")
    apply = add("apply", "register the repo's entities and feature views (records a version per change)")
    apply.add_argument("--delete", action="store_true", help="delete registered objects the repo no longer "
                                                              "defines (their tables are kept unless --drop-data)")
    apply.add_argument("--drop-data", action="store_true", help="with --delete: also drop the deleted views' Delta, "
                                                                "quarantine and DynamoDB tables (needs --yes)")
    apply.add_argument("--yes", action="store_true", help="confirm --drop-data")
    drop = add("drop-data", "drop the tables a deleted view left behind (Delta, quarantine, DynamoDB)")
    drop.add_argument("name", help="the deleted view's name")
    drop.add_argument("--yes", action="store_true", help="confirm: the data cannot be recovered")
    add("refresh-snapshot", "rebuild the registry snapshot (the file online lookups and list/describe read) from "
                            "the registry's log")
    add("migrate-registry", "move an Iceberg registry from the Hadoop catalog older featurespark kept it in into the "
                            "Glue catalog (iceberg_catalog_type: glue); nothing is copied")
    lst = add("list", "list registered entities, feature views and aggregation views")
    lst.add_argument("--json", action="store_true", help="print JSON")
    desc = add("describe", "show the registered spec of an entity, feature view or aggregation view")
    desc.add_argument("name")
    hist = add("history", "list the registry's versions, newest last")
    hist.add_argument("name", nargs="?", help="only this object")

    mat = add("materialize", "push the latest values with START <= event time < END of online views to DynamoDB")
    mat.add_argument("start", type=parse_timestamp, help="ISO time, e.g. 2026-01-01T00:00:00 (UTC unless an offset "
                                                    "is given)")
    mat.add_argument("end", type=parse_timestamp, help="ISO time (exclusive)")
    inc = add("materialize-incremental", "materialize each online view from its watermark to END, then move "
                                         "the watermark")
    inc.add_argument("end", type=parse_timestamp, help="ISO time, not in the future")
    inc.add_argument("--lookback-minutes", type=float, default=0.0,
                     help="re-read this much before the watermark to pick up late rows")
    for p in (mat, inc):
        p.add_argument("--views", nargs="+", help="only these views (default: every online view)")
        p.add_argument("--monotonic", action="store_true",
                       help="never let an older event overwrite a newer one online (conditional writes)")
        p.add_argument("--max-items-per-second", type=float, help="rate limit for the whole run")
    get = add("online-get", "look up online feature values")
    get.add_argument("--features", nargs="+", required=True, help="view:feature or view references")
    get.add_argument("--entity", action="append", required=True, metavar="KEY=VALUE[,KEY=VALUE]",
                     help="one entity row; repeat for more (values that look like integers are integers)")
    get.add_argument("--full-feature-names", action="store_true", help="name outputs view__feature")
    get.add_argument("--at", type=parse_timestamp, help="lookup time (default now): where aggregation windows end "
                                                        "and TTLs count back from")
    cons = add("consistency", "compare an online aggregation view's values with an offline recompute from its "
                              "source; exit code 4 when they disagree")
    cons.add_argument("view", help="a registered aggregation view with online=True")
    cons.add_argument("--samples", type=int, default=100, metavar="N", help="keys to sample (default 100)")
    cons.add_argument("--at", type=parse_timestamp, action="append", metavar="TIME",
                      help="lookup time, ISO (UTC unless an offset is given); repeat for more (default now)")
    cons.add_argument("--seed", type=int, default=0, help="seed of the key sample (default 0)")

    from featurespark.emr import add_emr_subcommand

    add_emr_subcommand(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the CLI; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "init": _init,
        "plan": _plan,
        "apply": _apply,
        "list": _list,
        "describe": _describe,
        "history": _history,
        "refresh-snapshot": _refresh_snapshot,
        "migrate-registry": _migrate_registry,
        "drop-data": _drop_data,
        "materialize": _materialize,
        "materialize-incremental": _materialize_incremental,
        "online-get": _online_get,
        "consistency": _consistency,
        "emr": _emr,
        "emr-serverless": _emr,
    }
    try:
        return handlers[args.command](args)
    except UsageError as exc:
        print(f"featurespark {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except FeaturesparkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR


def resolve_config(args: argparse.Namespace) -> Config:
    """Config from ``--config``, ``$FEATURESPARK_CONFIG`` or ``<repo>/featurespark.yaml``."""
    path = args.config or os.environ.get("FEATURESPARK_CONFIG") or str(Path(args.repo) / "featurespark.yaml")
    return load_config(path)


@contextmanager
def _store(args: argparse.Namespace) -> Iterator[FeatureStore]:
    """A FeatureStore for this command; the session is stopped at the end if this command started it."""
    from pyspark.sql import SparkSession

    from featurespark.session import start_session
    from featurespark.store import FeatureStore

    config = resolve_config(args)
    running = SparkSession.getActiveSession()  # e.g. `main()` called from a notebook or a test
    spark = start_session(config, f"featurespark-{args.command}")
    if running is None:
        spark.sparkContext.setLogLevel("ERROR")
    store = FeatureStore(spark, config)
    try:
        yield store
    finally:
        store.close()
        if running is None:
            spark.stop()


def _snapshot(args: argparse.Namespace) -> tuple[Config, RegistryState]:
    """The registry's live state from its snapshot file: no Spark session (fast, works without Java)."""
    from featurespark._files import DirectFiles
    from featurespark.registry.snapshot import is_current, load_snapshot
    from featurespark.services.locations import registry_glue_table, registry_path

    config = resolve_config(args)
    state = load_snapshot(registry_path(config), allow_stale=True)
    if not is_current(DirectFiles(), registry_path(config), state, config.offline_store.format,
                      glue=registry_glue_table(config)):
        print("warning: the registry snapshot is behind the registry log (a writer stopped early); run "
              "`featurespark refresh-snapshot`", file=sys.stderr)
    return config, state


def _init(args: argparse.Namespace) -> int:
    folder = Path(args.path)
    if folder.exists() and any(folder.iterdir()):
        raise FeaturesparkError(f"{folder} exists and is not empty; choose a new folder for the feature repo.")
    name = args.name or folder.resolve().name.replace("-", "_")
    folder.mkdir(parents=True, exist_ok=True)
    jars = _checkout_jars_dir()
    jars_line = _JARS_FOUND.format(folder=jars) if jars else _JARS_MISSING
    (folder / "featurespark.yaml").write_text(_CONFIG_TEMPLATE.format(name=name, jars_line=jars_line),
                                              encoding="utf-8")
    (folder / "definitions.py").write_text(_DEFINITIONS_TEMPLATE, encoding="utf-8")
    # In a subfolder: `featurespark plan` imports every .py file at the top of the repo.
    (folder / "scripts").mkdir()
    (folder / "scripts" / "quickstart.py").write_text(_QUICKSTART_TEMPLATE, encoding="utf-8")
    load_config(folder / "featurespark.yaml")  # the scaffold must itself be valid
    print(f"Created feature repo {folder} (featurespark.yaml, definitions.py, scripts/quickstart.py). Next: "
          f"cd {folder} && featurespark plan && featurespark apply && python scripts/quickstart.py")
    if not jars:
        print("Note: no Delta Lake jars were found for local runs; see the jars_dir comment in featurespark.yaml.")
    return EXIT_OK


def _checkout_jars_dir() -> Optional[str]:
    """The jars folder local sessions of this installation use, if it holds Delta Lake (else None)."""
    try:
        from featurespark.session import default_jars_dir
    except ImportError:  # no pyspark here: the repo is for another machine
        return None
    folder = default_jars_dir()
    return str(folder) if any(folder.glob("delta-spark*.jar")) else None


def _plan(args: argparse.Namespace) -> int:
    from featurespark.repo import load_repo

    if args.drop_data and not args.delete:
        raise UsageError("--drop-data only applies with --delete.")
    with _store(args) as store:
        plan = store.plan(load_repo(args.repo), delete=args.delete, drop_data=args.drop_data)
    print(plan.describe())
    return EXIT_CHANGES if (args.exit_code and plan.has_changes) else EXIT_OK


def _apply(args: argparse.Namespace) -> int:
    from featurespark.repo import load_repo

    if args.drop_data and not args.delete:
        raise UsageError("--drop-data only applies with --delete.")
    if args.drop_data and not args.yes:
        raise UsageError("--drop-data deletes the Delta and DynamoDB tables of deleted views for good; run "
                         "`featurespark plan --delete --drop-data` to see which, then add --yes to confirm.")
    with _store(args) as store:
        plan = store.apply(load_repo(args.repo), delete=args.delete, drop_data=args.drop_data)
    print(plan.describe() if plan.has_changes else "No changes: the registry is up to date.")
    if plan.has_changes:
        print("Applied.")
    return EXIT_OK


def _drop_data(args: argparse.Namespace) -> int:
    if not args.yes:
        raise UsageError(f"drop-data deletes the tables of '{args.name}' for good; add --yes to confirm.")
    with _store(args) as store:
        dropped = store.drop_data(args.name)
    print("Dropped: " + ", ".join(dropped) if dropped else f"Nothing stored for '{args.name}'.")
    return EXIT_OK


def _refresh_snapshot(args: argparse.Namespace) -> int:
    with _store(args) as store:
        state = store.registry.refresh_snapshot()
    print(f"Registry snapshot rewritten at log version {state.log_version}: {len(state.entities)} entities, "
          f"{len(state.views)} feature views.")
    return EXIT_OK


def _migrate_registry(args: argparse.Namespace) -> int:
    with _store(args) as store:
        registered = store.migrate_registry()
    print(f"Registry registered in Glue from {registered}." if registered else
          "The registry is already in the Glue catalog; nothing to do.")
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    _, state = _snapshot(args)
    entities = [e for _, e in sorted(state.entities.items())]
    views = [v for _, v in sorted(state.views.items())]
    aggregation_views = [v for _, v in sorted(state.aggregation_views.items())]
    if args.json:
        print(json.dumps({"entities": [e.to_dict() for e in entities],
                          "feature_views": [v.to_dict() for v in views],
                          "aggregation_views": [v.to_dict() for v in aggregation_views]}, indent=2))
        return EXIT_OK
    print("ENTITIES")
    for e in entities:
        print(f"  {e.name:<28} keys: {', '.join(f'{k.name} {k.dtype}' for k in e.key_fields)}")
    print("FEATURE VIEWS")
    for v in views:
        ttl = "unbounded" if v.ttl is None else str(v.ttl)
        print(f"  {v.name:<28} entities: {', '.join(e.name for e in v.entities):<18} "
              f"features: {len(v.schema):<3} ttl: {ttl:<16} online: {str(v.online).lower():<6} "
              f"source: {v.source.describe()}")
    print("AGGREGATION VIEWS")
    for a in aggregation_views:
        windows = sorted({w for agg in a.aggregations for w in agg.parsed_windows()},
                         key=lambda w: (w.micros is None, w.micros or 0))
        print(f"  {a.name:<28} entities: {', '.join(e.name for e in a.entities):<18} "
              f"features: {len(a.feature_names):<3} windows: {', '.join(w.label for w in windows):<16} "
              f"online: {str(a.online).lower():<6} source: {a.source.describe()}")
    return EXIT_OK


def _describe(args: argparse.Namespace) -> int:
    from featurespark.services.catalog import describe_object

    config, state = _snapshot(args)
    print(json.dumps(describe_object(config, state, args.name), indent=2, default=str))
    return EXIT_OK


def _history(args: argparse.Namespace) -> int:
    with _store(args) as store:
        records = store.registry.history(args.name)
    print(f"{'APPLIED AT (UTC)':<27} {'KIND':<16} {'NAME':<28} {'VERSION':>7}  {'OP':<7} CHANGES")
    for r in records:
        changes = "; ".join(f"{d['path']}: {d['old']} -> {d['new']}" for d in r.diff)
        print(f"{r.applied_at.isoformat(sep=' ', timespec='seconds'):<27} {r.kind:<16} {r.name:<28} "
              f"{r.version:>7}  {r.op:<7} {changes}")
    return EXIT_OK


def parse_timestamp(text: str) -> datetime:
    """An ISO time from the command line; naive times are UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO time such as 2026-01-01T00:00:00") from exc
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _print_summaries(summaries: dict[str, Any]) -> None:
    for view, s in summaries.items():
        rate = s.items / s.seconds if s.seconds else 0.0
        print(f"{view}: {s.items} items, {s.requests} requests, {s.retries} retries, {s.seconds:.1f}s "
              f"({rate:.0f} items/s)")


def _materialize(args: argparse.Namespace) -> int:
    with _store(args) as store:
        summaries = store.materialize(
            args.start, args.end, args.views, write_mode="monotonic" if args.monotonic else "last_writer_wins",
            max_items_per_second=args.max_items_per_second)
    _print_summaries(summaries)
    return EXIT_OK


def _materialize_incremental(args: argparse.Namespace) -> int:
    with _store(args) as store:
        summaries = store.materialize_incremental(
            args.end, args.views, lookback=timedelta(minutes=args.lookback_minutes),
            write_mode="monotonic" if args.monotonic else "last_writer_wins",
            max_items_per_second=args.max_items_per_second)
    _print_summaries(summaries)
    return EXIT_OK


def _parse_entity(text: str) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise FeaturesparkError(f"--entity {text!r}: expected KEY=VALUE pairs separated by commas.")
        value = value.strip()
        row[key.strip()] = int(value) if value.lstrip("-").isdigit() else value
    return row


def _online_get(args: argparse.Namespace) -> int:
    from featurespark.online.reader import OnlineReader
    from featurespark.services.serving import get_online_features

    rows = [_parse_entity(e) for e in args.entity]
    config, state = _snapshot(args)
    cfg = config.online_store
    with OnlineReader(region=online_region(config), endpoint_url=cfg.endpoint_url) as reader:
        response = get_online_features(reader, config, state.all_views, args.features, rows,
                                       full_feature_names=args.full_feature_names, now=args.at)
    print(json.dumps(response.to_dict(), indent=2, default=str))
    return EXIT_OK


def _consistency(args: argparse.Namespace) -> int:
    if args.samples < 1:
        raise UsageError(f"--samples must be at least 1, got {args.samples}.")
    with _store(args) as store:
        report = store.consistency(args.view, at=args.at, sample_keys=args.samples, seed=args.seed)
    print(report)
    print(report.summary)
    return EXIT_OK if report.all_match else EXIT_MISMATCH


def _emr(args: argparse.Namespace) -> int:
    from featurespark.emr import run_emr_command

    return int(run_emr_command(args))


__all__ = ["EXIT_CHANGES", "EXIT_ERROR", "EXIT_MISMATCH", "EXIT_OK", "EXIT_USAGE", "build_parser", "main", "parse_timestamp"]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
