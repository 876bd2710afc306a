"""An endpoint that is down, failing, throttling or hanging delays delivery but loses nothing."""
from __future__ import annotations

import json
from typing import Callable

import pytest

from tests.doubles.http_receiver import HttpReceiver
from tests.e2e.conftest import Agent, Lines, wait_delivered, wait_until

pytestmark = pytest.mark.e2e


def backlog_is(agent: Agent, records: int) -> bool:
    """Whether status shows `records` waiting (False while the new spool is still being created)."""
    r = agent.cli("status", "--json")
    return r.returncode == 0 and sum(s["backlog_records"] for s in json.loads(r.stdout)["sinks"]) == records


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:])]


def test_lines_written_while_connections_are_refused_all_arrive_once_it_is_back(
        agent: Agent, lines: Lines, receiver: HttpReceiver) -> None:
    receiver.stop()
    agent.start()
    lines.write(2000)
    assert wait_until(lambda: backlog_is(agent, 2000), 15, step=0.2), agent.status()
    receiver.start()
    assert wait_delivered(receiver, lines.written) == ""


def test_500s_are_retried_with_growing_backoff_until_delivered(
        agent: Agent, lines: Lines, receiver: HttpReceiver) -> None:
    receiver.plan = lambda n, records: (500, {}) if n < 10 else None
    lines.write(200)
    agent.start()
    assert wait_delivered(receiver, lines.written) == ""
    g = gaps(receiver.request_times()[:11])
    # full jitter: the first waits are at most 100ms and 200ms, the last six up to the 1s cap
    assert max(g[-6:]) > max(g[:2]), g
    assert max(g) < 2.0, g


def test_429_with_retry_after_is_honoured_before_the_next_attempt(
        agent: Agent, lines: Lines, receiver: HttpReceiver) -> None:
    receiver.plan = lambda n, records: (429, {"Retry-After": "2"}) if n == 0 else None
    lines.write(200)
    agent.start()
    assert wait_delivered(receiver, lines.written) == ""
    times = receiver.request_times()
    assert times[1] - times[0] >= 1.9, gaps(times)


def test_answers_slower_than_the_sink_timeout_are_retried_until_delivered(
        make_agent: Callable[..., Agent], lines: Lines, receiver: HttpReceiver) -> None:
    agent = make_agent(sink={"timeout": "500ms"})
    receiver.plan = lambda n, records: "sleep:3" if n < 2 else None
    lines.write(200)
    agent.start()
    assert wait_delivered(receiver, lines.written) == ""
    times = receiver.request_times()
    assert len(times) >= 3 and times[1] - times[0] < 1.5, gaps(times)  # gave up after ~500ms
