"""Build aggregation items from events with Spark and write them to DynamoDB.

:func:`tile_rows` turns events into one row per key (DataFrame API, two aggregations: by key, tile set
and tile, then by key; no Python UDF); :func:`write_tiles` encodes those rows on the executors
(:meth:`TiledLayout.encode`) and writes them with the online batch writer and its retry policy.

Idempotence: an item is a pure function of the source events before ``end`` (and of the layout), rebuilt
from the source for its whole range on every run; rerunning a range writes the same items and adds
nothing twice. With ``write_mode="monotonic"`` (the default here) the item's ``event_ts`` is ``end``, so
a run with an older ``end`` never replaces a newer item.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Iterator, Optional, Sequence, Union

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from featurespark.errors import InvalidArgumentError, SchemaMismatchError
from featurespark.online.items import Item, ItemLayout, to_epoch_micros
from featurespark.online.materialize import OnlineWriteSummary, write_items
from featurespark.online.tiles.layout import TiledLayout, TiledOutput
from featurespark.options import OnlineWriteMode, check_option
from featurespark.retry import DYNAMODB_WRITE_RETRY, RetryPolicy

logger = logging.getLogger(__name__)

__all__ = ["materialize_tiles", "tile_rows", "write_tiles"]

_P = "__fs_tile_"
_US, _SET, _TILE, _RAW, _LIFE = (f"{_P}us", f"{_P}set", f"{_P}tile", f"{_P}raw", f"{_P}life")
_RAW_SET, _LIFE_SET = -2, -1


def _col(name: str) -> Column:
    return F.col("`" + name.replace("`", "``") + "`")


def _end_micros(end: Union[datetime, int]) -> int:
    if isinstance(end, bool) or not isinstance(end, (datetime, int)):
        raise InvalidArgumentError(f"end must be a datetime (naive means UTC) or epoch microseconds, got {end!r}.")
    return to_epoch_micros(end, what="end")


def _value(index: int) -> str:
    return f"{_P}v{index}"


def _hash(index: int) -> str:
    return f"{_P}h{index}"


def _check(events: DataFrame, layout: TiledLayout, event_timestamp: str) -> dict[str, T.DataType]:
    fields = {f.name: f.dataType for f in events.schema.fields}
    needed = [*(k for k, _ in layout.keys), event_timestamp, *(c for c, _ in layout.column_types)]
    missing = [n for n in needed if n not in fields]
    if missing:
        raise SchemaMismatchError(
            f"The events DataFrame lacks column(s) {missing} needed by the aggregation layout; it has {sorted(fields)}."
        )
    if type(fields[event_timestamp]) is not T.TimestampType:
        raise SchemaMismatchError(
            f"Event time column {event_timestamp!r} is {fields[event_timestamp].simpleString()}; aggregation items "
            f"need a TIMESTAMP (an instant). Cast it with F.col({event_timestamp!r}).cast('timestamp')."
        )
    return fields


def _partial(output: TiledOutput, x: Column, us: Column) -> Column:
    """The Spark aggregate of one output's partial over the (gated) value column ``x``."""
    f = output.function
    pair = F.when(x.isNotNull(), F.struct(us.alias("ts"), x.alias("v")))
    if f == "count":
        return F.count(x)
    if f == "sum":
        return F.sum(x)
    if f == "mean":
        return F.struct(F.count(x).alias("n"), F.sum(x).alias("s"))
    if f in ("variance", "stddev"):
        xd = x.cast("double")
        return F.struct(F.count(x).alias("n"), F.avg(xd).alias("m"), (F.var_pop(xd) * F.count(x)).alias("q"))
    if f == "min":
        return F.min(x)
    if f == "max":
        return F.max(x)
    if f == "first":
        return F.min(pair)
    if f == "last":
        return F.max(pair)
    if f == "last_k":
        return F.slice(F.sort_array(F.collect_list(pair), asc=False), 1, int(output.k or 1))
    if f == "approx_count_distinct":
        return F.collect_set(x)
    raise InvalidArgumentError(f"Unknown function {f!r}.")  # pragma: no cover


