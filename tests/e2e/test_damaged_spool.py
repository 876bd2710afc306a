"""A spool damaged while the agent was down: it starts, moves the damage aside loudly, and
the log files give back what the spool lost, under the same record ids.

Each test leaves records spooled but undelivered (the sink is down) before the damage,
so a fresh spool that did not re-read them would lose lines: the receiver may see a line
twice (same id), never under two ids, never not at all.
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Callable

import pytest

from tests.doubles.http_receiver import HttpReceiver
from tests.e2e.conftest import Agent, Lines, wait_delivered, wait_until

pytestmark = pytest.mark.e2e

PAGE = 65536


def spool_a_backlog(agent: Agent, lines: Lines, receiver: HttpReceiver) -> None:
    """3,000 lines delivered, then 3,000 more spooled while the sink is down; agent stopped."""
    agent.start()
    lines.write(3000)
    assert wait_delivered(receiver, lines.written, timeout=30) == ""
    receiver.stop()
    lines.write(3000)
    assert wait_until(lambda: agent.status()["sinks"][0]["backlog_records"] == 3000, 30, step=0.2), agent.status()


def quarantined(spool: Path) -> list[Path]:
    return sorted(p for p in spool.parent.glob(spool.name + ".corrupt-*") if not p.name.endswith(("-wal", "-shm")))


def restart_and_check(agent: Agent, lines: Lines, receiver: HttpReceiver, loud: bool = True) -> None:
    start = agent.output.stat().st_size
    agent.start()
    receiver.start()
    lines.write(500)  # and it goes on reading
    assert wait_delivered(receiver, lines.written, timeout=40) == ""
    if loud:
        moved = quarantined(agent.spool)
        assert len(moved) == 1, moved
        after = agent.output.read_bytes()[start:].decode(errors="replace")
        error = [ln for ln in after.splitlines() if "integrity check" in ln]
        assert error and " error " in error[0] and str(agent.spool) in error[0] and str(moved[0]) in error[0], after
    assert agent.term() == 0


def test_a_spool_truncated_while_down_is_moved_aside_and_every_line_arrives_under_its_id(
        make_agent: Callable[..., Agent], lines: Lines, receiver: HttpReceiver) -> None:
    agent = make_agent()
    spool_a_backlog(agent, lines, receiver)
    assert agent.term() == 0
    size = agent.spool.stat().st_size
    assert size > 4 * PAGE
    os.truncate(agent.spool, size // 2)
    restart_and_check(agent, lines, receiver)


def test_a_spool_with_flipped_bytes_in_its_pages_is_moved_aside_and_every_line_arrives(
        make_agent: Callable[..., Agent], lines: Lines, receiver: HttpReceiver) -> None:
    agent = make_agent()
    spool_a_backlog(agent, lines, receiver)
    assert agent.term() == 0
    rng = random.Random(6)
    data = bytearray(agent.spool.read_bytes())
    for page in range(1, len(data) // PAGE):   # every b-tree page header after the first
        for i in range(8, 40):
            data[page * PAGE + i] ^= rng.randrange(1, 256)
    agent.spool.write_bytes(bytes(data))
    restart_and_check(agent, lines, receiver)


def test_a_wal_damaged_after_a_crash_loses_no_line_and_splits_none(
        make_agent: Callable[..., Agent], lines: Lines, receiver: HttpReceiver) -> None:
    """SIGKILL leaves the last transactions in the WAL; damaged frames there are dropped by
    SQLite's checksums, which rolls records and their checkpoint back together: re-read."""
    agent = make_agent()
    spool_a_backlog(agent, lines, receiver)
    agent.kill9()
    wal = Path(str(agent.spool) + "-wal")
    assert wal.stat().st_size > 4 * PAGE, "the backlog should still be in the WAL"
    data = bytearray(wal.read_bytes())
    rng = random.Random(7)
    middle = len(data) // 3
    for i in range(middle, middle + 4096):
        data[i] ^= rng.randrange(1, 256)
    wal.write_bytes(bytes(data))
    restart_and_check(agent, lines, receiver, loud=False)


def test_a_wal_replaced_with_garbage_loses_no_line(
        make_agent: Callable[..., Agent], lines: Lines, receiver: HttpReceiver) -> None:
    agent = make_agent()
    spool_a_backlog(agent, lines, receiver)
    agent.kill9()
    wal = Path(str(agent.spool) + "-wal")
    wal.write_bytes(random.Random(8).randbytes(wal.stat().st_size))
    restart_and_check(agent, lines, receiver, loud=False)
