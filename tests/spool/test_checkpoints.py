"""File checkpoints: saved and found again by inode or by content fingerprint."""
from __future__ import annotations

import time
from pathlib import Path

from spool import Spool, checkpoints
from spool.checkpoints import Checkpoint


def save(spool: Spool, source: str = "transfers", ino: int = 7, fingerprint: str = "fp", offset: int = 0,
         state: str = "active") -> int:
    with spool.transaction() as db:
        return checkpoints.save(db, Checkpoint(None, source, 1, ino, fingerprint, "/var/log/t.log", offset,
                                               state=state))


def test_a_saved_checkpoint_reads_back_unchanged(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    cp = Checkpoint(None, "transfers", 64768, 131, "fp1", "/var/log/t.log", 4096, "mk1", True, "rotated")
    with spool.transaction() as db:
        cp_id = checkpoints.save(db, cp)
    assert checkpoints.get(spool.db, cp_id) == Checkpoint(cp_id, "transfers", 64768, 131, "fp1", "/var/log/t.log",
                                                         4096, "mk1", True, "rotated", cp.updated)
    assert checkpoints.get(spool.db, cp_id + 1) is None


def test_saving_a_checkpoint_with_an_id_updates_that_row(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    cp_id = save(spool, offset=10)
    cp = checkpoints.get(spool.db, cp_id)
    assert cp is not None
    cp.offset, cp.state = 500, "gone"
    with spool.transaction() as db:
        assert checkpoints.save(db, cp) == cp_id
    assert [(r.id, r.offset, r.state) for r in checkpoints.all_rows(spool.db)] == [(cp_id, 500, "gone")]


def test_by_inode_returns_live_rows_newest_first(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    older, newer = save(spool, state="active"), save(spool, state="rotated")
    save(spool, state="truncated")
    save(spool, ino=8)
    save(spool, source="jobs")
    assert [cp.id for cp in checkpoints.by_inode(spool.db, "transfers", 1, 7)] == [newer, older]


def test_by_fingerprint_returns_every_state_largest_offset_first(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    save(spool, offset=10)
    save(spool, offset=30, state="truncated")
    save(spool, offset=20, state="gone")
    save(spool, offset=99, fingerprint="other")
    assert [cp.offset for cp in checkpoints.by_fingerprint(spool.db, "transfers", "fp")] == [30, 20, 10]


def test_live_lists_active_and_rotated_rows_oldest_first(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    ids = [save(spool, state=s) for s in ("rotated", "gone", "active", "truncated")]
    assert [cp.id for cp in checkpoints.live(spool.db, "transfers")] == [ids[0], ids[2]]


def test_prune_deletes_only_retired_rows_older_than_the_cutoff(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    before = time.time() - 1
    for state in ("active", "rotated", "truncated", "gone"):
        save(spool, state=state)
    with spool.transaction() as db:
        assert checkpoints.prune(db, older_than=before) == 0
        assert checkpoints.prune(db, older_than=time.time() + 1) == 2
    assert [cp.state for cp in checkpoints.all_rows(spool.db)] == ["active", "rotated"]