def tile_rows(
    events: DataFrame,
    *,
    layout: TiledLayout,
    event_timestamp: str,
    end: Union[datetime, int],
) -> DataFrame:
    """One row per key with its raw edge events, tiles and lifetime partials as of ``end``.

    Parameters
    ----------
    events : DataFrame
        Events with the layout's join-key columns, ``event_timestamp`` (TIMESTAMP) and the aggregated
        columns. Rows with a null key or event time, or with an event time at or after ``end``, are
        ignored; so are rows before the longest window when the layout has no lifetime output.
    layout : TiledLayout
        What to build.
    event_timestamp : str
        Event time column.
    end : datetime or int
        Exclusive end of the event times (naive datetimes are UTC).

    Returns
    -------
    DataFrame
        Columns: the join keys, then ``__fs_tile_raw``, ``__fs_tile_life`` and one ``__fs_tile_set{i}`` per
        finite window, in the order :meth:`TiledLayout.encode` takes them.

    Raises
    ------
    SchemaMismatchError
        If a column is missing or the event time is not a TIMESTAMP.

    Examples
    --------
    >>> from featurespark.aggregations import Aggregation
    >>> layout = TiledLayout.build({"k": "int64"}, {"x": "int64"}, [Aggregation("x", "sum", ["1h"])],
    ...     horizon=timedelta(minutes=10))
    >>> df = spark.createDataFrame([(1, datetime(2026, 1, 1, 9, 30), 5)], "k bigint, ts timestamp, x bigint")
    >>> row = tile_rows(df, layout=layout, event_timestamp="ts", end=datetime(2026, 1, 1, 10)).first()
    >>> len(row["__fs_tile_raw"]), len(row["__fs_tile_set0"])
    (0, 1)
    """
    fields = _check(events, layout, event_timestamp)
    end_us = _end_micros(end)
    keys = [k for k, _ in layout.keys]
    columns = [c for c, _ in layout.column_types]
    hashed = {o.column for o in layout.outputs if o.function == "approx_count_distinct"}
    us = F.unix_micros(_col(event_timestamp))

    def value(c: str) -> Column:
        return F.unix_micros(_col(c)) if isinstance(fields[c], T.TimestampType) else _col(c)

    def value_hash(c: str) -> Column:
        # As the offline engine (aggregations.hot_keys.value_hash): -0.0 counts as 0.0, every NaN as one.
        x = _col(c)
        if isinstance(fields[c], (T.FloatType, T.DoubleType)):
            x = F.when(F.isnan(x), F.lit(float("nan")).cast(fields[c])).when(x == F.lit(0), F.lit(0).cast(fields[c])) \
                .otherwise(x)
        return F.when(_col(c).isNotNull(), F.xxhash64(x))

    condition = us < F.lit(end_us)
    lookback = layout.lookback(end_us)
    if lookback is not None:
        condition = condition & (us >= F.lit(lookback))
    for k in keys:
        condition = condition & _col(k).isNotNull()
    condition = condition & F.greatest(*[_col(c).isNotNull() for c in columns], F.lit(False))
    base = events.where(_col(event_timestamp).isNotNull()).select(
        *[_col(k) for k in keys], us.alias(_US),
        *[value(c).alias(_value(i)) for i, c in enumerate(columns)],
        *[value_hash(c).alias(_hash(i)) for i, c in enumerate(columns) if c in hashed],
    ).where(condition)

    bus = F.col(_US)
    windows = [w for w, _ in layout.tile_sizes]
    targets: list[Column] = []
    raw_edge = F.lit(False)
    for j, (window, size) in enumerate(layout.tile_sizes):
        bound = layout.raw_until(window, end_us)
        targets.append(F.when(bus >= F.lit(bound), F.struct(F.lit(j).alias("s"), (bus - F.pmod(bus, F.lit(size)))
                                                           .alias("t"))))
        raw_edge = raw_edge | ((bus >= F.lit(end_us - window)) & (bus < F.lit(bound)))
    targets.append(F.when(raw_edge, F.struct(F.lit(_RAW_SET).alias("s"), F.lit(0).cast("long").alias("t"))))
    if layout.has_lifetime:
        targets.append(F.struct(F.lit(_LIFE_SET).alias("s"), F.lit(0).cast("long").alias("t")))
    exploded = base.select("*", F.explode(F.array(*targets)).alias("__fs_target")).where(
        F.col("__fs_target").isNotNull()
    ).select("*", F.col("__fs_target.s").alias(_SET), F.col("__fs_target.t").alias(_TILE)).drop("__fs_target")

    index = {c: i for i, c in enumerate(columns)}
    in_set = F.col(_SET)

    def source(o: TiledOutput, set_id: int) -> Column:
        name = _hash(index[o.column]) if o.function == "approx_count_distinct" else _value(index[o.column])
        return F.when(in_set == F.lit(set_id), F.col(name))

    raw_fields = [
        F.col(_hash(index[c]) if kind == "hash" else _value(index[c])).alias(f"i{n}")
        for n, (c, kind) in enumerate(layout.raw_inputs)
    ]
    firsts: list[Column] = [
        F.sort_array(F.collect_list(F.when(in_set == F.lit(_RAW_SET), F.struct(bus.alias("ts"), *raw_fields))))
        .alias(_RAW)
    ]
    partial_names: dict[Optional[int], list[str]] = {}
    sets: list[tuple[int, Optional[int]]] = [*enumerate(windows), (_LIFE_SET, None)]
    for set_id, set_window in sets:
        names = []
        for n, o in enumerate(layout.set_outputs(set_window)):
            name = f"{_P}p{set_id + 2}_{n}"
            firsts.append(_partial(o, source(o, set_id), bus).alias(name))
            names.append(name)
        partial_names[set_window] = names
    per_tile = exploded.groupBy(*[_col(k) for k in keys], _SET, _TILE).agg(*firsts)

    # The raw events of a key are in one group; flatten gives [] for a key without any.
    seconds: list[Column] = [F.flatten(F.collect_list(F.when(in_set == F.lit(_RAW_SET), F.col(_RAW)))).alias(_RAW)]
    life_names = partial_names[None]
    seconds.append(
        F.first(F.when(in_set == F.lit(_LIFE_SET), F.struct(*[F.col(n) for n in life_names])), ignorenulls=True)
        .alias(_LIFE) if life_names else F.lit(None).alias(_LIFE)
    )
    for j, window in enumerate(windows):
        tile = F.struct(F.col(_TILE).alias("start"), *[F.col(n) for n in partial_names[window]])
        seconds.append(F.sort_array(F.collect_list(F.when(in_set == F.lit(j), tile))).alias(f"{_P}set{j}"))
    per_key = per_tile.groupBy(*[_col(k) for k in keys]).agg(*seconds)
    return per_key.select(*[_col(k) for k in keys], _RAW, _LIFE, *[f"{_P}set{j}" for j in range(len(windows))])


