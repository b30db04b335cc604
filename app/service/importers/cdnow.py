"""Import the CDNOW purchase log (Fader and Hardie): one person per customer, one
`purchase` track event per row.

The file is whitespace-separated text, `customer_id date number_of_cds dollar_value`,
with or without that header line (the copy in the Lifetimes wheel has it, the original
does not); `date` is `YYYYMMDD` with no time of day, so each purchase is placed at
midnight of that date in a zone the caller chooses.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import IO
from zoneinfo import ZoneInfo

from app.core.errors import NudgeError
from app.core.operations import Identity, Operation
from app.service.ingest import Ingestor
from app.service.logfiles import BATCH_LINES, IngestSummary, LineProblem, open_source

#: The event every row becomes.
EVENT_NAME = "purchase"

_HEADER = [b"customer_id", b"date", b"number_of_cds", b"dollar_value"]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _BadRow(ValueError):
    """A row that cannot become a purchase; the message is the reason shown."""


def import_cdnow(
    ingestor: Ingestor,
    path: str,
    zone: ZoneInfo,
    progress: Callable[[int], None] | None = None,
) -> IngestSummary:
    """Import a CDNOW purchase log.

    Each row becomes a track event `purchase` for the person whose external id is
    `customer_id` exactly as written (zero-padded, `"00001"`), with properties
    `{"cds": int, "amount": float}` and timestamp midnight of `date` in `zone`
    (ms UTC). The dedupe key is the row's content,
    `cdnow:{customer_id}:{YYYYMMDD}:{cds}:{amount}`, and does not depend on the zone:
    rows that repeat exactly are stored once and counted in `duplicates`, and importing
    the file again (in any zone) adds nothing. A row that cannot be read is rejected
    with its line number; the rows around it still apply.

    Args:
        ingestor: applies the operations, `BATCH_LINES` rows per transaction.
        path: the file (a `.gz` name is gunzipped, `-` is stdin).
        zone: the zone whose midnight a date means (DST is zoneinfo's business).
        progress: called after each batch with the bytes consumed since the last call.

    Returns:
        The summary: `lines` counts data rows (not the header, not blank lines), and
        every problem carries `path` and its 1-based line number.

    Raises:
        NudgeError: when the file cannot be opened or read.
    """
    summary = IngestSummary()
    ops: list[Operation] = []
    numbers: list[int] = []
    # About 550 distinct dates in 70k rows: convert each once.
    midnights: dict[bytes, int] = {}
    consumed = 0

    def apply() -> None:
        nonlocal consumed
        if ops:
            summary.add_report(ingestor.apply_operations(ops), path, numbers)
        ops.clear()
        numbers.clear()
        if progress is not None:
            progress(consumed)
        consumed = 0

    with open_source(path) as handle:
        first = True
        for number, raw in enumerate(_read_lines(handle, path), start=1):
            consumed += len(raw)
            fields = raw.split()
            if not fields:
                continue
            if first:
                first = False
                if [f.lower() for f in fields] == _HEADER:
                    continue
            summary.lines += 1
            try:
                ops.append(_purchase(fields, zone, midnights))
            except _BadRow as exc:
                summary.rejected.append(LineProblem(path, number, str(exc)))
                continue
            numbers.append(number)
            if len(ops) >= BATCH_LINES:
                apply()
        apply()
    return summary


def _read_lines(handle: IO[bytes], path: str) -> Iterator[bytes]:
    # A truncated or corrupt .gz fails in the middle of the loop, not at open: it must
    # still reach the operator as one line (the batches before it stay applied).
    try:
        yield from handle
    except (OSError, EOFError, zlib.error) as exc:
        raise NudgeError(f"cannot read {path}: {exc}") from None


def _purchase(fields: list[bytes], zone: ZoneInfo, midnights: dict[bytes, int]) -> Operation:
    if len(fields) != 4:
        raise _BadRow(
            f"expected 4 fields (customer_id date number_of_cds dollar_value), found {len(fields)}"
        )
    try:
        customer, day, cds_text, amount_text = (f.decode("ascii") for f in fields)
    except UnicodeDecodeError:
        raise _BadRow("row is not ASCII text") from None
    at = midnights.get(fields[1])
    if at is None:
        at = midnights[fields[1]] = _midnight(day, zone)
    if not (cds_text.isascii() and cds_text.isdigit()):
        raise _BadRow(f"number_of_cds {cds_text!r} is not a whole number")
    cds = int(cds_text)
    try:
        amount = float(amount_text)
    except ValueError:
        amount = math.nan
    if not math.isfinite(amount) or "_" in amount_text:
        raise _BadRow(f"dollar_value {amount_text!r} is not a number")
    return Operation(
        "track",
        at,
        Identity(customer),
        name=EVENT_NAME,
        properties={"cds": cds, "amount": amount},
        # repr(float) is the shortest text that reads back as the same float, so
        # "12.00" and "12.0" name the same purchase.
        dedupe_key=f"cdnow:{customer}:{day}:{cds}:{amount!r}",
    )


def _midnight(day: str, zone: ZoneInfo) -> int:
    """Midnight starting `day` (`YYYYMMDD`) in `zone`, ms UTC."""
    if len(day) != 8 or not (day.isascii() and day.isdigit()):
        raise _BadRow(f"date {day!r} is not YYYYMMDD")
    try:
        local = datetime(int(day[:4]), int(day[4:6]), int(day[6:]), tzinfo=zone)
    except ValueError:
        raise _BadRow(f"date {day!r} is not a calendar date") from None
    # A midnight skipped by a DST change (fold=0) resolves to the instant just after
    # the gap, which is what a shop's "that day" means.
    return (local - _EPOCH) // timedelta(milliseconds=1)
