"""Spool.transaction(): commit, or roll back and re-raise; a writer in another process means SpoolBusy.

The busy tests start a real second process that holds SQLite's write lock
(`BEGIN IMMEDIATE`) until told on its stdin to release it, so nothing sleeps.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Iterator

import apsw
import pytest

import spool.db
from spool import Spool, SpoolBusy, SpoolError, chunks

HOLDER = """
import sys, apsw
db = apsw.Connection(sys.argv[1])
db.execute("BEGIN IMMEDIATE")
print("held", flush=True)
sys.stdin.readline()
db.execute("ROLLBACK")
print("released", flush=True)
sys.stdin.readline()
"""


def enqueue(db: apsw.Connection) -> int:
    return chunks.enqueue(db, "transfers", b'"a"\n', 1, ["archive"])


def chunk_count(path: Path) -> int:
    return int(Spool(path).query("SELECT count(*) FROM chunks")[0][0])


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the write lock of tmp_path/spool.db."""
    Spool(tmp_path / "spool.db").close()
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "spool.db")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    yield proc
    proc.kill()
    proc.wait()


def release(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("\n")
    proc.stdin.flush()
    assert proc.stdout.readline() == "released\n"


def test_a_transaction_commits_for_other_connections_to_see(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool.db").transaction() as db:
        enqueue(db)
    assert chunk_count(tmp_path / "spool.db") == 1


def test_an_exception_rolls_everything_back_and_is_re_raised(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    with pytest.raises(RuntimeError, match="^boom$"):
        with spool.transaction() as db:
            enqueue(db)
            raise RuntimeError("boom")
    assert chunk_count(tmp_path / "spool.db") == 0
    with spool.transaction() as db:  # the connection is usable again
        enqueue(db)
    assert chunk_count(tmp_path / "spool.db") == 1


def test_an_sqlite_error_rolls_back_and_leaves_as_a_spool_error(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    with pytest.raises(SpoolError) as err:
        with spool.transaction() as db:
            enqueue(db)
            db.execute("INSERT INTO nowhere VALUES (1)")
    assert str(err.value) == f"spool {tmp_path / 'spool.db'}: no such table: nowhere"
    assert chunk_count(tmp_path / "spool.db") == 0


def test_a_writer_in_another_process_past_the_busy_timeout_raises_spool_busy(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, holder: subprocess.Popen[str]) -> None:
    monkeypatch.setattr(spool.db, "BUSY_TIMEOUT_MS", 200)
    path = tmp_path / "spool.db"
    ours = Spool(path)
    with pytest.raises(SpoolBusy) as err:
        with ours.transaction() as db:
            enqueue(db)
    assert str(err.value) == f"spool {path} is locked by another process (waited 200 ms); will retry"
    assert err.value.retryable


def test_the_same_transaction_succeeds_once_the_other_process_releases(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, holder: subprocess.Popen[str]) -> None:
    monkeypatch.setattr(spool.db, "BUSY_TIMEOUT_MS", 200)
    ours = Spool(tmp_path / "spool.db")
    with pytest.raises(SpoolBusy):
        with ours.transaction() as db:
            enqueue(db)
    release(holder)
    with ours.transaction() as db:
        enqueue(db)
    assert chunk_count(tmp_path / "spool.db") == 1
