"""The demo data set: the committed samples, loaded into a scratch database."""

from __future__ import annotations

from pathlib import Path

from app.config import Settings
from app.core.clock import Clock, SystemClock
from app.service.ingest import Ingestor
from app.service.logfiles import IngestSummary, ingest_files
from app.store import Store

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


def load_demo(
    store: Store, settings: Settings, clock: Clock | None = None
) -> list[tuple[str, IngestSummary]]:
    """Load every sample into `store` (idempotent: dedupe keys make a second load a no-op).

    `clock` gives the receive time (a fixed clock makes seeded data repeatable).

    Returns:
        (source name, summary) per sample, in load order.

    Raises:
        NudgeError: when a sample file is missing (a broken checkout).
    """
    from app.service.importers import import_cdnow, import_xes

    ingestor = Ingestor(store, clock or SystemClock())
    return [
        ("product events", ingest_files(ingestor, [str(SAMPLES / "product_events.jsonl")])),
        (
            "CDNOW purchases",
            import_cdnow(ingestor, str(SAMPLES / "cdnow_sample.txt"), settings.zone),
        ),
        ("BPI 2017 offers", import_xes(ingestor, str(SAMPLES / "bpic2017_sample.xes.gz"))),
    ]
