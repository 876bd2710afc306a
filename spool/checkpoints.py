"""File checkpoints: which physical file a source has read, and up to which committed byte.

A row is one physical file generation: (device, inode) says where it lives now,
`fingerprint` (first line) and `marker` (the bytes just before `offset`) prove it is
still the same content. Rows are never reused for new content: truncation or inode
reuse retires the row and starts a new one, so a copy made by copytruncate can still
find the old row by fingerprint and carry on from its offset.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Optional

import apsw

_COLUMNS = "id, source, dev, ino, fingerprint, path, offset, marker, skip_line, state, updated"

#: States: `active` is being tailed at its glob path; `rotated` was renamed or left the
#: glob and is finished from its open handle; `truncated`/`gone` are kept only so a
#: copy or a move can be recognised, and are pruned after a while.
LIVE_STATES = ("active", "rotated")


@dataclass
class Checkpoint:
    id: Optional[int]
    source: str
    dev: int
    ino: int
    fingerprint: Optional[str]
    path: str
    offset: int = 0
    marker: Optional[str] = None
    skip_line: bool = False
    state: str = "active"
    updated: float = 0.0

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> "Checkpoint":
        return cls(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], bool(row[8]), row[9], row[10])


def live(db: apsw.Connection, source: str) -> list[Checkpoint]:
    """Rows of files this source is still reading, oldest first."""
    return [Checkpoint.from_row(r) for r in db.execute(
        f"SELECT {_COLUMNS} FROM checkpoints WHERE source=? AND state IN ('active','rotated') ORDER BY id",
        (source,))]


def get(db: apsw.Connection, checkpoint_id: int) -> Optional[Checkpoint]:
    row = db.execute(f"SELECT {_COLUMNS} FROM checkpoints WHERE id=?", (checkpoint_id,)).fetchone()
    return Checkpoint.from_row(row) if row else None


def by_inode(db: apsw.Connection, source: str, dev: int, ino: int) -> list[Checkpoint]:
    """Live rows on this inode, newest first (a stale older row must never win: FB-2)."""
    return [Checkpoint.from_row(r) for r in db.execute(
        f"SELECT {_COLUMNS} FROM checkpoints WHERE source=? AND dev=? AND ino=? "
        "AND state IN ('active','rotated') ORDER BY id DESC", (source, dev, ino))]


def by_fingerprint(db: apsw.Connection, source: str, fingerprint: str) -> list[Checkpoint]:
    """Every row with this content start, largest offset first (for adopting a copy's offset)."""
    return [Checkpoint.from_row(r) for r in db.execute(
        f"SELECT {_COLUMNS} FROM checkpoints WHERE source=? AND fingerprint=? ORDER BY offset DESC, id DESC",
        (source, fingerprint))]


def save(db: apsw.Connection, cp: Checkpoint) -> int:
    """Insert or update the row; returns its id. Call inside a transaction."""
    cp.updated = time.time()
    if cp.id is None:
        db.execute(
            "INSERT INTO checkpoints(source, dev, ino, fingerprint, path, offset, marker, skip_line, state, updated) "
            "VALUES (?,?,?,?,?,?,?,?,?,?)",
            (cp.source, cp.dev, cp.ino, cp.fingerprint, cp.path, cp.offset, cp.marker, int(cp.skip_line),
             cp.state, cp.updated))
        cp.id = int(db.last_insert_rowid())
    else:
        db.execute(
            "UPDATE checkpoints SET dev=?, ino=?, fingerprint=?, path=?, offset=?, marker=?, skip_line=?, state=?, "
            "updated=? WHERE id=?",
            (cp.dev, cp.ino, cp.fingerprint, cp.path, cp.offset, cp.marker, int(cp.skip_line), cp.state,
             cp.updated, cp.id))
    return cp.id


def prune(db: apsw.Connection, older_than: float) -> int:
    """Delete retired rows (truncated/gone) not touched since `older_than`; returns how many."""
    db.execute("DELETE FROM checkpoints WHERE state NOT IN ('active','rotated') AND updated < ?", (older_than,))
    return int(db.changes())


def all_rows(db: apsw.Connection) -> list[Checkpoint]:
    return [Checkpoint.from_row(r) for r in db.execute(f"SELECT {_COLUMNS} FROM checkpoints ORDER BY source, id")]
