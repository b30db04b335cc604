"""Importers for real-world logs that are not JSONL operations.

Each reads its format as a stream, builds `Operation`s directly and applies them
through the same `Ingestor` as every other source, in batches, returning the same
`IngestSummary` as `nudge ingest`.
"""

from __future__ import annotations

from app.service.importers.cdnow import import_cdnow
from app.service.importers.xes import import_xes

__all__ = ["import_cdnow", "import_xes"]