@dataclass(frozen=True)
class _TileEncoder:
    """Rows of :func:`tile_rows` to items, on the executors."""

    layout: TiledLayout
    end: int

    def __call__(self, rows: Iterable[Sequence[Any]]) -> Iterator[Item]:
        n = len(self.layout.keys)
        for row in rows:
            yield self.layout.encode(row[:n], self.end, row[n] or [], [s or [] for s in row[n + 2:]], row[n + 1])


def write_tiles(
    rows: DataFrame,
    *,
    layout: TiledLayout,
    end: Union[datetime, int],
    table_name: str,
    region: str,
    endpoint_url: Optional[str] = None,
    write_mode: OnlineWriteMode = "monotonic",
    threads: int = 4,
    max_items_per_second: Optional[float] = None,
    retry: RetryPolicy = DYNAMODB_WRITE_RETRY,
) -> OnlineWriteSummary:
    """Encode the rows of :func:`tile_rows` as items and write them, one batch writer per partition.

    Parameters
    ----------
    rows : DataFrame
        The output of :func:`tile_rows` for the same ``layout`` and ``end``.
    layout : TiledLayout
        The layout.
    end : datetime or int
        The ``end`` the rows were built for.
    table_name, region, endpoint_url : str
        Target table (with the online key schema), region, endpoint override (a local endpoint).
    write_mode : {"monotonic", "last_writer_wins"}, optional
        ``monotonic`` (default): an item built with an older ``end`` never replaces a newer one.
    threads : int, optional
        Requests in flight per task.
    max_items_per_second : float, optional
        Rate limit of the whole job.
    retry : RetryPolicy, optional
        Retries of throttled requests and unprocessed items.

    Returns
    -------
    OnlineWriteSummary

    Raises
    ------
    ItemTooLargeError
        If a key's item is over 400 KB (the message names the key and how to shrink it).
    OnlineStoreError
        For DynamoDB failures (retries exhausted, table missing, endpoint down).

    Examples
    --------
    >>> write_tiles(tile_rows(events, layout=layout, event_timestamp="ts", end=end), layout=layout, end=end,
    ...             table_name="fs_trips_agg", region="eu-west-1")  # doctest: +SKIP
    """
    check_option(write_mode, OnlineWriteMode, "write_mode")
    if max_items_per_second is not None and not max_items_per_second > 0:
        raise InvalidArgumentError(f"max_items_per_second must be positive, got {max_items_per_second!r}.")
    return write_items(
        rows.rdd, table_name=table_name, region=region, endpoint_url=endpoint_url,
        layout=ItemLayout.build(dict(layout.keys), {}), write_mode=write_mode, threads=threads,
        max_items_per_second=max_items_per_second, retry=retry, encoder=_TileEncoder(layout, _end_micros(end)),
    )


def materialize_tiles(
    events: DataFrame,
    *,
    layout: TiledLayout,
    event_timestamp: str,
    end: Union[datetime, int],
    table_name: str,
    region: str,
    endpoint_url: Optional[str] = None,
    write_mode: OnlineWriteMode = "monotonic",
    threads: int = 4,
    max_items_per_second: Optional[float] = None,
    retry: RetryPolicy = DYNAMODB_WRITE_RETRY,
) -> OnlineWriteSummary:
    """Build the aggregation items of every key with events as of ``end`` and write them.

    :func:`tile_rows` then :func:`write_tiles`; see both for the parameters. Rerunning with the same
    events and ``end`` writes the same items (idempotent).

    Examples
    --------
    >>> materialize_tiles(trips, layout=layout, event_timestamp="ts", end=datetime(2026, 5, 1),
    ...                   table_name="fs_trips_agg", region="eu-west-1")  # doctest: +SKIP
    """
    rows = tile_rows(events, layout=layout, event_timestamp=event_timestamp, end=end)
    return write_tiles(rows, layout=layout, end=end, table_name=table_name, region=region, endpoint_url=endpoint_url,
                       write_mode=write_mode, threads=threads, max_items_per_second=max_items_per_second, retry=retry)
