"""A spool gives disk space back once its backlog is delivered."""
from __future__ import annotations

import os
from pathlib import Path

from spool import Spool, chunks


def test_a_drained_spool_shrinks_back(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    with spool.transaction() as db:
        for _ in range(20):
            chunks.enqueue(db, "app", os.urandom(1 << 20), 1, ["s"])
    spool.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    full = os.path.getsize(tmp_path / "spool.db")
    with spool.transaction() as db:
        chunks.ack(db, "s", [(cid, 1, 1) for (cid,) in spool.query("SELECT id FROM chunks")])
    freed = spool.shrink()
    spool.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert full > 20 << 20 and freed > 19 << 20
    assert os.path.getsize(tmp_path / "spool.db") < full - (19 << 20)


def test_shrink_in_steps_frees_at_most_the_pages_asked_for(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    with spool.transaction() as db:
        chunks.enqueue(db, "app", os.urandom(4 << 20), 1, ["s"])
    with spool.transaction() as db:
        chunks.ack(db, "s", [(1, 1, 1)])
    assert spool.shrink(max_pages=16) == 16 * 65536
