"""Resource limits with the real `logspool run`: a backlog larger than the spool cap, and a
spool write lock held by another process.

Why end to end: the cap, the pause and the retry each live in a different place (the
reader's `paused` callback, the drain process's backoff, the spool's busy handler); only
the running agent shows that together they lose nothing, hold memory and CPU still while
waiting, and drain in full batches once the sink is back.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import textwrap
import time
from typing import Callable

import pytest

from benchmarks.process_tree import tree_cpu_s, tree_rss_mb
from tests.doubles.http_receiver import HttpReceiver
from tests.e2e.conftest import Agent, Lines, delivery_report, wait_delivered, wait_until

pytestmark = pytest.mark.e2e


def agent_pid(agent: Agent) -> int:
    assert agent.proc is not None
    return agent.proc.pid


def test_a_backlog_beyond_the_spool_cap_pauses_reading_then_drains_in_full_batches(
        make_agent: Callable[..., Agent], lines: Lines, receiver: HttpReceiver) -> None:
    """Sink down while 60,000 lines arrive, cap 2 MiB: the spool stays near its cap, status
    says reading is paused, the agent sleeps (CPU) and holds its memory while waiting, and
    once the sink is back every line arrives once, in full batches."""
    receiver.stop()  # connections refused from the start
    cap = 2 << 20
    agent = make_agent(agent={"spool_max_bytes": "2MiB"}, sink={"batch_records": 500, "batch_bytes": "8MiB"})
    lines.write(60000)
    agent.start()
    assert wait_until(agent.spool.exists, 10), agent.output_tail()
    assert wait_until(lambda: agent.status()["paused"], 30, step=0.3), agent.output_tail()
    status = agent.status()
    assert "spool_max_bytes" in (status["pause_reason"] or "")
    # One read block (4 MiB of log) may be committed after the cap check: the cap plus one
    # block's records is the bound. Nothing more may be read while paused.
    time.sleep(1.0)
    pid = agent_pid(agent)
    used = [agent.status()["spool_bytes"]]
    cpu0, rss = tree_cpu_s(pid), [tree_rss_mb(pid)]
    for _ in range(10):
        time.sleep(0.5)
        used.append(agent.status()["spool_bytes"])
        rss.append(tree_rss_mb(pid))
    cpu_waiting = tree_cpu_s(pid) - cpu0
    assert max(used) < cap + (12 << 20), used
    assert max(used) - min(used) <= 65536, f"spool grew while paused: {used}"
    assert agent.spool.stat().st_size < cap + (16 << 20)
    # Polling every 100 ms and retrying at most every second: well under 10 % of one core.
    assert cpu_waiting < 0.5, f"{cpu_waiting:.2f} CPU s in 5 s while waiting"
    assert max(rss) - min(rss) < 20, f"RSS moved while paused: {rss}"
    before = len(receiver.requests())
    assert before == 0
    receiver.start()
    assert wait_delivered(receiver, lines.written, timeout=60) == ""
    assert wait_until(lambda: not agent.status()["paused"], 10, step=0.2)
    sizes = [len(r.records) for r in receiver.requests() if r.status == 200]
    full = sum(1 for s in sizes if s == 500)
    assert statistics.median(sizes) == 500, sizes
    assert full * 500 >= 0.9 * 60000, f"only {full} full batches of {len(sizes)}: {sizes[:40]}"
    assert agent.term() == 0


HOLD = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("ROLLBACK")
"""


def test_a_write_lock_held_past_the_busy_timeout_is_retried_reported_and_loses_nothing(
        make_agent: Callable[..., Agent], lines: Lines, receiver: HttpReceiver) -> None:
    agent = make_agent()
    lines.write(200)
    agent.start()
    assert wait_delivered(receiver, lines.written, timeout=30) == ""
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(HOLD), str(agent.spool), "8"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        lines.write(300)  # read while the lock is held: the commit waits, fails busy, is retried
        holder.wait(30)
    finally:
        holder.kill()
        holder.wait()
    assert wait_delivered(receiver, lines.written, timeout=30) == ""
    out = agent.output.read_text()
    assert "Spool busy; will retry." in out, agent.output_tail()
    assert wait_until(lambda: agent.status().get("last_busy") is not None, 10, step=0.2), agent.status()
    assert "locked by another process" in agent.status()["last_busy"]
    # A restart re-reads nothing: every checkpoint the lock delayed was committed.
    assert agent.term() == 0
    delivered = receiver.deliveries()
    agent.start()
    lines.write(50)
    assert wait_delivered(receiver, lines.written, timeout=30) == ""
    time.sleep(1.0)
    assert receiver.deliveries() == delivered + 50, delivery_report(receiver, lines.written)
    assert agent.term() == 0


def test_a_file_rotated_away_while_reading_is_paused_is_finished_within_the_cap_and_in_full(
        make_agent: Callable[..., Agent], lines: Lines, receiver: HttpReceiver) -> None:
    """Reading paused at the cap for longer than rotate_wait, with the current file renamed
    out of the glob: finishing it must wait for the reader, not spool its whole tail at once
    (which went past the cap by the size of the tail) or drop it."""
    receiver.stop()
    agent = make_agent(agent={"spool_max_bytes": "2MiB"}, source={"paths": [str(lines.path)], "rotate_wait": "1s"})
    lines.write(60000)
    agent.start()
    assert wait_until(agent.spool.exists, 10), agent.output_tail()
    assert wait_until(lambda: agent.status()["paused"], 30, step=0.3), agent.output_tail()
    lines.path.rename(lines.path.with_name("old.log"))   # out of the glob, most of it unread
    time.sleep(3.0)                                      # rotate_wait passes while paused
    assert agent.status()["spool_bytes"] < (2 << 20) + (4 << 20), agent.status()["spool_bytes"]
    receiver.start()
    assert wait_delivered(receiver, lines.written, timeout=60) == "", agent.output_tail()
    assert agent.term() == 0
