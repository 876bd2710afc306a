"""Running totals for the metrics endpoint, kept in the spool.

The reader, `prerotate`, `backfill` and the drain process all write the spool, each
in its own process; a counter in one process's memory would see only its share and
reset at every restart. A row per (scope, name, counter), bumped inside the very
transaction that spools, acknowledges or dead-letters the records, keeps the totals
exactly in step with the spool across processes, crashes and restarts, for one
UPSERT per transaction (a transaction carries a whole chunk, not a record).

Prometheus counters: `records` and `dead_lettered` of a source; `handled`,
`dead_lettered`, `retries` and `last_success` (a Unix time, never decreasing) of a
sink. Records delivered = handled - dead_lettered, since a sink's dead letters are
acknowledged with the batch that refused them.
"""
from __future__ import annotations

from typing import Literal

import apsw

Scope = Literal["source", "sink"]


def add(db: apsw.Connection, scope: Scope, name: str, counter: str, delta: float) -> None:
    """Add `delta` to a counter; call inside the transaction that did the counted work."""
    if not delta:
        return
    db.execute("INSERT INTO counters(scope, name, counter, value) VALUES (?,?,?,?) "
               "ON CONFLICT(scope, name, counter) DO UPDATE SET value = value + excluded.value",
               (scope, name, counter, delta))


def stamp(db: apsw.Connection, scope: Scope, name: str, counter: str, when: float) -> None:
    """Raise a time counter to `when` (never lowers it: clocks of two processes may disagree)."""
    db.execute("INSERT INTO counters(scope, name, counter, value) VALUES (?,?,?,?) "
               "ON CONFLICT(scope, name, counter) DO UPDATE SET value = max(value, excluded.value)",
               (scope, name, counter, when))


def read(db: apsw.Connection) -> dict[tuple[str, str, str], float]:
    """Every counter: (scope, name, counter) -> value."""
    return {(str(s), str(n), str(c)): float(v)
            for s, n, c, v in db.execute("SELECT scope, name, counter, value FROM counters")}
