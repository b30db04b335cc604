"""Ingest: apply identify, track, page, delete, suppress and merge operations to the store.

Semantics are Customer.io's (DESIGN.md §4 "Ingest"). A batch is one transaction; an
operation that cannot be applied is rejected with its index and reason, changes
nothing, and the rest of the batch still applies.

Speed: operations are applied in order against an in-memory view of the people they
touch (loaded in one query per batch) and written back with `executemany` at the end
of the batch, so the common case (track events) costs no SQL round trip per event.
Operations that move rows (delete, suppress, merge, anonymous association) flush the
pending rows first and then run directly against the store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from app.core.attributes import apply_traits, update_time
from app.core.clock import Clock
from app.core.errors import InvalidOperation
from app.core.models import Person
from app.core.operations import MAX_OPERATION_BYTES, Identity, Operation, parse_operation
from app.core.times import DAY_MS
from app.store import ActivityRow, EventRow, Store, email_key, id_key

#: Customer.io associates anonymous activity from the 30 days before an identify.
ANONYMOUS_WINDOW_MS = 30 * DAY_MS


@dataclass(slots=True)
class Problem:
    """An operation that was not applied: its index in the batch and why."""

    index: int
    reason: str


@dataclass(slots=True)
class BatchReport:
    """What happened to a batch.

    Attributes:
        applied: operations that changed the store.
        duplicates: operations whose dedupe key was already stored (a no-op that still
            counts as success).
        skipped: valid operations with nothing to do, with their reason (an `_update`
            for an unknown person, a suppressed identifier, a delete of nobody).
        rejected: invalid operations, with their reason; nothing of them was stored.
    """

    applied: int = 0
    duplicates: int = 0
    skipped: list[Problem] = field(default_factory=list)
    rejected: list[Problem] = field(default_factory=list)

    def add(self, other: BatchReport, offset: int = 0) -> None:
        """Fold another report in, shifting its indexes by `offset`."""
        self.applied += other.applied
        self.duplicates += other.duplicates
        self.skipped += [Problem(p.index + offset, p.reason) for p in other.skipped]
        self.rejected += [Problem(p.index + offset, p.reason) for p in other.rejected]


class _Skip(Exception):
    """A valid operation that has nothing to do."""


def encoded_size(raw: object) -> int:
    """The size in bytes of an operation as compact JSON (for the 32 KB limit)."""
    return len(orjson.dumps(raw))


@dataclass(frozen=True, slots=True)
class NewEvent:
    """A track, page or screen event a batch stored for a known person."""

    person_id: int
    name: str
    properties: dict[str, Any]
    timestamp: int


@dataclass(slots=True)
class BatchChanges:
    """What a batch changed: the people it touched, the events it stored for them, and
    its received time (ms UTC)."""

    touched: set[int]
    events: list[NewEvent]
    received: int


#: Called inside the batch's transaction with what it changed: how segment membership
#: and journeys stay current with every operation.
ChangeHook = Callable[[BatchChanges], None]


class Ingestor:
    """Applies batches of operations to a store.

    Args:
        store: where people and events live.
        clock: gives the received time (and the timestamp of operations without one).
        on_change: called in the same transaction after each batch with the people it
            touched, so what depends on them (segment membership) is current before
            `apply` returns.
    """

    def __init__(self, store: Store, clock: Clock, on_change: ChangeHook | None = None) -> None:
        self.store = store
        self.clock = clock
        self.on_change = on_change

    def apply(self, raws: Sequence[object], sizes: Sequence[int] | None = None) -> BatchReport:
        """Apply a batch of raw operations (decoded JSON, either wire shape) in one transaction.

        Args:
            raws: the operations, in order.
            sizes: their encoded sizes in bytes, when the caller already knows them
                (a JSONL line's length); otherwise they are measured.

        Returns:
            The report; indexes in it are positions in `raws`.
        """
        received = self.clock.now_ms()
        report = BatchReport()
        ops: list[tuple[int, Operation]] = []
        for index, raw in enumerate(raws):
            size = sizes[index] if sizes is not None else encoded_size(raw)
            if size > MAX_OPERATION_BYTES:
                report.rejected.append(
                    Problem(index, f"operation is {size} bytes; the limit is {MAX_OPERATION_BYTES}")
                )
                continue
            try:
                ops.append((index, parse_operation(raw, received)))
            except InvalidOperation as exc:
                report.rejected.append(Problem(index, exc.message))
        if ops:
            with self.store.transaction():
                batch = _Batch(self.store, received, ops, report)
                batch.run()
                if self.on_change is not None and batch.touched:
                    self.on_change(BatchChanges(batch.touched, batch.new_events, received))
        report.rejected.sort(key=lambda p: p.index)
        return report

    def apply_operations(self, ops: Sequence[Operation]) -> BatchReport:
        """Apply already-parsed operations (importers build these directly) in one transaction.

        The 32 KB limit is not checked here: it guards the wire, and these operations
        never crossed it.
        """
        report = BatchReport()
        if ops:
            received = self.clock.now_ms()
            with self.store.transaction():
                batch = _Batch(self.store, received, list(enumerate(ops)), report)
                batch.run()
                if self.on_change is not None and batch.touched:
                    self.on_change(BatchChanges(batch.touched, batch.new_events, received))
        return report


class _Batch:
    """The in-memory view of one batch: the people it touches and the rows it will write."""

    def __init__(
        self, store: Store, received: int, ops: list[tuple[int, Operation]], report: BatchReport
    ) -> None:
        self.store = store
        self.received = received
        self.ops = ops
        self.report = report
        # None records "looked up, not there", so a miss costs one query per batch.
        self.by_id: dict[str, Person | None] = {}
        self.by_email: dict[str, Person | None] = {}
        self.new: dict[int, Person] = {}
        self.dirty: dict[int, Person] = {}
        self.rows: list[EventRow] = []
        self.activity: list[ActivityRow] = []
        self.seen_keys: set[str] = set()
        self.suppressed: set[str] = set()
        self.touched: set[int] = set()
        self.new_events: list[NewEvent] = []
        self.next_id = 0

    # -- driving ---------------------------------------------------------------------

    def run(self) -> set[int]:
        """Apply the operations; return the ids of the people they touched."""
        self._prefetch()
        handlers = {
            "identify": self._identify,
            "track": self._event,
            "page": self._event,
            "screen": self._event,
            "delete": self._delete,
            "suppress": self._suppress,
            "unsuppress": self._unsuppress,
            "merge": self._merge,
        }
        for index, op in self.ops:
            key = op.dedupe_key
            if key is not None and key in self.seen_keys:
                self.report.duplicates += 1
                continue
            try:
                handlers[op.kind](op)
            except InvalidOperation as exc:
                self.report.rejected.append(Problem(index, exc.message))
                continue
            except _Skip as exc:
                self.report.skipped.append(Problem(index, str(exc)))
            else:
                self.report.applied += 1
            if key is not None:
                # A skipped operation still claims its key: a retry is a no-op too.
                self.seen_keys.add(key)
        self._flush()
        return self.touched

    def _prefetch(self) -> None:
        ids: set[str] = set()
        emails: set[str] = set()
        keys: list[str] = []
        for _, op in self.ops:
            for who in (op.who, op.secondary):
                if who is None:
                    continue
                if who.user_id is not None:
                    ids.add(who.user_id)
                if who.email is not None:
                    emails.add(who.email.lower())
            if op.dedupe_key is not None:
                keys.append(op.dedupe_key)
        for person in self.store.people.find_many(ids, emails):
            self._index(person)
        for user_id in ids:
            self.by_id.setdefault(user_id, None)
        for email in emails:
            self.by_email.setdefault(email, None)
        self.seen_keys = self.store.events.existing_keys(keys)
        self.suppressed = self.store.suppressions.present(
            [id_key(i) for i in ids] + [email_key(e) for e in emails]
        )
        self.next_id = self.store.people.next_id()

    def _flush(self) -> None:
        if self.new:
            self.store.people.insert_many(self.new.values())
        if self.dirty:
            self.store.people.update_many(p for k, p in self.dirty.items() if k not in self.new)
        if self.rows:
            self.store.events.insert_rows(self.rows)
        if self.activity:
            self.store.activity.record(self.activity)
        self.new.clear()
        self.dirty.clear()
        self.rows.clear()
        self.activity.clear()

    # -- people ----------------------------------------------------------------------

    def _index(self, person: Person) -> None:
        if person.external_id is not None:
            self.by_id[person.external_id] = person
        if person.email is not None:
            self.by_email[person.email.lower()] = person

    def _unindex(self, person: Person) -> None:
        if person.external_id is not None:
            self.by_id[person.external_id] = None
        if person.email is not None:
            self.by_email[person.email.lower()] = None

    def _lookup_id(self, user_id: str) -> Person | None:
        if user_id not in self.by_id:
            self.by_id[user_id] = self.store.people.by_external_id(user_id)
        return self.by_id[user_id]

    def _lookup_email(self, email: str) -> Person | None:
        key = email.lower()
        if key not in self.by_email:
            self.by_email[key] = self.store.people.by_email(email)
        return self.by_email[key]

    def _check_suppressed(self, who: Identity) -> None:
        if who.user_id is not None and id_key(who.user_id) in self.suppressed:
            raise _Skip(f"id {who.user_id} is suppressed")
        if who.email is not None and email_key(who.email) in self.suppressed:
            raise _Skip(f"email {who.email} is suppressed")

    def _resolve(self, who: Identity) -> Person | None:
        """Find the person an identity names, checking that id and email agree.

        Customer.io: the id wins; an email on a person without an id is claimed by
        the id; an email that belongs to someone with another id is a conflict.
        """
        by_id = self._lookup_id(who.user_id) if who.user_id is not None else None
        by_email = self._lookup_email(who.email) if who.email is not None else None
        if by_id is not None:
            if by_email is not None and by_email is not by_id:
                raise InvalidOperation(
                    f"email {who.email} already belongs to another person ({by_email.label})"
                )
            return by_id
        if by_email is not None and who.user_id is not None and by_email.external_id is not None:
            raise InvalidOperation(
                f"email {who.email} already belongs to another person ({by_email.label})"
            )
        return by_email

    def _create(self, who: Identity, at: int) -> Person:
        person = Person(
            id=self.next_id,
            external_id=who.user_id,
            email=who.email,
            created_at=at,
            updated_at=at,
        )
        if who.email is not None:
            person.attributes["email"] = who.email
            person.attribute_times["email"] = at
        self.next_id += 1
        self.new[person.id] = person
        self._index(person)
        return person

    def _person_for(self, who: Identity, at: int) -> Person:
        """The person an event names, created when unknown (Customer.io creates on track)."""
        person = self._resolve(who)
        if person is None:
            return self._create(who, at)
        self._claim_id(person, who)
        if at < person.created_at:
            person.created_at = at
            self.dirty[person.id] = person
        return person

    def _claim_id(self, person: Person, who: Identity) -> None:
        if who.user_id is not None and person.external_id is None:
            person.external_id = who.user_id
            self.by_id[who.user_id] = person
            self.dirty[person.id] = person

    # -- operations ------------------------------------------------------------------

    def _identify(self, op: Operation) -> None:
        self._check_suppressed(op.who)
        at = update_time(op.properties, op.timestamp)
        new_email = op.properties.get("email", op.who.email)
        if new_email is not None and not isinstance(new_email, str):
            raise InvalidOperation("email must be a string")
        person = self._resolve(op.who)
        traits = op.properties
        if (
            op.who.email is not None
            and "email" not in traits
            and (person is None or (person.email or "").lower() != op.who.email.lower())
        ):
            # An email given only as an identifier becomes the email attribute, and is
            # kept among the stored traits so a replay of this event rebuilds it.
            traits = {**traits, "email": op.who.email}
        if new_email:
            owner = self._lookup_email(new_email)
            if owner is not None and owner is not person:
                raise InvalidOperation(
                    f"email {new_email} already belongs to another person ({owner.label})"
                )
        if person is None:
            if op.update_only:
                raise _Skip(f"_update: no person with {op.who.describe()}")
            person = self._create(op.who, op.timestamp)
        else:
            self._claim_id(person, op.who)
            person.created_at = min(person.created_at, op.timestamp)
        old_email = person.email
        if apply_traits(person.attributes, person.attribute_times, traits, at):
            person.updated_at = max(person.updated_at, at)
        email = person.attributes.get("email")
        person.email = email if isinstance(email, str) and email else None
        if old_email is not None and (person.email or "").lower() != old_email.lower():
            self.by_email[old_email.lower()] = None
        self._index(person)
        self.dirty[person.id] = person
        self._row(op, person.id, traits)
        if op.anonymous_id is not None:
            self._flush()
            earliest = self.store.events.associate_anonymous(
                op.anonymous_id, person.id, op.timestamp - ANONYMOUS_WINDOW_MS
            )
            if earliest is not None and earliest < person.created_at:
                person.created_at = earliest
                self.dirty[person.id] = person

    def _event(self, op: Operation) -> None:
        if op.who:
            self._check_suppressed(op.who)
            person_id: int | None = self._person_for(op.who, op.timestamp).id
        else:
            person_id = None
        self._row(op, person_id, op.properties)

    def _delete(self, op: Operation) -> None:
        person = self._resolve(op.who)
        if person is None:
            # Recorded all the same: the log keeps every operation it was given, so an
            # exported history replays to the same rows.
            self._row(op, None, {"identifiers": _identifiers(op.who)})
            raise _Skip(f"no person with {op.who.describe()}")
        self._remove(person, op, "person.deleted")

    def _suppress(self, op: Operation) -> None:
        person = self._resolve(op.who)
        keys = _keys(op.who)
        if person is not None:
            keys |= _keys(Identity(person.external_id, person.email))
            self._remove(person, op, "person.suppressed")
        else:
            self._row(op, None, {"identifiers": _identifiers(op.who)})
        self.store.suppressions.add(sorted(keys), op.timestamp)
        self.suppressed |= keys

    def _unsuppress(self, op: Operation) -> None:
        keys = _keys(op.who)
        if not keys & self.suppressed:
            raise _Skip(f"{op.who.describe()} is not suppressed")
        self._flush()
        self.store.suppressions.remove(sorted(keys))
        self.suppressed -= keys
        self._row(op, None, {"identifiers": _identifiers(op.who)})

    def _merge(self, op: Operation) -> None:
        assert op.secondary is not None  # parse_operation guarantees it for merges
        primary = self._resolve(op.who)
        secondary = self._resolve(op.secondary)
        if secondary is None and op.anonymous_id is not None:
            self._alias_anonymous(op)
            return
        if primary is None:
            raise _Skip(f"no primary person with {op.who.describe()}")
        if secondary is None:
            raise _Skip(f"no secondary person with {op.secondary.describe()}")
        if primary is secondary:
            raise _Skip("primary and secondary are the same person")
        self._flush()
        self.store.events.move(secondary.id, primary.id)
        self._unindex(secondary)
        self.store.people.delete(secondary.id)
        # Customer.io: the primary's attributes win; the secondary fills the gaps.
        for key, value in secondary.attributes.items():
            if key not in primary.attributes:
                primary.attributes[key] = value
                primary.attribute_times[key] = secondary.attribute_times.get(key, op.timestamp)
        if primary.email is None and secondary.email is not None:
            primary.email = secondary.email
        primary.created_at = min(primary.created_at, secondary.created_at)
        primary.updated_at = max(primary.updated_at, secondary.updated_at)
        self._index(primary)
        self.dirty[primary.id] = primary
        detail = {"primary": _identifiers(op.who), "secondary": _identifiers(op.secondary)}
        self._row(op, primary.id, detail)
        self.activity.append((op.timestamp, primary.id, "person.merged", None, None, detail))

    def _alias_anonymous(self, op: Operation) -> None:
        """A merge whose secondary is no person but carries an `anonymous_id` (Segment's
        alias from an anonymous `previousId`): the anonymous id's events of the last 30
        days go to the primary, created when new, as an identify carrying that
        `anonymousId` does (Customer.io associates anonymous activity on identify)."""
        assert op.secondary is not None
        self._check_suppressed(op.who)
        person = self._person_for(op.who, op.timestamp)
        detail = {"primary": _identifiers(op.who), "secondary": _identifiers(op.secondary)}
        self._row(op, person.id, detail)
        self._flush()
        earliest = self.store.events.associate_anonymous(
            op.anonymous_id or "", person.id, op.timestamp - ANONYMOUS_WINDOW_MS
        )
        if earliest is not None and earliest < person.created_at:
            person.created_at = earliest
            self.dirty[person.id] = person

    def _remove(self, person: Person, op: Operation, kind: str) -> None:
        self._flush()
        self.store.people.delete(person.id)
        self._unindex(person)
        identifiers = _identifiers(Identity(person.external_id, person.email))
        # The event outlives the person (their own events go with them), so a
        # replay of the log removes them again.
        self._row(op, None, {"identifiers": identifiers})
        self.activity.append((op.timestamp, person.id, kind, None, None, identifiers))

    def _row(self, op: Operation, person_id: int | None, properties: dict[str, Any]) -> None:
        if person_id is not None:
            self.touched.add(person_id)
            if op.name is not None and op.kind in ("track", "page", "screen"):
                self.new_events.append(NewEvent(person_id, op.name, properties, op.timestamp))
        self.rows.append(
            (
                person_id,
                op.anonymous_id,
                op.who.user_id,
                op.who.email,
                op.kind,
                op.name,
                orjson.dumps(properties).decode(),
                op.timestamp,
                self.received,
                op.dedupe_key,
            )
        )


def _keys(who: Identity) -> set[str]:
    keys = set()
    if who.user_id is not None:
        keys.add(id_key(who.user_id))
    if who.email is not None:
        keys.add(email_key(who.email))
    return keys


def _identifiers(who: Identity) -> dict[str, str]:
    out = {}
    if who.user_id is not None:
        out["id"] = who.user_id
    if who.email is not None:
        out["email"] = who.email
    return out
