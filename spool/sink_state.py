"""Small facts a sink keeps across restarts, per sink: key -> text value.

esmond hands out a metadata key for each measurement (endpoint pair, tool, settings);
asking for it again is harmless but costs a request per measurement after every
restart, and the old loader's habit of re-creating metadata is what the issue warns
against. Each save is its own short transaction: the value is durable when it returns,
whatever the drain does next.
"""
from __future__ import annotations

import time

from .db import Spool


class SpoolSinkState:
    """The `SinkState` of one sink, kept in the spool's `sink_state` table."""

    def __init__(self, spool: Spool, sink: str) -> None:
        self._spool = spool
        self._sink = sink

    def load(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self._spool.query(
            "SELECT key, value FROM sink_state WHERE sink=?", (self._sink,))}

    def save(self, key: str, value: str) -> None:
        with self._spool.transaction() as db:
            db.execute("INSERT INTO sink_state(sink, key, value, updated) VALUES (?,?,?,?) "
                       "ON CONFLICT(sink, key) DO UPDATE SET value=excluded.value, updated=excluded.updated",
                       (self._sink, key, value, time.time()))

    def forget(self, key: str) -> None:
        with self._spool.transaction() as db:
            db.execute("DELETE FROM sink_state WHERE sink=? AND key=?", (self._sink, key))
