"""The chunk queue: batches of encoded records and, per sink, how far each was delivered.

A chunk holds many NDJSON records in one row, so the hot path costs one INSERT per
read, not per line. Each sink has its own `deliveries` row per chunk with the count
of leading records already delivered, so a sink can take part of a chunk (a batch
smaller than the chunk, or the good half of a bisected batch) and resume exactly
there after a crash. A chunk is deleted when no sink still needs it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional

import apsw

from . import counters


@dataclass(frozen=True)
class Leased:
    """A chunk as the drain sees it: `done` leading records were delivered already."""

    chunk_id: int
    source: str
    done: int
    records: int
    payload: bytes


def enqueue(db: apsw.Connection, source: str, payload: bytes, records: int, sinks: Iterable[str],
            now: Optional[float] = None) -> int:
    """Add a chunk routed to `sinks`; call inside the transaction that saves its checkpoint."""
    db.execute("INSERT INTO chunks(source, created, records, bytes, payload) VALUES (?,?,?,?,?)",
               (source, now if now is not None else time.time(), records, len(payload), payload))
    chunk_id = int(db.last_insert_rowid())
    counters.add(db, "source", source, "records", records)
    db.executemany("INSERT INTO deliveries(sink, chunk_id) VALUES (?,?)", [(s, chunk_id) for s in sinks])
    return chunk_id


def lease(db: apsw.Connection, sink: str, max_records: int, max_bytes: int, limit: Optional[int] = None,
          done_for: Optional[Mapping[int, int]] = None) -> list[Leased]:
    """The oldest undelivered chunks for `sink`, enough to fill one batch (order = chunk id).

    `done_for` is progress the caller made but has not committed yet (chunk id ->
    records done); it overrides the stored `done`, and chunks it completes are skipped.
    `limit` (default: as many chunks as a batch has records) bounds the rows read; a fixed
    64 cut batches to 64 records when every chunk held one line (many files, one line
    each per poll): 50,000 such files drained at ~200 records/s.
    """
    if limit is None:
        limit = max(64, max_records + len(done_for or ()))
    out: list[Leased] = []
    records = size = 0
    for chunk_id, done, source, n, nbytes, payload in db.execute(
            "SELECT d.chunk_id, d.done, c.source, c.records, c.bytes, c.payload FROM deliveries d "
            "JOIN chunks c ON c.id = d.chunk_id WHERE d.sink=? ORDER BY d.chunk_id LIMIT ?", (sink, limit)):
        if done_for:
            done = max(done, done_for.get(chunk_id, 0))
            if done >= n:
                continue
        out.append(Leased(chunk_id, source, done, n, payload))
        records += n - done
        size += nbytes * (n - done) // max(n, 1)
        if records >= max_records or size >= max_bytes:
            break
    return out


def ack(db: apsw.Connection, sink: str, progress: Iterable[tuple[int, int, int]],
        now: Optional[float] = None) -> None:
    """Record delivery progress: (chunk_id, records now done, records in chunk).

    Only progress beyond what is stored counts as handled: an ack repeated (a batch sent
    again after a crash) or for a chunk already finished adds nothing to the totals.
    """
    finished = []
    handled = 0
    for chunk_id, done, total in progress:
        if done >= total:
            # The common case: one statement both finishes the row and says how far it was.
            rows = db.execute("DELETE FROM deliveries WHERE sink=? AND chunk_id=? RETURNING done",
                              (sink, chunk_id)).fetchall()   # run to the end: no statement left open
            if not rows:
                continue  # finished by an earlier ack
            was = rows[0][0]
            handled += max(0, total - (was if isinstance(was, int) else 0))
            finished.append(chunk_id)
            continue
        before = db.execute("SELECT done FROM deliveries WHERE sink=? AND chunk_id=?", (sink, chunk_id)).fetchone()
        if before is None:
            continue
        handled += max(0, done - int(before[0]))
        db.execute("UPDATE deliveries SET done=?, attempts=0, last_error=NULL, next_attempt=0 "
                   "WHERE sink=? AND chunk_id=?", (done, sink, chunk_id))
    for chunk_id in finished:
        db.execute("DELETE FROM chunks WHERE id=? AND NOT EXISTS (SELECT 1 FROM deliveries WHERE chunk_id=?)",
                   (chunk_id, chunk_id))
    if handled:
        counters.add(db, "sink", sink, "handled", handled)
        counters.stamp(db, "sink", sink, "last_success", now if now is not None else time.time())


def record_failure(db: apsw.Connection, sink: str, chunk_id: int, attempts: int, next_attempt: float,
                   error: str) -> None:
    """Publish the head chunk's failure for `status` (the drain keeps the schedule itself)."""
    db.execute("UPDATE deliveries SET attempts=?, next_attempt=?, last_error=? WHERE sink=? AND chunk_id=?",
               (attempts, next_attempt, error[:500], sink, chunk_id))
    counters.add(db, "sink", sink, "retries", 1)


@dataclass(frozen=True)
class Backlog:
    records: int
    bytes: int
    oldest: Optional[float]
    attempts: int
    last_error: Optional[str]
    next_attempt: Optional[float]


def backlog(db: apsw.Connection, sink: str) -> Backlog:
    """Undelivered records and bytes for `sink`, and the head chunk's retry state."""
    row = db.execute(
        "SELECT coalesce(sum(c.records - d.done), 0), coalesce(sum(c.bytes * (c.records - d.done) / "
        "max(c.records, 1)), 0), min(c.created) FROM deliveries d JOIN chunks c ON c.id = d.chunk_id "
        "WHERE d.sink=?", (sink,)).get
    head = db.execute("SELECT attempts, last_error, next_attempt FROM deliveries WHERE sink=? "
                      "ORDER BY chunk_id LIMIT 1", (sink,)).fetchone()
    attempts, last_error, next_attempt = head if head else (0, None, None)
    return Backlog(int(row[0]), int(row[1]), row[2], int(attempts), last_error,
                   next_attempt if next_attempt else None)


def pending(db: apsw.Connection, chunk_ids: Iterable[int]) -> int:
    """How many of these chunks still await some sink (backfill waits for 0)."""
    ids = list(chunk_ids)
    count = 0
    for start in range(0, len(ids), 500):  # stay far below SQLite's variable limit
        part = ids[start:start + 500]
        count += int(db.execute(f"SELECT count(DISTINCT chunk_id) FROM deliveries WHERE chunk_id IN "
                                f"({','.join('?' * len(part))})", part).get)
    return count
