"""The registry of definitions, kept as a Delta table with the data."""
from featurespark.registry.diff import Change, Plan, spec_diff
from featurespark.registry.registry import Registry, RegistryRecord, RegistryState

__all__ = ["Change", "Plan", "Registry", "RegistryRecord", "RegistryState", "spec_diff"]
