"""InstanceLock: one `logspool run` per spool, released by the kernel when its holder dies.

Each test starts a real second process that takes the lock and says so on stdout.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from spool import InstanceLock, SpoolLocked

HOLDER = """
import sys
from spool import InstanceLock
InstanceLock(sys.argv[1]).acquire()
print("held", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "spool.db")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    yield proc
    proc.kill()
    proc.wait()


def test_a_second_acquire_raises_spool_locked_naming_the_holders_pid(
        tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    with pytest.raises(SpoolLocked) as err:
        InstanceLock(tmp_path / "spool.db").acquire()
    assert str(err.value) == (f"another logspool run (pid {holder.pid}) holds {tmp_path}/spool.db.lock; "
                              "only one daemon may use a spool")
    assert not err.value.retryable


def test_held_by_other_is_true_while_another_process_holds_the_lock(
        tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    assert InstanceLock(tmp_path / "spool.db").held_by_other()


def test_the_lock_is_released_when_its_holder_is_killed(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    lock = InstanceLock(tmp_path / "spool.db")
    assert not lock.held_by_other()
    lock.acquire()
    assert Path(f"{tmp_path}/spool.db.lock").read_text() == f"{os.getpid()}\n"
    lock.release()


def test_nobody_holds_the_lock_of_a_spool_never_run(tmp_path: Path) -> None:
    assert not InstanceLock(tmp_path / "spool.db").held_by_other()


def test_a_released_lock_can_be_taken_again(tmp_path: Path) -> None:
    first, second = InstanceLock(tmp_path / "spool.db"), InstanceLock(tmp_path / "spool.db")
    first.acquire()
    assert second.held_by_other()
    first.release()
    second.acquire()
    assert second.fileno() >= 0 and first.fileno() == -1
