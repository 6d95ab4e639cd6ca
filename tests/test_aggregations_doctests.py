"""The docstring examples of the aggregation modules run, with the test session as ``spark``."""
from __future__ import annotations

import doctest
from types import ModuleType

import pytest
from pyspark.sql import SparkSession

import featurespark.aggregations.api
import featurespark.aggregations.spec
import featurespark.definitions.aggregation_view

MODULES = [featurespark.aggregations.spec, featurespark.aggregations.api, featurespark.definitions.aggregation_view]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_examples_run(spark: SparkSession, module: ModuleType) -> None:
    result = doctest.testmod(module, extraglobs={"spark": spark}, optionflags=doctest.ELLIPSIS, report=False)
    assert result.attempted > 0, f"{module.__name__} has no examples"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {module.__name__} failed (see output)"
