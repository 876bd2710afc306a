"""The spool's tables and their ordered migrations.

Each migration is a function run in the same transaction as the row that records it
(sqlite-utils `Migrations`), so a crash mid-upgrade leaves the old version intact.
Append new migrations; never edit a released one.
"""
from __future__ import annotations

from typing import Callable

import apsw


def _v1(db: apsw.Connection) -> None:
    db.execute("""
    CREATE TABLE checkpoints (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        source      TEXT NOT NULL,
        dev         INTEGER NOT NULL,
        ino         INTEGER NOT NULL,
        fingerprint TEXT,              -- blake2b of the first line (≤ 1 KiB); NULL until it is complete
        path        TEXT NOT NULL,     -- where the file was last seen
        offset      INTEGER NOT NULL DEFAULT 0,
        marker      TEXT,              -- hash of the bytes just before offset: proves the content is unchanged
        skip_line   INTEGER NOT NULL DEFAULT 0,  -- inside an over-long line: skip to its newline
        state       TEXT NOT NULL,     -- active | rotated | truncated | gone
        updated     REAL NOT NULL
    );
    CREATE INDEX checkpoints_inode ON checkpoints(source, dev, ino);
    CREATE INDEX checkpoints_fingerprint ON checkpoints(source, fingerprint);

    -- Many encoded records per row (NDJSON envelopes), never a row per record.
    -- AUTOINCREMENT: delivery order must not depend on rowids SQLite may reuse.
    CREATE TABLE chunks (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        source   TEXT NOT NULL,
        created  REAL NOT NULL,
        records  INTEGER NOT NULL,
        bytes    INTEGER NOT NULL,
        payload  BLOB NOT NULL
    );

    CREATE TABLE deliveries (
        sink         TEXT NOT NULL,
        chunk_id     INTEGER NOT NULL,
        done         INTEGER NOT NULL DEFAULT 0,   -- leading records of the chunk already delivered
        attempts     INTEGER NOT NULL DEFAULT 0,
        next_attempt REAL NOT NULL DEFAULT 0,
        last_error   TEXT,
        PRIMARY KEY (sink, chunk_id)
    ) WITHOUT ROWID;
    CREATE INDEX deliveries_chunk ON deliveries(chunk_id);

    CREATE TABLE dead_letters (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        sink      TEXT,
        source    TEXT,
        record_id TEXT,
        record    BLOB,
        reason    TEXT NOT NULL,
        time      REAL NOT NULL
    );

    -- Small facts the daemon publishes for `status` (pause reason, stopped sinks).
    CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated REAL NOT NULL);
    """)


def _v2(db: apsw.Connection) -> None:
    db.execute("""
    -- What a sink must remember across restarts (an esmond metadata key per measurement),
    -- so that a restart does not ask the endpoint to create again what it already has.
    CREATE TABLE sink_state (
        sink    TEXT NOT NULL,
        key     TEXT NOT NULL,
        value   TEXT NOT NULL,
        updated REAL NOT NULL,
        PRIMARY KEY (sink, key)
    ) WITHOUT ROWID;
    """)


def _v3(db: apsw.Connection) -> None:
    db.execute("""
    -- Running totals for the metrics endpoint (records read, delivered, dead-lettered,
    -- retries...), bumped inside the transactions that do the work, so a counter never
    -- runs ahead of or behind what the spool holds, and it survives restarts. `value` is
    -- a count, or for `last_success` a Unix time.
    CREATE TABLE counters (
        scope   TEXT NOT NULL,     -- source | sink
        name    TEXT NOT NULL,     -- the source's or sink's name
        counter TEXT NOT NULL,
        value   REAL NOT NULL,
        PRIMARY KEY (scope, name, counter)
    ) WITHOUT ROWID;
    """)


MIGRATIONS: list[Callable[[apsw.Connection], None]] = [_v1, _v2, _v3]


def migrate(db: apsw.Connection) -> int:
    """Bring the schema to the newest version; returns it. Idempotent, and safe when
    several processes open a new spool at once: the version is read again under the
    write lock, so a migration another process just applied is not run twice."""
    if _version(db) == len(MIGRATIONS):
        return len(MIGRATIONS)  # the common case: no write lock taken
    current = 0
    for version, step in enumerate(MIGRATIONS, start=1):
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            current = _version(db)
            if version > current:
                step(db)
                db.execute("INSERT INTO schema_version(version) VALUES (?)", (version,))
                current = version
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return current


def _version(db: apsw.Connection) -> int:
    """The newest applied migration, 0 for a new file."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_version'").fetchone() is None:
        return 0
    row = db.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0
