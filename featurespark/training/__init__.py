"""Training sets: point-in-time retrieval from registered views, written with a manifest."""
from featurespark.training.historical import HistoricalRetrieval, SourceRead, retrieve, to_entity_frame
from featurespark.training.manifest import read_manifest, write_training_set
from featurespark.training.references import ViewSelection, resolve_references

__all__ = [
    "HistoricalRetrieval",
    "SourceRead",
    "ViewSelection",
    "read_manifest",
    "resolve_references",
    "retrieve",
    "to_entity_frame",
    "write_training_set",
]
