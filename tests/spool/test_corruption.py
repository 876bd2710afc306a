"""A damaged spool is moved aside to `<name>.corrupt-<stamp>` and a fresh one is created."""
from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from spool import Spool, SpoolCorrupt, chunks


def written_spool(path: Path) -> int:
    """A closed spool holding ~2 MiB of chunks; returns its size."""
    spool = Spool(path)
    with spool.transaction() as db:
        for n in range(20):
            chunks.enqueue(db, "transfers", random.Random(n).randbytes(100_000), 1, ["archive"])
    spool.close()
    return path.stat().st_size


def quarantined(path: Path) -> list[str]:
    """Names of the files moved aside, WAL and shared memory included."""
    return sorted(p.name for p in path.parent.glob(f"{path.name}.corrupt-*"))


def moved_databases(path: Path) -> list[bytes]:
    """The contents of the database files moved aside (not their -wal/-shm)."""
    return [(path.parent / n).read_bytes() for n in quarantined(path) if not n.endswith(("-wal", "-shm"))]


def assert_fresh(path: Path) -> None:
    spool = Spool(path, check=True)
    assert spool.query("SELECT count(*) FROM chunks") == [(0,)]
    with spool.transaction() as db:
        chunks.enqueue(db, "transfers", b'"a"\n', 1, ["archive"])
    assert chunks.backlog(spool.db, "archive").records == 1


def test_a_spool_overwritten_in_the_middle_is_moved_aside_and_recreated(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "spool.db"
    size = written_spool(path)
    with open(path, "r+b") as f:
        f.seek(size // 2)
        f.write(b"\xff" * 200_000)
    damaged = path.read_bytes()
    Spool(path, check=True).close()
    assert moved_databases(path) == [damaged]
    assert caplog.messages == ["Spool failed its integrity check; moved aside and starting a fresh one. Records it "
                               "held will be read again from the logs where possible and carry the same ids."]
    assert_fresh(path)


def test_a_spool_truncated_to_half_is_moved_aside_and_recreated(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    os.truncate(path, written_spool(path) // 2)
    damaged = path.read_bytes()
    Spool(path, check=True).close()
    assert moved_databases(path) == [damaged]
    assert_fresh(path)


def test_a_file_that_is_not_sqlite_is_moved_aside_and_recreated(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    path.write_bytes(random.Random(1).randbytes(300_000))
    Spool(path).close()
    assert quarantined(path)[0].startswith("spool.db.corrupt-20")
    assert moved_databases(path) == [random.Random(1).randbytes(300_000)]
    assert_fresh(path)


def test_quarantine_moves_the_wal_and_shm_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    spool = Spool(path)
    with spool.transaction() as db:
        chunks.enqueue(db, "transfers", b'"a"\n', 1, ["archive"])
    wal = Path(f"{path}-wal").read_bytes()
    target = spool.quarantine()
    assert quarantined(path) == [target.name, f"{target.name}-shm", f"{target.name}-wal"]
    assert Path(f"{target}-wal").read_bytes() == wal
    assert not Path(f"{path}-wal").exists()
    spool.close()


def test_two_quarantines_in_one_second_keep_both_files(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    for n in (1, 2):
        path.write_bytes(bytes([n]) * 1000)
        Spool(path).close()
    assert sorted(moved_databases(path)) == [b"\x01" * 1000, b"\x02" * 1000]



def test_a_read_only_spool_that_is_damaged_raises_on_read_and_moves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    path.write_bytes(b"\x01" * 1000)
    spool = Spool(path, readonly=True)
    with pytest.raises(SpoolCorrupt) as err:
        spool.query("SELECT count(*) FROM chunks")
    assert str(err.value) == f"spool {path} is damaged: file is not a database"
    assert quarantined(path) == []
