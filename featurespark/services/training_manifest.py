"""Writing a training set with its manifest: sources and versions read, counts, match rates, staleness.

Feature views get match rates and staleness (the age of the matched row); aggregation views get, per
feature, the rows whose window held at least one value (a count above 0 for ``count`` and
``approx_count_distinct``, a non-null value otherwise).

Statistics are gathered while the training set is written (``DataFrame.observe``), so the join
runs once. The manifest is JSON at ``<output>/_featurespark_manifest.json`` (files starting with
``_`` are ignored by Parquet and Delta readers).
"""
from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timezone
from typing import Any, Optional

from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from featurespark._files import HadoopFiles
from featurespark.definitions import AggregationView, FeatureView
from featurespark.errors import InvalidArgumentError
from featurespark.options import TrainingSetFormat, check_option
from featurespark.registry.references import ViewSelection
from featurespark.services.training import FEATURE_TS_PREFIX, HistoricalRetrieval

logger = logging.getLogger(__name__)

__all__ = ["MANIFEST_NAME", "read_manifest", "write_training_set"]

MANIFEST_NAME = "_featurespark_manifest.json"
_QUANTILES = (0.5, 0.9, 0.99)
#: Functions whose empty window gives 0 rather than null.
_ZERO_WHEN_EMPTY = ("count", "approx_count_distinct")


def _filled_columns(view: AggregationView, sel: ViewSelection) -> list[Column]:
    """Per requested feature, the rows whose window held a value."""
    out = []
    for agg, column in zip(view.aggregations_for(sel.features), sel.output_names):
        value = F.col(f"`{column}`")
        filled = value > 0 if agg.function in _ZERO_WHEN_EMPTY else value.isNotNull()
        out.append(F.count(F.when(filled, F.lit(1))).alias(f"{view.name}.{column}.filled"))
    return out


def _stat_columns(retrieval: HistoricalRetrieval) -> list[Column]:
    ets = F.unix_micros(F.col(retrieval.entity_timestamp))
    aggs: list[Column] = [F.count(F.lit(1)).alias("rows")]
    for sel in retrieval.selections:
        name = sel.view.name
        if isinstance(sel.view, AggregationView):
            aggs += _filled_columns(sel.view, sel)
            continue
        ts = F.col(FEATURE_TS_PREFIX + name)
        age = (ets - F.unix_micros(ts)) / 1e6
        aggs += [
            F.count(ts).alias(f"{name}.matched"),
            F.min(age).alias(f"{name}.min"),
            F.max(age).alias(f"{name}.max"),
        ]
        # One scalar per quantile: observed metrics do not bring arrays back to Python.
        aggs += [F.percentile_approx(age, q, 1000).alias(f"{name}.p{int(q * 100)}") for q in _QUANTILES]
    return aggs


def write_training_set(
    spark: SparkSession,
    retrieval: HistoricalRetrieval,
    output: str,
    *,
    fmt: TrainingSetFormat = "parquet",
    overwrite: bool = False,
    extra: Optional[dict[str, Any]] = None,
) -> dict[str, Any]:
    """Write the training set and its manifest; return the manifest.

    Parameters
    ----------
    spark : SparkSession
    retrieval : HistoricalRetrieval
        Built with ``with_feature_timestamps=True`` (the internal columns are not written).
    output : str
        Folder or URI of the training set.
    fmt : {"parquet", "delta"}
    overwrite : bool
        Replace an existing output; otherwise an existing output is an error.
    extra : dict, optional
        More manifest fields (the job's arguments, for example).

    Returns
    -------
    dict
        The manifest.
    """
    check_option(fmt, TrainingSetFormat, "fmt")
    files = HadoopFiles(spark)
    missing = [s.view.name for s in retrieval.selections
               if isinstance(s.view, FeatureView) and FEATURE_TS_PREFIX + s.view.name not in retrieval.df.columns]
    if missing:
        raise InvalidArgumentError("write_training_set needs a retrieval built with with_feature_timestamps=True.")
    if not overwrite and files.exists(output):
        raise InvalidArgumentError(f"Output {output} already exists. Choose a new output, or overwrite it "
                                   "(overwrite=True, --overwrite in the job).")
    observation = Observation("training_set")
    internal = [c for c in retrieval.df.columns if c.startswith(FEATURE_TS_PREFIX)]
    out = retrieval.df.observe(observation, *_stat_columns(retrieval)).drop(*internal)
    started = time.monotonic()
    out.write.format(fmt).mode("overwrite" if overwrite else "errorifexists").save(output)
    seconds = time.monotonic() - started
    stats = observation.get
    rows = int(stats["rows"])
    manifest = {
        "created_at": datetime.now(timezone.utc).isoformat(),
        "output": {"path": output, "format": fmt, "rows": rows, "columns": out.columns},
        "entity_timestamp": retrieval.entity_timestamp,
        "entity_time_range": {"min": _iso(retrieval.time_range.min_ts), "max": _iso(retrieval.time_range.max_ts)},
        "features": retrieval.feature_references,
        "sources": [
            {"view": s.view, "view_kind": s.view_kind, "kind": s.kind, "location": s.location, "version": s.version,
             "feature_window": {"lower": s.window[0], "upper": s.window[1]}}
            for s in retrieval.sources
        ],
        "views": {sel.view.name: _view_stats(sel, stats, rows) for sel in retrieval.selections},
        "write_seconds": round(seconds, 3),
        **(extra or {}),
    }
    files.write_text(f"{output.rstrip('/')}/{MANIFEST_NAME}", json.dumps(manifest, indent=2, default=str))
    logger.info("Wrote training set %s: %d rows in %.1fs (%.0f rows/s)", output, rows, seconds,
                rows / seconds if seconds else 0.0)
    return manifest


def _view_stats(sel: ViewSelection, stats: dict[str, Any], rows: int) -> dict[str, Any]:
    name = sel.view.name
    if isinstance(sel.view, AggregationView):
        filled = {out: int(stats[f"{name}.{out}.filled"]) for out in sel.output_names}
        return {"kind": AggregationView.kind, "filled_rows": filled,
                "fill_rate": {out: round(n / rows, 6) if rows else None for out, n in filled.items()}}
    matched = int(stats[f"{name}.matched"])
    return {
        "matched_rows": matched,
        "match_rate": round(matched / rows, 6) if rows else None,
        "staleness_seconds": {
            "min": stats[f"{name}.min"],
            **{f"p{int(q * 100)}": stats[f"{name}.p{int(q * 100)}"] for q in _QUANTILES},
            "max": stats[f"{name}.max"],
        },
    }


def _iso(value: Optional[datetime]) -> Optional[str]:
    return None if value is None else value.isoformat()


def read_manifest(spark: SparkSession, output_or_manifest: str) -> dict[str, Any]:
    """Load a manifest from a training-set folder or the manifest file itself."""
    path = output_or_manifest
    if not path.endswith(".json"):
        path = f"{path.rstrip('/')}/{MANIFEST_NAME}"
    text = HadoopFiles(spark).read_text(path)
    if text is None:
        raise InvalidArgumentError(f"{path} does not exist: pass a training-set folder written by "
                                   "build_training_set, or its _featurespark_manifest.json.")
    return dict(json.loads(text))
