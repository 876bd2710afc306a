"""A spool gives disk space back once its backlog is delivered."""
from __future__ import annotations

import os
from pathlib import Path

from spool import Spool, chunks


def fill_and_drain(spool: Spool, megabytes: int) -> None:
    with spool.transaction() as db:
        for _ in range(megabytes):
            chunks.enqueue(db, "app", os.urandom(1 << 20), 1, ["s"])
    spool.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    with spool.transaction() as db:
        chunks.ack(db, "s", [(cid, 1, 1) for (cid,) in spool.query("SELECT id FROM chunks")])


def test_a_drained_spool_shrinks_back(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    fill_and_drain(spool, 20)
    full = os.path.getsize(tmp_path / "spool.db")
    freed = spool.shrink(min_free_bytes=1 << 20)
    assert full > 20 << 20 and freed > 19 << 20
    assert os.path.getsize(tmp_path / "spool.db") < 1 << 20


def test_a_little_free_space_is_left_alone(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    fill_and_drain(spool, 2)
    assert spool.shrink() == 0  # below the 64 MiB default: not worth a VACUUM
