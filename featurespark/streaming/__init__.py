"""Streaming sources with the options that bound a micro-batch (Kafka, JSON files).

Writing streams into the stores is the stream service's job (:mod:`featurespark.services.stream`,
``FeatureStore.write_stream``); see ``docs/streaming.md``.
"""
from __future__ import annotations

from featurespark.streaming.sources import json_files_stream, kafka_json_stream

__all__ = ["json_files_stream", "kafka_json_stream"]
