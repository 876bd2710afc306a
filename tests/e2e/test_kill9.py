"""kill -9 at random moments while lines are written and rotated: nothing is lost, replays keep their ids.

Trials: $LOGSPOOL_KILL_TRIALS (default 20); seed: $LOGSPOOL_KILL_SEED (printed on failure).
"""
from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Callable

import pytest

from tests.doubles.http_receiver import HttpReceiver
from tests.e2e.conftest import Agent, Lines, Writer, wait_delivered, wait_until
from tests.e2e.test_metrics import Scraper, free_port

pytestmark = pytest.mark.e2e

TRIALS = int(os.environ.get("LOGSPOOL_KILL_TRIALS", "20"))
SEED = int(os.environ.get("LOGSPOOL_KILL_SEED", "20261122"))


def rename_rotator(log: Path, rnd: random.Random, chance: float) -> Callable[[], None]:
    """Sometimes rotate as logrotate's `create` does: shift app.log.N up, app.log -> app.log.1."""
    def maybe_rotate() -> None:
        if rnd.random() >= chance:
            return
        n = 1
        while Path(f"{log}.{n}").exists():
            n += 1
        for k in range(n - 1, 0, -1):
            os.rename(f"{log}.{k}", f"{log}.{k + 1}")
        os.rename(log, f"{log}.1")
    return maybe_rotate


def test_kill9_at_random_moments_loses_no_line_and_replays_carry_the_same_id(
        make_agent: Callable[..., Agent], lines: Lines, receiver: HttpReceiver) -> None:
    port = free_port()
    agent = make_agent(agent={"metrics_listen": str(port)})
    rnd = random.Random(SEED)
    rotate = rename_rotator(agent.log, random.Random(rnd.random()), chance=0.01)
    with Writer(lines, burst=10, pause=0.01, after_burst=rotate):
        for _ in range(TRIALS):
            sent = len(receiver.request_times())
            agent.start()
            if rnd.random() < 0.5:  # half the kills hit startup, half a delivering agent
                wait_until(lambda: len(receiver.request_times()) > sent, 10, step=0.01)
            time.sleep(rnd.uniform(0.05, 1.0))  # the kill moment is the point: a random instant
            agent.kill9()
    agent.start()
    report = wait_delivered(receiver, lines.written, timeout=60)
    assert report == "", f"seed {SEED}, {len(lines.written)} lines: {report}"
    assert len(receiver.unique_ids()) == len(lines.written)
    # The totals are bumped in the transactions that spool and acknowledge: however many kills
    # fell between a delivery and its ack, each line counts once read and once delivered.
    m = Scraper(port)
    assert m.until("logspool_sink_records_delivered_total", "rx", lambda v: v == len(lines.written)), \
        f"seed {SEED}: {m.last}"
    assert m.value("logspool_source_records_read_total", "app") == len(lines.written)
