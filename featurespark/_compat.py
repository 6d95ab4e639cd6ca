"""Small shims over the differences between the Spark versions featurespark supports.

featurespark runs on pyspark 4.x (the local default) and on pyspark 3.5 with Delta Lake 3.x (what
EMR 7.x ships; checked by ``bootstrap/run-compat-tests.sh``). Code that needs an API only one of
them has goes through a helper here, so the version test lives in one place.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator, Optional

import pandas as pd
import pyspark
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DataType, MapType

from featurespark.errors import SchemaMismatchError

if TYPE_CHECKING:
    from delta.tables import DeltaMergeBuilder, DeltaTable

logger = logging.getLogger(__name__)

_MAJOR, _MINOR = pyspark.__version__.split(".")[:2]
#: ``(major, minor)`` of the running pyspark.
PYSPARK_VERSION: tuple[int, int] = (int(_MAJOR), int(_MINOR))

try:
    from pyspark.sql.types import VariantType

    _VARIANT: tuple[type[DataType], ...] = (VariantType,)
except ImportError:  # VARIANT arrived in Spark 4.0
    _VARIANT = ()

#: Types whose values Spark cannot order, compare or hash with ``xxhash64`` (maps; variants on 4.x).
UNORDERABLE_TYPES: tuple[type[DataType], ...] = (MapType, *_VARIANT)


@contextmanager
def internal_plan() -> Iterator[None]:
    """Build featurespark's internal query plans without PySpark's per-expression call-site capture.

    On Spark 4 (classic, not Connect), every Column function and operator records the Python line that
    called it, so that an error can point at the user's code (the "DataFrame query context"). Each
    record costs about five Py4J round trips, and inside featurespark it would only ever point at
    featurespark's own lines: a training-set plan over three views builds about 300 expressions,
    which took about 5,000 Py4J calls to plan with the capture and about 2,300 without. Inside this
    block the capture is off; the previous setting (``spark.python.sql.dataFrameDebugging.enabled``)
    comes back after it. Nested blocks are fine; on Spark 3.5 there is nothing to turn off.

    The switch is PySpark's process-wide cache of that setting: expressions another thread builds at
    the same moment lose their call site too (their errors stay the same otherwise).

    Examples
    --------
    >>> with internal_plan():
    ...     spark.range(3).select((F.col("id") + 1).alias("n")).collect()[-1].n
    3
    """
    from pyspark.errors import utils as error_utils

    if not hasattr(error_utils, "_enable_debugging_cache"):  # Spark 3.5: no call-site capture
        yield
        return
    previous = getattr(error_utils, "_enable_debugging_cache")
    setattr(error_utils, "_enable_debugging_cache", False)
    try:
        yield
    finally:
        setattr(error_utils, "_enable_debugging_cache", previous)


def dataframe_from_pandas(spark: SparkSession, pdf: pd.DataFrame) -> DataFrame:
    """A Spark DataFrame from a pandas frame, converted through Arrow on every supported Spark.

    The Spark types are Arrow's reading of the frame (nullable ``Int64`` stays ``bigint``,
    ``NaN`` and ``None`` become null, tz-aware timestamps become ``timestamp``), whatever the
    session's ``spark.sql.execution.arrow.pyspark.enabled``: pyspark's non-Arrow conversion
    would read a nullable integer column as floats and refuse it. The frame is not modified.

    Parameters
    ----------
    spark : SparkSession
    pdf : pandas.DataFrame
        Its index is dropped.

    Returns
    -------
    DataFrame

    Examples
    --------
    >>> df = dataframe_from_pandas(spark, pd.DataFrame({"id": pd.array([1, None], dtype="Int64")}))
    >>> df.schema.simpleString(), df.collect()
    ('struct<id:bigint>', [Row(id=1), Row(id=None)])
    """
    import pyarrow as pa

    try:
        table = pa.Table.from_pandas(pdf, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise _unconvertible_column(pdf, exc) from exc
    if PYSPARK_VERSION >= (4, 0):
        # Spark 4.0 takes an Arrow table directly.
        return spark.createDataFrame(table)
    # pyspark 3.5 takes no Arrow table: pass the pandas frame with the schema Arrow reads from it.
    from pyspark.sql.pandas.types import from_arrow_schema

    schema = from_arrow_schema(table.schema)
    create_with_arrow = getattr(spark, "_create_from_pandas_with_arrow", None)
    if create_with_arrow is None:
        # Spark Connect: its createDataFrame always converts pandas through Arrow.
        return spark.createDataFrame(pdf, schema=schema)
    # The classic session converts through Arrow only when the session enables it, and falls back to a
    # row-by-row conversion that breaks nullable integers. This is the method createDataFrame calls
    # when Arrow is enabled (3.5.x is a maintenance line, so it stays put); calling it keeps the
    # caller's session settings untouched.
    timezone = spark.conf.get("spark.sql.session.timeZone")
    result: DataFrame = create_with_arrow(pdf, schema, timezone)
    return result


def _unconvertible_column(pdf: pd.DataFrame, exc: Exception) -> SchemaMismatchError:
    """The column Arrow could not convert, named, with the values' types and how to fix them."""
    import pyarrow as pa

    for name in pdf.columns:
        try:
            pa.array(pdf[name], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            kinds = sorted({type(v).__name__ for v in pdf[name].dropna().iloc[:1000]})
            return SchemaMismatchError(
                f"pandas column {str(name)!r} mixes value types ({', '.join(kinds)}) and cannot be converted to one "
                f"column type ({exc}). Make its values one type: pd.to_numeric(df[{str(name)!r}], errors='coerce') "
                "turns unparseable strings into NaN, or fix the offending rows."
            )
    return SchemaMismatchError(f"The pandas frame cannot be converted to Spark through Arrow: {exc}.")


#: The metrics of a MERGE, as Delta 4.x returns them (one row).
MERGE_METRICS = ("num_affected_rows", "num_updated_rows", "num_deleted_rows", "num_inserted_rows")

# Delta 3.x records the same counts in the commit's operationMetrics.
_HISTORY_METRICS = {
    "num_updated_rows": "numTargetRowsUpdated",
    "num_deleted_rows": "numTargetRowsDeleted",
    "num_inserted_rows": "numTargetRowsInserted",
}
# Commits read after a MERGE on Delta 3.x to find its own; more concurrent commits than this and the
# counts are unknown.
_HISTORY_WINDOW = 16


def execute_merge(table: DeltaTable, merge: DeltaMergeBuilder) -> Optional[dict[str, int]]:
    """Run a Delta MERGE built on ``table`` and return its metrics.

    Parameters
    ----------
    table : delta.tables.DeltaTable
        The target table ``merge`` was built from.
    merge : delta.tables.DeltaMergeBuilder
        The MERGE, with its clauses.

    Returns
    -------
    dict or None
        ``num_affected_rows``, ``num_updated_rows``, ``num_deleted_rows`` and ``num_inserted_rows``.
        Delta 4.x returns them from the MERGE itself. Delta 3.x (Spark 3.5) returns nothing, so they
        are read from the table history: zeros when the MERGE changed nothing (Delta then commits
        nothing), the counts of the one MERGE committed since, or None when concurrent MERGEs make
        the commit ambiguous.

    Examples
    --------
    >>> from delta.tables import DeltaTable
    >>> spark.range(1).write.format("delta").save(str(tmp_path / "t"))
    >>> table = DeltaTable.forPath(spark, str(tmp_path / "t"))
    >>> new = spark.range(3)
    >>> execute_merge(table, table.alias("t").merge(new.alias("s"), "t.id = s.id").whenNotMatchedInsertAll())
    {'num_affected_rows': 2, 'num_updated_rows': 0, 'num_deleted_rows': 0, 'num_inserted_rows': 2}
    """
    if PYSPARK_VERSION >= (4, 0):
        result = merge.execute()
        row = result.first() if result is not None else None
        return {name: int(row[name]) for name in MERGE_METRICS} if row is not None else None
    before = _latest_version(table)
    merge.execute()
    # The commits since `before` (a handful of history rows, bounded by _HISTORY_WINDOW) come to the driver.
    commits = (
        table.history(_HISTORY_WINDOW)
        .where(F.col("version") > before)
        .select("version", "operation", "operationMetrics")
        .collect()
    )
    if commits and min(c["version"] for c in commits) != before + 1:
        logger.debug("More than %d commits since version %d: MERGE metrics unknown", _HISTORY_WINDOW, before)
        return None
    merges = [c for c in commits if c["operation"] == "MERGE"]
    if not merges:
        return dict.fromkeys(MERGE_METRICS, 0)
    if len(merges) > 1:
        logger.debug("%d MERGE commits since version %d: metrics of this one unknown", len(merges), before)
        return None
    recorded = merges[0]["operationMetrics"] or {}
    metrics = {name: int(recorded.get(key, 0)) for name, key in _HISTORY_METRICS.items()}
    metrics["num_affected_rows"] = sum(metrics.values())
    return {name: metrics[name] for name in MERGE_METRICS}


def _latest_version(table: DeltaTable) -> int:
    row = table.history(1).select("version").first()
    return int(row["version"]) if row is not None else -1
