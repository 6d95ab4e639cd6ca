"""Offline store: Delta feature tables, sources, ingestion and time travel."""
