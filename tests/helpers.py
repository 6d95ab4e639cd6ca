"""Helpers shared by tests (plain functions; fixtures live in conftest.py)."""
from __future__ import annotations

import itertools
from pathlib import Path

from featurespark.config import Config, parse_config

_counter = itertools.count()


def make_config(root: Path, *, database: str | None = None, endpoint_url: str | None = None) -> Config:
    """A config with the offline store under ``root`` and a database unique to the test."""
    raw = {
        "project": {"name": "test"},
        "offline_store": {"root": str(root / "offline"), "database": database or f"fs_test_{next(_counter)}"},
        # Without an endpoint there is no DynamoDB to create tables in: leave tables alone.
        "online_store": {"endpoint_url": endpoint_url} if endpoint_url else {"manage_tables": False},
    }
    return parse_config(raw, source="test-config")
