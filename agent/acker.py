"""Acknowledgements written behind the drain, so the next batch is sent while the last one's ack commits.

An ack is a write transaction (delete the delivery rows, free the chunk) that waits
for the spool's write lock, which the reader holds while it commits a block. Done
in line, that wait and the commit sat between every two requests: 1.0–1.4 s of a
1M-record backfill to HTTP (benchmarks/README.md). Here the drain records progress
in memory (`done_for`, which leasing consults so nothing is sent twice) and a thread
commits queued acks, merging whatever has queued up into one transaction.

The guarantee does not change: a record's ack is only written after the endpoint
acknowledged it. A crash loses at most the acks still queued, and those batches are
sent again with the same ids, exactly as if the crash had come just before the ack.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Optional

from spool import Spool, SpoolError, chunks

log = logging.getLogger("logspool.drain")

#: Acks allowed to wait before the drain waits for them (bounds memory and re-sends).
MAX_QUEUED = 4


class Acker:
    def __init__(self, sink: str, spool_path: Path) -> None:
        self.sink = sink
        self.spool = Spool(spool_path)
        self._cond = threading.Condition()
        self._queue: list[list[tuple[int, int, int]]] = []
        self._done: dict[int, int] = {}   # chunk id -> records delivered, not yet committed
        self._busy = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"ack-{sink}", daemon=True)
        self._thread.start()

    def done_for(self) -> dict[int, int]:
        """Delivered-but-uncommitted progress, for leasing (a copy)."""
        with self._cond:
            return dict(self._done)

    def push(self, progress: list[tuple[int, int, int]]) -> None:
        """Queue the ack of a delivered batch: (chunk id, records now done, records in chunk)."""
        with self._cond:
            while len(self._queue) >= MAX_QUEUED and not self._closed:
                self._cond.wait(0.5)
            for chunk_id, done, _total in progress:
                self._done[chunk_id] = max(done, self._done.get(chunk_id, 0))
            self._queue.append(progress)
            self._cond.notify_all()

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Wait until every queued ack is committed; False if that took longer than `timeout`."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._busy, timeout)

    def close(self, timeout: float = 10.0) -> None:
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)
        self.spool.close()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._closed)
                if not self._queue and self._closed:
                    return
                batch, self._queue = self._queue, []
                self._busy = True
            merged: dict[int, tuple[int, int]] = {}
            for progress in batch:
                for chunk_id, done, total in progress:
                    merged[chunk_id] = (max(done, merged.get(chunk_id, (0, 0))[0]), total)
            try:
                with self.spool.transaction() as db:
                    chunks.ack(db, self.sink, [(c, d, t) for c, (d, t) in merged.items()])
            except SpoolError as exc:
                log.warning("Ack failed; will retry.", extra={"sink": self.sink, "error": str(exc)})
                with self._cond:
                    self._queue[:0] = batch  # keep order; retried on the next round
                    self._busy = False
                    self._cond.notify_all()
                    self._cond.wait(1.0)
                continue
            with self._cond:
                for chunk_id, (done, _total) in merged.items():
                    if self._done.get(chunk_id, -1) <= done:
                        self._done.pop(chunk_id, None)
                self._busy = False
                self._cond.notify_all()
