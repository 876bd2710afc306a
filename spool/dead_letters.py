"""Dead letters: records an endpoint refused for good, or that could not be read, with why.

They are kept, not dropped, so an operator can list, export and replay them after
fixing the cause (`logspool dead-letters`).
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Optional

import apsw

from . import counters


@dataclass(frozen=True)
class DeadLetter:
    id: int
    sink: Optional[str]
    source: Optional[str]
    record_id: Optional[str]
    record: bytes
    reason: str
    time: float


def add(db: apsw.Connection, sink: Optional[str], source: Optional[str], record_id: Optional[str],
        record: bytes, reason: str, now: Optional[float] = None) -> None:
    add_many(db, sink, [(source, record_id, record, reason)], now)


def add_many(db: apsw.Connection, sink: Optional[str],
             letters: Iterable[tuple[Optional[str], Optional[str], bytes, str]], now: Optional[float] = None) -> None:
    """Keep (source, record id, record, reason) entries; one statement and one counter bump
    per call, so a block of bad lines costs no SQL per line beyond its own row."""
    when = now if now is not None else time.time()
    rows = [(sink, source, record_id, record, reason[:2000], when) for source, record_id, record, reason in letters]
    if not rows:
        return
    db.executemany("INSERT INTO dead_letters(sink, source, record_id, record, reason, time) VALUES (?,?,?,?,?,?)",
                   rows)
    # Without a sink it failed at read (did not parse, or too long a line): the source's count.
    if sink is not None:
        counters.add(db, "sink", sink, "dead_lettered", len(rows))
        return
    per_source = Counter(row[1] for row in rows if row[1] is not None)
    for source, n in per_source.items():
        counters.add(db, "source", source, "dead_lettered", n)


def _where(sink: Optional[str], ids: Optional[Iterable[int]]) -> tuple[str, list[Any]]:
    clauses, params = [], []  # type: list[str], list[Any]
    if sink is not None:
        clauses.append("sink = ?")
        params.append(sink)
    if ids is not None:  # an empty list selects nothing, never everything (purge --id)
        id_list = list(ids)
        clauses.append(f"id IN ({','.join('?' * len(id_list))})")
        params.extend(id_list)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def select(db: apsw.Connection, sink: Optional[str] = None, ids: Optional[Iterable[int]] = None) -> list[DeadLetter]:
    where, params = _where(sink, ids)
    return [DeadLetter(*row) for row in db.execute(
        f"SELECT id, sink, source, record_id, record, reason, time FROM dead_letters{where} ORDER BY id", params)]


def delete(db: apsw.Connection, letter_ids: Iterable[int]) -> int:
    """Delete these dead letters; returns how many existed."""
    ids = list(letter_ids)
    deleted = 0
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        db.execute(f"DELETE FROM dead_letters WHERE id IN ({','.join('?' * len(part))})", part)
        deleted += int(db.changes())
    return deleted


def count(db: apsw.Connection) -> int:
    return int(db.execute("SELECT count(*) FROM dead_letters").get)
