"""The description of one feature view taking part in a point-in-time join."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Mapping, Optional, Sequence, Union

from pyspark.sql import DataFrame

logger = logging.getLogger(__name__)

__all__ = ["PitView"]


@dataclass(frozen=True, eq=False)
class PitView:
    """One feature frame to join point-in-time onto the entity rows.

    Attributes
    ----------
    feature_df : DataFrame
        Feature rows: join keys, an event (feature) timestamp, optionally a created timestamp,
        and feature values.
    keys : list of str or mapping of str to str
        Join keys. A list names columns present in both frames; a mapping
        ``{entity_column: feature_column}`` maps the view's keys to differently named entity columns.
    feature_timestamp : str
        Column of ``feature_df`` holding the time each row's values became true.
    created_timestamp : str, optional
        Column of ``feature_df`` holding when the row was written; breaks ties between rows with the
        same feature timestamp (corrections) and drives ``filter_by_created_timestamp``.
    ttl : datetime.timedelta, optional
        How old a feature row may be relative to the entity timestamp (inclusive). None means no
        lower bound; ``timedelta(0)`` accepts only rows stamped exactly at the entity timestamp.
    features : list of str, optional
        Columns of ``feature_df`` to return. Default: every column except the keys and timestamps.
    prefix : str, optional
        Prepended verbatim to each feature name to form its output column name
        (for example ``"driver_stats__"``).
    output_names : mapping of str to str, optional
        ``{feature: output column}``; overrides ``prefix`` for the features it names.
    filter_by_created_timestamp : bool, default False
        Only rows with ``created_timestamp <= entity timestamp`` are candidates: the values as
        known at the entity timestamp.
    name : str, optional
        Name used in error messages and logs.
    """

    feature_df: DataFrame
    keys: Union[Sequence[str], Mapping[str, str]]
    feature_timestamp: str
    created_timestamp: Optional[str] = None
    ttl: Optional[timedelta] = None
    features: Optional[Sequence[str]] = None
    prefix: Optional[str] = None
    output_names: Optional[Mapping[str, str]] = None
    filter_by_created_timestamp: bool = False
    name: Optional[str] = None
