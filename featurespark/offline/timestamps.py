"""Event and created timestamps: everything is stored as UTC instants.

Rules (also in ``docs/offline_store.md``):

- Spark ``timestamp`` columns are instants already and are kept.
- Spark ``timestamp_ntz`` columns (no time zone) are read as UTC wall-clock times.
- pandas naive ``datetime64`` columns are read as UTC; tz-aware ones are converted to UTC.
- Dates and epoch numbers are refused unless the source says how to read them with
  ``timestamp_encoding``: ``epoch_seconds``, ``epoch_millis``, ``epoch_micros`` or ``date``
  (midnight UTC of that date).
"""
from __future__ import annotations

import logging
from typing import Optional

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from featurespark.definitions.sources import TIMESTAMP_ENCODINGS as ENCODINGS
from featurespark.errors import SchemaMismatchError

logger = logging.getLogger(__name__)

__all__ = ["normalize_pandas_timestamps", "timestamp_column", "with_utc_timestamps"]


_NUMERIC = (T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.FloatType, T.DoubleType, T.DecimalType)


def timestamp_column(name: str, data_type: T.DataType, encoding: Optional[str], *, where: str) -> Column:
    """A Spark column expression reading ``name`` as a UTC timestamp.

    Parameters
    ----------
    name : str
        Column name.
    data_type : DataType
        Its type in the incoming frame.
    encoding : str, optional
        How numbers or dates encode the instant (see module docs); None accepts timestamps only.
    where : str
        Frame description for error messages.

    Raises
    ------
    SchemaMismatchError
        For dates or numbers without an encoding, or any other type.

    Examples
    --------
    >>> df = spark.createDataFrame([(1767225600000,)], "ts long")
    >>> df.select(timestamp_column("ts", T.LongType(), "epoch_millis", where="batch").alias("ts")).first().ts
    datetime.datetime(2026, 1, 1, 0, 0)
    >>> timestamp_column("ts", T.LongType(), None, where="batch")
    Traceback (most recent call last):
    ...
    featurespark.errors.SchemaMismatchError: batch: column 'ts' holds bigint values, not timestamps. ...
    """
    col = F.col(name)
    # Values that are already timestamps need no encoding, whatever the source declares.
    if isinstance(data_type, T.TimestampType):
        return col
    if isinstance(data_type, T.TimestampNTZType):
        return _wall_clock_as_utc(col.cast(T.StringType()))
    if encoding == "date" and isinstance(data_type, T.DateType):
        return _wall_clock_as_utc(col.cast(T.StringType()))
    if encoding in ("epoch_seconds", "epoch_millis", "epoch_micros") and isinstance(data_type, _NUMERIC):
        if encoding == "epoch_seconds":
            return F.timestamp_micros((col.cast(T.DoubleType()) * 1_000_000).cast(T.LongType()))
        if encoding == "epoch_millis":
            return F.timestamp_micros((col.cast(T.DoubleType()) * 1000).cast(T.LongType()))
        return F.timestamp_micros(col.cast(T.LongType()))
    found = data_type.simpleString()
    if encoding is None and isinstance(data_type, (T.DateType, *_NUMERIC)):
        raise SchemaMismatchError(
            f"{where}: column '{name}' holds {found} values, not timestamps. featurespark will not guess what "
            "they mean: convert them to timestamps, or set timestamp_encoding on the view's source to one of "
            f"{', '.join(ENCODINGS)}."
        )
    raise SchemaMismatchError(
        f"{where}: column '{name}' has type {found}, which cannot be read as a timestamp"
        + (f" with timestamp_encoding={encoding!r}" if encoding else "")
        + ". Convert it to a timestamp before writing."
    )


def _wall_clock_as_utc(text: Column) -> Column:
    # A zone suffix makes the cast independent of the session time zone.
    return F.concat(text, F.lit("Z")).cast(T.TimestampType())


def normalize_pandas_timestamps(pdf: pd.DataFrame, columns: list[str], *, where: str) -> pd.DataFrame:
    """Return a copy of ``pdf`` whose datetime ``columns`` are tz-aware UTC (naive read as UTC).

    Non-datetime columns are left for :func:`timestamp_column` to accept or refuse. The input
    frame is never modified.
    """
    out = pdf.copy(deep=False)
    for name in columns:
        if name not in out.columns:
            continue
        series = out[name]
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            out[name] = series.dt.tz_convert("UTC")
        elif pd.api.types.is_datetime64_dtype(series.dtype):
            out[name] = series.dt.tz_localize("UTC")
        elif series.dtype == object and len(series) and _all_python_datetimes(series):
            out[name] = pd.to_datetime(series, utc=True)
    return out


def _all_python_datetimes(series: "pd.Series") -> bool:
    import datetime as dt

    values = series.dropna()
    return bool(len(values)) and all(
        isinstance(v, dt.datetime) for v in values.iloc[:1000]
    )


def with_utc_timestamps(df: DataFrame, columns: dict[str, Optional[str]], *, where: str) -> DataFrame:
    """Replace each timestamp column with its UTC timestamp reading (one ``select``)."""
    conversions = {
        name: timestamp_column(name, df.schema[name].dataType, encoding, where=where)
        for name, encoding in columns.items()
        if name in df.columns
    }
    return df.withColumns({k: v.cast(T.TimestampType()) for k, v in conversions.items()})
