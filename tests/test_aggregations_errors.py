"""Every error path of Aggregation and window_aggregate_as_of, with its message (no Spark job runs)."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd
import pytest
from pyspark.sql import DataFrame, SparkSession

from featurespark.aggregations import Aggregation, output_dtype, parse_window, window_aggregate_as_of
from featurespark.errors import DefinitionError, InvalidArgumentError, NullValueError, SchemaMismatchError
from featurespark.pit import EntityTimeRange

T0 = datetime(2024, 1, 1, 10, tzinfo=timezone.utc)
FARE_SUM = [Aggregation("fare", "sum", windows=["1h"])]
TIME_RANGE = EntityTimeRange(0, 1, 0, 1, ntz=False)  # given, so that no job runs


@pytest.fixture(scope="module")
def entity(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame([(1, "x", T0)], "driver_id int, city string, ts timestamp")


@pytest.fixture(scope="module")
def events(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(
        [(1, T0, T0, 3.5, "m", {"a": 1})],
        "driver_id int, event_ts timestamp, created_ts timestamp, fare double, merchant string, tags map<string,int>",
    )


def _run(entity: DataFrame, events: DataFrame, **overrides: Any) -> DataFrame:
    options: dict[str, Any] = dict(keys=["driver_id"], entity_timestamp="ts", event_timestamp="event_ts",
                                   aggregations=FARE_SUM, time_range=TIME_RANGE)
    options.update(overrides)
    return window_aggregate_as_of(entity, events, **options)


# --- Aggregation --------------------------------------------------------------------------------

@pytest.mark.parametrize("args, kwargs, message", [
    (("", "sum", ["1h"]), {}, "Aggregation('', 'sum'): column must be a non-empty column name, found ''."),
    (("fare", "avg", ["1h"]), {}, "Aggregation('fare', 'avg'): unknown function 'avg'; use one of count, sum, mean, "
                                  "min, max, variance, stddev, first, last, last_k, approx_count_distinct."),
    (("fare", "summ", ["1h"]), {}, "unknown function 'summ'; use one of count, sum, mean, min, max, variance, "
                                   "stddev, first, last, last_k, approx_count_distinct. Did you mean 'sum'?"),
    (("fare", "sum", "1h"), {}, "Aggregation('fare', 'sum'): windows must be a list of windows, e.g. "
                                "windows=['1h', '7d'], found '1h'."),
    (("fare", "sum", []), {}, "Aggregation('fare', 'sum'): windows is empty; give at least one, e.g. windows=['7d']."),
    (("fare", "sum", ["7 days"]), {}, "Aggregation('fare', 'sum'): invalid window '7 days'. Write a positive whole "
                                      "number and a unit (us, ms, s, m, h or d), e.g. '30m', '1h', '7d', or "
                                      "'lifetime' for no lower bound; a datetime.timedelta works too."),
    (("fare", "sum", ["0h"]), {}, "invalid window '0h'."),
    (("fare", "sum", [timedelta(0)]), {}, "Aggregation('fare', 'sum'): window datetime.timedelta(0) is not "
                                          "positive; a window must be longer than zero."),
    (("fare", "sum", [pd.Timedelta(1500, "ns")]), {}, "Aggregation('fare', 'sum'): window Timedelta('0 days "
                                                      "00:00:00.000001500') is not a whole number of microseconds, "
                                                      "the resolution of Spark timestamps; round it to microseconds."),
    (("fare", "sum", [3600]), {}, "Aggregation('fare', 'sum'): a window must be a string such as '7d', a "
                                  "datetime.timedelta or 'lifetime'; found int 3600."),
    (("fare", "sum", ["1h", "60m"]), {}, "Aggregation('fare', 'sum'): windows '1h' and '60m' are the same length; "
                                         "list each window once."),
    (("fare", "sum", ["lifetime", "lifetime"]), {}, "windows 'lifetime' and 'lifetime' are the same length"),
    (("rating", "last_k", ["1d"]), {}, "Aggregation('rating', 'last_k'): last_k needs k, the number of newest "
                                       "values to return, as an int from 1 to 1000; found k=None. For example "
                                       "Aggregation('rating', 'last_k', windows=['30d'], k=5)."),
    (("rating", "last_k", ["1d"]), {"k": 0}, "found k=0."),
    (("rating", "last_k", ["1d"]), {"k": True}, "found k=True."),
    (("rating", "last_k", ["1d"]), {"k": 1001}, "found k=1001."),
    (("fare", "sum", ["1d"]), {"k": 3}, "Aggregation('fare', 'sum'): k is only used by last_k; remove k=3."),
    (("fare", "sum", ["1d"]), {"name": ""}, "Aggregation('fare', 'sum'): name must be a non-empty string, found ''."),
    (("fare", "sum", ["1h", "1d"]), {"name": "x"},
     "Aggregation('fare', 'sum'): name='x' names one output column, but there are 2 windows; use one Aggregation "
     "per window to name each, or drop name= for the default names."),
])
def test_aggregation_definition_errors(args: tuple[Any, ...], kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(DefinitionError, match=re.escape(message)):
        Aggregation(*args, **kwargs)


def test_aggregation_from_dict_refuses_unknown_fields() -> None:
    data = {**Aggregation("fare", "sum", windows=["1h"]).to_dict(), "ttl": 3}
    with pytest.raises(DefinitionError, match=re.escape("Aggregation in the registry has unknown fields ['ttl'].")):
        Aggregation.from_dict(data)


def test_output_dtype_errors() -> None:
    with pytest.raises(DefinitionError, match=re.escape(
        "v: sum needs a numeric column (int32, int64, float32, float64), but it is string."
    )):
        output_dtype("sum", "string", "v")
    with pytest.raises(DefinitionError, match=re.escape(
        "v: last_k of an array column would be an array of arrays, which feature types do not allow"
    )):
        output_dtype("last_k", "array<int64>", "v")
    with pytest.raises(DefinitionError, match="v: unknown function 'median'"):
        output_dtype("median", "int64", "v")


def test_parse_window_names_its_owner() -> None:
    with pytest.raises(DefinitionError, match=re.escape("view x: invalid window '1w'")):
        parse_window("1w", "view x")


# --- window_aggregate_as_of: frames and keys ------------------------------------------------------

def test_missing_entity_key_names_frame_and_columns(entity: DataFrame, events: DataFrame) -> None:
    with pytest.raises(SchemaMismatchError, match=re.escape(
        "join key column 'driver' not found in entity_df; available columns: driver_id, city, ts."
    )):
        _run(entity, events, keys={"driver": "driver_id"})


def test_missing_event_key(entity: DataFrame, events: DataFrame) -> None:
    with pytest.raises(SchemaMismatchError, match=re.escape(
        "join key column 'city' not found in events_df; available columns: driver_id, event_ts, created_ts, fare, "
        "merchant, tags."
    )):
        _run(entity, events, keys=["city"])


@pytest.mark.parametrize("keys, message", [
    ("driver_id", "keys must be a list of column names or a mapping {entity_column: event_column}, got "
                  "'driver_id'; for one key write keys=['driver_id']."),
    (None, "keys must be a list of column names or a mapping {entity_column: event_column}, got None"),
    (3, "keys must be a list of column names or a mapping, got int."),
    ([], "keys is empty; windowed aggregates need at least one key. To aggregate over all events, add the same "
         "constant column to both frames and key on it."),
    ({"driver_id": "driver_id", "DRIVER_ID": "driver_id"}, "keys name an entity column more than once"),
])
def test_bad_keys(entity: DataFrame, events: DataFrame, keys: Any, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        _run(entity, events, keys=keys)


def test_key_types_that_cannot_be_compared(spark: SparkSession, entity: DataFrame) -> None:
    events = spark.createDataFrame([("1", T0, 3.5)], "driver_id string, event_ts timestamp, fare double")
    with pytest.raises(SchemaMismatchError, match=re.escape(
        "join key 'driver_id' is int in entity_df but 'driver_id' is string in events_df; the two cannot be "
        "compared. Cast one side to the other's type first, e.g. events_df.withColumn('driver_id', "
        "F.col('driver_id').cast('int'))."
    )):
        _run(entity, events)


def test_map_keys_are_refused(spark: SparkSession) -> None:
    entity = spark.createDataFrame([({"a": 1}, T0)], "k map<string,int>, ts timestamp")
    events = spark.createDataFrame([({"a": 1}, T0, 1.0)], "k map<string,int>, event_ts timestamp, fare double")
    with pytest.raises(SchemaMismatchError, match=re.escape(
        "join key 'k' (map<string,int> in entity_df, map<string,int> in events_df) holds maps or variants, which "
        "Spark cannot compare for equality; key on scalar columns instead."
    )):
        _run(entity, events, keys=["k"])


def test_duplicate_and_reserved_entity_columns(spark: SparkSession, events: DataFrame) -> None:
    dup = spark.createDataFrame([(1, 2, T0)], "driver_id int, d int, ts timestamp").toDF("driver_id", "driver_id", "ts")
    with pytest.raises(SchemaMismatchError, match=re.escape(
        "entity_df has more than one column named 'driver_id'; rename or drop the duplicates (for example after a "
        "join) first."
    )):
        _run(dup, events)
    reserved = spark.createDataFrame([(1, 2, T0)], "driver_id int, __fs_agg_t int, ts timestamp")
    with pytest.raises(InvalidArgumentError, match=re.escape(
        "entity_df column '__fs_agg_t' uses the prefix '__fs_agg_' reserved for the aggregation engine's internal "
        "columns; rename it."
    )):
        _run(reserved, events)


def test_timestamp_errors(spark: SparkSession, entity: DataFrame, events: DataFrame) -> None:
    with pytest.raises(SchemaMismatchError, match=re.escape(
        "entity timestamp column 'when' not found in entity_df; available columns: driver_id, city, ts."
    )):
        _run(entity, events, entity_timestamp="when")
    with pytest.raises(SchemaMismatchError, match=re.escape(
        "event timestamp column 'event_time' not found in events_df; available columns: driver_id, event_ts, "
        "created_ts, fare, merchant, tags. Did you mean 'event_ts'?"
    )):
        _run(entity, events, event_timestamp="event_time")
    dated = spark.createDataFrame([(1, T0.date())], "driver_id int, ts date")
    with pytest.raises(SchemaMismatchError, match=re.escape(
        "entity timestamp column 'ts' of entity_df is DATE; a point-in-time join needs TIMESTAMP or TIMESTAMP_NTZ"
    )):
        _run(dated, events)
    ntz = spark.createDataFrame([(1, T0.replace(tzinfo=None), 2.0)], "driver_id int, event_ts timestamp_ntz, fare double")
    with pytest.raises(SchemaMismatchError, match=re.escape(
        "event timestamp column 'event_ts' of events_df is TIMESTAMP_NTZ but the entity timestamp is TIMESTAMP; "
        "both must be the same kind to compare."
    )):
        _run(entity, ntz)
    numeric_created = spark.createDataFrame([(1, T0, 5, 2.0)], "driver_id int, event_ts timestamp, c long, fare double")
    with pytest.raises(SchemaMismatchError, match=re.escape(
        "created timestamp column 'c' of events_df is BIGINT; if it holds epoch seconds convert it with "
        "F.timestamp_seconds(F.col('c'))"
    )):
        _run(entity, numeric_created, created_timestamp="c")


def test_as_known_needs_created_timestamp_and_a_bool(entity: DataFrame, events: DataFrame) -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape(
        "as_known_at_query_time=True needs created_timestamp, the events_df column saying when each event was "
        "written (an event counts for an entity row at t only once created_timestamp <= t)."
    )):
        _run(entity, events, as_known_at_query_time=True)
    with pytest.raises(InvalidArgumentError, match=re.escape("as_known_at_query_time must be True or False, got 'yes'.")):
        _run(entity, events, as_known_at_query_time="yes")


@pytest.mark.parametrize("aggregation, window, message", [
    ("first", "1h", "first over a finite window is not supported with it"),
    ("max", "1d", "max over a finite window is not supported with it"),
    ("approx_count_distinct", "1d", "approx_count_distinct over a finite window is not supported with it"),
    ("last_k", "lifetime", "last_k over any window is not supported with it"),
])
def test_as_known_refuses_what_it_cannot_compute(
    entity: DataFrame, events: DataFrame, aggregation: str, window: str, message: str
) -> None:
    agg = Aggregation("merchant", aggregation, [window], k=2 if aggregation == "last_k" else None)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match=re.escape(message)) as info:
        _run(entity, events, aggregations=[agg], created_timestamp="created_ts", as_known_at_query_time=True)
    assert str(info.value).startswith(
        f"as_known_at_query_time=True cannot compute merchant_{aggregation}_{window} ({aggregation} of 'merchant' "
        f"over {window}):")
    assert "Compute this output in a separate call without as_known_at_query_time." in str(info.value)


# --- aggregations and outputs ---------------------------------------------------------------------

@pytest.mark.parametrize("aggregations, message", [
    (Aggregation("fare", "sum", ["1h"]), "aggregations must be a non-empty list of Aggregation, e.g. "
                                         "[Aggregation('fare', 'sum', windows=['1h', '7d'])]; got Aggregation("),
    ([], "aggregations must be a non-empty list of Aggregation"),
    ([("fare", "sum", ["1h"])], "aggregations[0] must be an Aggregation, got tuple."),
])
def test_bad_aggregation_lists(entity: DataFrame, events: DataFrame, aggregations: Any, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        _run(entity, events, aggregations=aggregations)


def test_aggregated_column_missing(entity: DataFrame, events: DataFrame) -> None:
    with pytest.raises(SchemaMismatchError, match=re.escape(
        "aggregated column 'fares' not found in events_df; available columns: driver_id, event_ts, created_ts, "
        "fare, merchant, tags. Did you mean 'fare'?"
    )):
        _run(entity, events, aggregations=[Aggregation("fares", "sum", ["1h"])])


@pytest.mark.parametrize("aggregation, message", [
    (Aggregation("merchant", "mean", ["1h"]), "mean needs a numeric column, but column 'merchant' of events_df is "
                                              "string; cast it first, e.g. events_df.withColumn('merchant', "
                                              "F.col('merchant').cast('double'))."),
    (Aggregation("tags", "max", ["1h"]), "max needs values Spark can order, but column 'tags' of events_df is "
                                         "map<string,int> (maps and variants cannot be compared); aggregate a "
                                         "scalar field of it instead."),
    (Aggregation("tags", "approx_count_distinct", ["1h"]), "approx_count_distinct needs values Spark can hash, but "
                                                           "column 'tags' of events_df is map<string,int>; count a "
                                                           "scalar field of it, or its JSON text (F.to_json)."),
])
def test_function_and_type_mismatch(entity: DataFrame, events: DataFrame, aggregation: Aggregation, message: str) -> None:
    with pytest.raises(SchemaMismatchError, match=re.escape(message)):
        _run(entity, events, aggregations=[aggregation])


def test_output_name_clashes(entity: DataFrame, events: DataFrame) -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape(
        "output column city (sum of 'fare' over 1h) clashes with entity_df column 'city'. Name the output with "
        "Aggregation(..., name=...) (one window per Aggregation), or rename the entity column."
    )):
        _run(entity, events, aggregations=[Aggregation("fare", "sum", ["1h"], name="city")])
    with pytest.raises(InvalidArgumentError, match=re.escape(
        "output column fare_sum_1h (sum of 'fare' over 1h) clashes with output column fare_sum_1h (sum of 'fare' "
        "over 1h)."
    )):
        _run(entity, events, aggregations=[Aggregation("fare", "sum", ["1h"]), Aggregation("fare", "sum", ["1h"])])
    with pytest.raises(InvalidArgumentError, match=re.escape(
        "output column __fs_agg_x (sum of 'fare' over 1h) uses the prefix '__fs_agg_' reserved for the aggregation "
        "engine's internal columns; choose another name with name=..."
    )):
        _run(entity, events, aggregations=[Aggregation("fare", "sum", ["1h"], name="__fs_agg_x")])


# --- options and the call-time job ----------------------------------------------------------------

@pytest.mark.parametrize("share", [-0.1, 1.0, True, "0.1", "AUTO"])
def test_bad_hot_key_share(entity: DataFrame, events: DataFrame, share: Any) -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape(
        "hot_key_share must be a number in [0, 1) (the share of the events above which a key is split into time "
        f"buckets), 'auto' (from the number of task slots) or None to turn detection off; got {share!r}."
    )):
        _run(entity, events, hot_key_share=share)


@pytest.mark.parametrize("buckets", [0, 2.0, False])
def test_bad_hot_key_buckets(entity: DataFrame, events: DataFrame, buckets: Any) -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape(
        f"hot_key_buckets must be a positive int (time buckets per hot key); got {buckets!r}."
    )):
        _run(entity, events, hot_key_buckets=buckets)


def test_time_range_of_another_kind(entity: DataFrame, events: DataFrame) -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape(
        "time_range must be entity_time_range(entity_df, 'ts') of this entity_df; got EntityTimeRange("
    )):
        _run(entity, events, time_range=EntityTimeRange(0, 1, 0, 1, ntz=True))


def test_null_entity_timestamps_are_counted(spark: SparkSession, events: DataFrame) -> None:
    entity = spark.createDataFrame([(1, T0), (2, None), (3, None)], "driver_id int, ts timestamp")
    with pytest.raises(NullValueError, match=re.escape(
        "entity_df has 2 row(s) with a null entity timestamp 'ts' (of 3); every entity row needs a time to aggregate "
        "up to. Drop them (entity_df.dropna(subset=['ts'])) or fill them first."
    )):
        _run(entity, events, time_range=None)
