"""One record the endpoint refuses (400) goes to dead letters; every other line is delivered once."""
from __future__ import annotations

import json
from typing import Any

import pytest

from tests.doubles.http_receiver import HttpReceiver
from tests.e2e.conftest import Agent, Lines, wait_delivered, wait_until

pytestmark = pytest.mark.e2e


def dead_letters(agent: Agent) -> list[dict[str, Any]]:
    r = agent.cli("dead-letters", "list", "--json")
    assert r.returncode == 0, f"dead-letters list exited {r.returncode}: {r.stderr}"
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def test_a_line_answered_400_is_dead_lettered_and_the_rest_arrive_once(
        agent: Agent, lines: Lines, receiver: HttpReceiver) -> None:
    receiver.reject_markers = [b"SEQ=000777"]
    lines.write(2000)
    agent.start()
    assert wait_delivered(receiver, lines.written - {777}) == ""
    assert {n for n in receiver.id_counts().values()} == {1}
    assert wait_until(lambda: len(dead_letters(agent)) > 0, 15, step=0.3)
    [entry] = dead_letters(agent)
    assert "SEQ=000777" in json.dumps(entry["record"]) and "400" in entry["reason"], entry
