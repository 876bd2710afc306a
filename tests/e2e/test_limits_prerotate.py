"""`logspool prerotate FILE` while the daemon is busy: it returns within a bound, and what
both committed arrives once.

logrotate waits for its prerotate hook with the service's log unrotated; a hook that
waits for a busy spool or chases a writer for ever stalls every rotation after it.
The figure (p50/p99/max over 50 calls) is `benchmarks/prerotate_bound.py`; here the
bound is generous, the point being that it holds at all under load.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import pytest

from tests.doubles.http_receiver import HttpReceiver
from tests.e2e.conftest import Agent, Lines, Writer, wait_delivered

pytestmark = pytest.mark.e2e

BOUND_S = 10.0


def slow(_n: int, _records: list[dict[str, Any]]) -> str:
    return "sleep:0.05"


def prerotate_times(agent: Agent, lines: Lines, calls: int, burst: int = 100) -> list[float]:
    """Call `logspool prerotate` `calls` times while a writer appends `burst` lines every 5 ms."""
    times = []
    with Writer(lines, burst=burst, pause=0.005):
        for _ in range(calls):
            t = time.monotonic()
            r = agent.cli("prerotate", str(agent.log), timeout=120)
            times.append(time.monotonic() - t)
            assert r.returncode == 0, r.stderr
    return times


def test_prerotate_returns_within_a_bound_while_the_daemon_reads_a_busy_file(
        make_agent: Callable[..., Agent], lines: Lines, receiver: HttpReceiver) -> None:
    receiver.plan = slow
    agent = make_agent()
    lines.write(1000)
    agent.start()
    times = prerotate_times(agent, lines, 8)
    assert max(times) < BOUND_S, [round(t, 2) for t in times]
    receiver.plan = None
    assert wait_delivered(receiver, lines.written, timeout=60) == "", agent.output_tail()
    assert agent.term() == 0
