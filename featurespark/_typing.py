"""Type aliases shared across featurespark."""
from __future__ import annotations

from typing import Union

from pyspark.sql import Column

ColumnOrName = Union[str, Column]
