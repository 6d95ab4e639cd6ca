"""The named options of featurespark's functions, as ``Literal`` types with one validator.

Every option that takes one of a few words is a ``Literal`` alias here. The function a user calls
validates it once with :func:`check_option` (a clear :class:`~featurespark.errors.InvalidArgumentError`
naming the option, the value and the choices); functions further down receive the alias type and
trust it.

Examples
--------
>>> check_option("upsert", WriteMode, "mode")
'upsert'
>>> check_option("merge", WriteMode, "mode")
Traceback (most recent call last):
...
featurespark.errors.InvalidArgumentError: mode must be one of 'append', 'upsert'; got 'merge'.
>>> choices(OnInvalid)
('fail', 'quarantine')
"""
from __future__ import annotations

import typing
from typing import Any, Literal, TypeVar

from featurespark.errors import InvalidArgumentError

__all__ = [
    "Algorithm", "BillingMode", "IcebergCatalogType", "OfflineFormat", "OnInvalid", "OnlineWriteMode", "StreamOutputMode",
    "TrainingSetFormat", "WriteMode", "check_option", "choices",
]

#: Point-in-time join algorithm (``docs/point_in_time.md``).
Algorithm = Literal["auto", "range", "asof"]
#: How ``write_features`` stores rows: add them, or merge on (keys, event time).
WriteMode = Literal["append", "upsert"]
#: What a write does with invalid rows (null key or event time): fail, or quarantine them.
OnInvalid = Literal["fail", "quarantine"]
#: How online items are written: batched last-writer-wins, or conditional puts that never regress.
OnlineWriteMode = Literal["last_writer_wins", "monotonic"]
#: Output mode of a streaming query (Spark's).
StreamOutputMode = Literal["update", "append", "complete"]
#: Billing mode of the DynamoDB tables featurespark creates.
BillingMode = Literal["PAY_PER_REQUEST", "PROVISIONED"]
#: Table format of the offline store's managed tables and registry (``offline_store.format``).
OfflineFormat = Literal["delta", "iceberg"]
#: Catalog of the managed Iceberg tables (``offline_store.iceberg_catalog_type``): a Hadoop catalog under the
#: offline root, or the AWS Glue Data Catalog.
IcebergCatalogType = Literal["hadoop", "glue"]
#: Format of a written training set.
TrainingSetFormat = Literal["parquet", "delta"]

_T = TypeVar("_T", bound=str)


def choices(alias: Any) -> tuple[str, ...]:
    """The words a ``Literal`` alias allows, in order."""
    return tuple(typing.get_args(alias))


def check_option(value: object, alias: Any, name: str) -> Any:
    """Return ``value`` if the ``Literal`` alias allows it, else raise naming ``name`` and the choices.

    Parameters
    ----------
    value : object
        What the caller passed.
    alias : Literal alias
        One of the aliases of this module.
    name : str
        The option's name, for the message.

    Raises
    ------
    InvalidArgumentError
        If ``value`` is not one of the alias' words.
    """
    allowed = choices(alias)
    if not isinstance(value, str) or value not in allowed:
        raise InvalidArgumentError(f"{name} must be one of {', '.join(repr(a) for a in allowed)}; got {value!r}.")
    return value
