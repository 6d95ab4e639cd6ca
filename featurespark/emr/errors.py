"""Errors of the EMR helpers.

Both subclass :class:`featurespark.errors.FeaturesparkError`, so the ``featurespark`` command reports
them with exit code 1. Bad arguments (an unknown job name, a malformed URI) raise
:class:`featurespark.errors.InvalidArgumentError` instead. Kept here until they move to
:mod:`featurespark.errors`.
"""
from __future__ import annotations

from featurespark.errors import FeaturesparkError


class EmrError(FeaturesparkError):
    """The EMR API refused a call or could not be reached (no credentials, no region, access denied)."""


class ClusterUnavailableError(EmrError, ValueError):
    """The cluster id names no cluster in the region used, or a cluster that can no longer take steps."""


class StepConcurrencyError(EmrError, ValueError):
    """The cluster runs fewer steps at once than a step needs (a stream would block the step queue)."""
