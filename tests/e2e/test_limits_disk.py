"""The spool's filesystem fills up under the real `logspool run`: reading stops, the agent
says why (log and `status`), nothing is lost, and it carries on when space returns.

A real small filesystem (a 32 MiB tmpfs, mounted as root) rather than a mocked error:
SQLite meets ENOSPC in the WAL, in the main file at checkpoint time and in the shm,
and each must end as a pause, not a crash or a dropped batch.
"""
from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.doubles.http_receiver import HttpReceiver
from tests.e2e.conftest import Agent, Lines, wait_delivered, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "spoolfs"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    assert done.returncode == 0, f"this test needs root to mount a tmpfs: {done.stderr.strip()}"
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_spool_filesystem_pauses_reading_says_why_and_loses_nothing(
        make_agent: Callable[..., Agent], lines: Lines, receiver: HttpReceiver, small_fs: Path) -> None:
    receiver.stop()
    agent = make_agent(agent={"spool": str(small_fs / "spool.db")})
    agent.spool = small_fs / "spool.db"
    lines.write(150000)   # ~55 MB of records: more than the filesystem holds
    agent.start()
    assert wait_until(agent.spool.exists, 10), agent.output_tail()
    assert wait_until(lambda: "full" in (agent.status()["pause_reason"] or ""), 30, step=0.3), \
        (agent.status(), agent.output_tail())
    time.sleep(2.0)
    out = agent.output.read_text()
    assert "Reading paused." in out and "is full" in out, agent.output_tail()
    # Said once and held: not a pause and a resume at every poll while the disk stays full.
    assert out.count("Reading paused.") == 1 and "Reading resumed." not in out, agent.output_tail()
    assert agent.alive()
    backlog = agent.status()["sinks"][0]["backlog_records"]
    assert 0 < backlog < 150000
    # Space returns (and the sink): everything arrives once, reading resumes.
    subprocess.run(["mount", "-o", "remount,size=256m", str(small_fs)], check=True)
    receiver.start()
    assert wait_delivered(receiver, lines.written, timeout=60) == ""
    assert wait_until(lambda: not agent.status()["paused"], 10, step=0.2), agent.status()
    assert "Reading resumed." in agent.output.read_text()
    assert agent.term() == 0
