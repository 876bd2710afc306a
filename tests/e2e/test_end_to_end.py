"""The whole path, tail -> spool -> HTTP, seen from outside: every line arrives once and status agrees."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import Agent, Lines, wait_delivered, wait_until
from tests.doubles.http_receiver import HttpReceiver

pytestmark = pytest.mark.e2e


def test_5000_lines_arrive_exactly_once_and_status_shows_no_backlog(
        agent: Agent, lines: Lines, receiver: HttpReceiver) -> None:
    lines.write(2000)
    agent.start()
    lines.write(3000)
    assert wait_delivered(receiver, lines.written) == ""

    def caught_up() -> bool:
        st = agent.status()
        files = [f for s in st["sources"] for f in s["files"] if f["path"] == str(lines.path)]
        return [s["backlog_records"] for s in st["sinks"] if s["name"] == "rx"] == [0] and \
            [f["behind"] for f in files] == [0]
    assert wait_until(caught_up, 10, step=0.2), agent.status()
