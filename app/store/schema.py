"""Schema migrations (sqlite-utils `Migrations`). Never edit a released migration: add one."""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.migrations import Migrations

MIGRATIONS = Migrations("nudge")


@MIGRATIONS()
def m001_people_events_activity(db: sqlite_utils.Database) -> None:
    """People, events, suppressions, the activity log and the watch-folder offsets."""
    statements = [
        # email is matched case-insensitively (Customer.io), hence NOCASE on the
        # column and its unique index.
        """CREATE TABLE people (
            id INTEGER PRIMARY KEY,
            external_id TEXT UNIQUE,
            email TEXT COLLATE NOCASE UNIQUE,
            attributes TEXT NOT NULL DEFAULT '{}',
            attribute_times TEXT NOT NULL DEFAULT '{}',
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            suppressed INTEGER NOT NULL DEFAULT 0,
            unsubscribed INTEGER NOT NULL DEFAULT 0
        )""",
        # seq is the rowid: insertion order, and the tie-break for equal timestamps.
        # user_id / user_email keep the identifiers as the operation gave them, so a
        # replay resolves identities (and merges) exactly as they were resolved live.
        # dedupe_key is a UNIQUE column beside an INTEGER key: text UUID primary
        # keys cost 1.5x on insert (PERFORMANCE.md).
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY,
            person_id INTEGER REFERENCES people(id) ON DELETE CASCADE,
            anonymous_id TEXT,
            user_id TEXT,
            user_email TEXT,
            type TEXT NOT NULL,
            name TEXT,
            properties TEXT NOT NULL DEFAULT '{}',
            timestamp INTEGER NOT NULL,
            received_at INTEGER NOT NULL,
            dedupe_key TEXT UNIQUE
        )""",
        # "Did X in the last N days" per person and in bulk (segments).
        "CREATE INDEX events_person_name_time ON events(person_id, name, timestamp)",
        "CREATE INDEX events_name_time ON events(name, timestamp)",
        # Only events still waiting for their person: the index stays small.
        """CREATE INDEX events_anonymous ON events(anonymous_id, timestamp)
            WHERE person_id IS NULL""",
        """CREATE TABLE suppressions (
            identifier TEXT PRIMARY KEY,
            created_at INTEGER NOT NULL
        )""",
        """CREATE TABLE activity (
            id INTEGER PRIMARY KEY,
            at INTEGER NOT NULL,
            person_id INTEGER,
            kind TEXT NOT NULL,
            campaign TEXT,
            step TEXT,
            detail TEXT NOT NULL DEFAULT '{}'
        )""",
        "CREATE INDEX activity_person ON activity(person_id, at)",
        """CREATE TABLE watch_offsets (
            path TEXT PRIMARY KEY,
            offset INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        )""",
    ]
    for sql in statements:
        db.execute(sql)


@MIGRATIONS()
def m002_segments(db: sqlite_utils.Database) -> None:
    """Segment definitions as last loaded, and who is in each since when."""
    statements = [
        # evaluated_at: the instant membership was last brought up to date by a full
        # evaluation or a sweep; the next sweep looks only at what changed since.
        """CREATE TABLE segments (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            definition TEXT NOT NULL,
            hash TEXT NOT NULL,
            evaluated_at INTEGER
        )""",
        """CREATE TABLE segment_members (
            segment_id TEXT NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
            person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
            since INTEGER NOT NULL,
            PRIMARY KEY (segment_id, person_id)
        ) WITHOUT ROWID""",
        "CREATE INDEX segment_members_person ON segment_members(person_id)",
        # "entered / left in the last 24 h" and the live stream read by kind and time.
        "CREATE INDEX activity_kind_at ON activity(kind, at)",
    ]
    for sql in statements:
        db.execute(sql)


@MIGRATIONS()
def m003_campaigns_journeys_deliveries(db: sqlite_utils.Database) -> None:
    """Campaign versions, journeys, the delivery outbox and the engine's marks."""
    statements = [
        """CREATE TABLE campaign_versions (
            campaign_id TEXT NOT NULL,
            hash TEXT NOT NULL,
            source TEXT NOT NULL,
            file TEXT NOT NULL DEFAULT '',
            loaded_at INTEGER NOT NULL,
            PRIMARY KEY (campaign_id, hash)
        )""",
        # One row per person per entry. next_due_at is when the engine must look at it
        # again (NULL: only a change to the person can move it, e.g. an open wait).
        """CREATE TABLE journeys (
            id INTEGER PRIMARY KEY,
            campaign_id TEXT NOT NULL,
            version TEXT NOT NULL,
            person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
            entry_key TEXT NOT NULL DEFAULT '',
            state TEXT NOT NULL,
            step_id TEXT,
            entered_at INTEGER NOT NULL,
            step_since INTEGER NOT NULL,
            next_due_at INTEGER,
            trigger_event TEXT NOT NULL DEFAULT '{}',
            time_window TEXT,
            path TEXT NOT NULL DEFAULT '[]',
            last_message_at INTEGER,
            converted_at INTEGER,
            ended_at INTEGER,
            exit_reason TEXT
        )""",
        "CREATE INDEX journeys_due ON journeys(next_due_at, id) WHERE state = 'active'",
        "CREATE INDEX journeys_person ON journeys(person_id, campaign_id, entry_key)",
        "CREATE INDEX journeys_campaign ON journeys(campaign_id, state)",
        # The outbox (DESIGN.md invariant 3): the key is UNIQUE and written before any
        # SMTP hand-off. No foreign key to people: a delivery outlives a deleted person.
        """CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            journey_id INTEGER,
            person_id INTEGER NOT NULL,
            campaign_id TEXT NOT NULL,
            step_id TEXT NOT NULL,
            template TEXT NOT NULL,
            subject TEXT NOT NULL,
            from_address TEXT,
            reply_to TEXT,
            created_at INTEGER NOT NULL,
            state TEXT NOT NULL DEFAULT 'queued',
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER,
            rendered_subject TEXT,
            rendered_text TEXT,
            rendered_html TEXT,
            smtp_response TEXT,
            sent_at INTEGER
        )""",
        "CREATE INDEX deliveries_state ON deliveries(state, next_attempt_at)",
        "CREATE INDEX deliveries_person ON deliveries(person_id, created_at)",
        "CREATE TABLE engine_marks (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    ]
    for sql in statements:
        db.execute(sql)


@MIGRATIONS()
def m004_outbox_and_lease(db: sqlite_utils.Database) -> None:
    """What sending needs: the sent message's identity, the lease, and kept secrets."""
    statements = [
        "ALTER TABLE deliveries ADD COLUMN message_id TEXT",
        "ALTER TABLE deliveries ADD COLUMN to_address TEXT",
        "ALTER TABLE deliveries ADD COLUMN reason TEXT",
        "ALTER TABLE deliveries ADD COLUMN test INTEGER NOT NULL DEFAULT 0",
        "CREATE INDEX deliveries_sent ON deliveries(person_id, sent_at) WHERE sent_at IS NOT NULL",
        # One row: which process may send, until when (ms UTC). A holder that dies stops
        # renewing, and another process takes over once the lease has expired.
        """CREATE TABLE scheduler_lease (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            holder TEXT NOT NULL,
            expires_at INTEGER NOT NULL,
            last_tick_at INTEGER
        )""",
        "CREATE TABLE kv (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ]
    for sql in statements:
        db.execute(sql)


@MIGRATIONS()
def m005_workspace_id(db: sqlite_utils.Database) -> None:
    """A random id per database: Message-IDs mix it in, so two databases (a staging copy,
    a second workspace) never give two different messages the same Message-ID."""
    db.execute(
        "INSERT OR IGNORE INTO kv (name, value) VALUES ('workspace_id', lower(hex(randomblob(8))))"
    )
