"""One spool, one daemon: a second `logspool run` on the same spool refuses to start."""
from __future__ import annotations

import subprocess

import pytest

from tests.e2e.conftest import Agent, Lines, logspool_command, wait_delivered
from tests.doubles.http_receiver import HttpReceiver

pytestmark = pytest.mark.e2e


def test_second_run_on_the_same_spool_exits_nonzero_naming_the_lock(
        agent: Agent, lines: Lines, receiver: HttpReceiver) -> None:
    lines.write(10)
    agent.start()
    assert wait_delivered(receiver, lines.written) == ""  # the first one holds the spool now
    second = subprocess.run([*logspool_command(), "run", "--config", str(agent.config)], cwd=agent.dir,
                            env=agent.env, capture_output=True, text=True, timeout=30)
    assert second.returncode != 0
    assert "lock" in second.stderr.lower() or str(agent.spool) in second.stderr, second.stderr
    assert agent.alive()
