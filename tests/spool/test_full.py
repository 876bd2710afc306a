"""A full filesystem surfaces as SpoolFull, and what was committed before stays.

The filesystem test mounts a 2 MiB tmpfs, which needs root (CAP_SYS_ADMIN); without it
that test is skipped with the reason, and the translation of SQLite's "disk full"
is still checked directly.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Iterator

import apsw
import pytest

from spool import Spool, SpoolFull, chunks
from spool.db import _translate


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def test_writing_to_a_full_filesystem_raises_spool_full_and_keeps_earlier_commits(small_fs: Path) -> None:
    spool = Spool(small_fs / "spool.db")
    committed = 0
    with pytest.raises(SpoolFull) as err:
        while True:
            with spool.transaction() as db:
                chunks.enqueue(db, "transfers", os.urandom(100_000), 1, ["archive"])
            committed += 1
    assert str(err.value) == (f"the filesystem holding spool {small_fs}/spool.db is full; "
                              "reading paused until space returns")
    assert err.value.retryable
    assert committed > 0
    assert chunks.backlog(spool.db, "archive").records == committed


def test_sqlite_disk_full_translates_to_spool_full() -> None:
    err = _translate(apsw.FullError("database or disk is full"), Path("/var/lib/logspool/spool.db"))
    assert isinstance(err, SpoolFull)
    assert str(err) == ("the filesystem holding spool /var/lib/logspool/spool.db is full; "
                        "reading paused until space returns")
