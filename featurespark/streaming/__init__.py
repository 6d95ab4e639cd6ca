"""Streaming and push writes that land in the offline and online stores together.

- :func:`push`: one batch DataFrame into both stores (Delta upsert, then monotonic DynamoDB writes).
- :func:`write_stream`: a Structured Streaming query doing the same for every micro-batch,
  idempotently across restarts.

See ``docs/streaming.md``.
"""
from __future__ import annotations

from featurespark.streaming.batch_write import PushSummary, Transaction, push
from featurespark.streaming.stream import MicroBatchWriter, batch_summaries, query_error, write_stream

__all__ = ["MicroBatchWriter", "PushSummary", "Transaction", "batch_summaries", "push", "query_error", "write_stream"]
