"""The docstring examples of the modules that need no Spark session (config, AWS helpers, log store, EMR) run."""
from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["featurespark.config", "featurespark.aws", "featurespark.log_store", "featurespark.emr.steps",
           "featurespark.emr.wait", "featurespark.emr.serverless", "featurespark.emr.cli", "featurespark.emr.client"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} failed (see above)"
    assert result.attempted > 0 or name == "featurespark.emr.client"
