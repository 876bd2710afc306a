"""Many files and a churn of new and deleted ones under the real `logspool run`: every line
arrives once, and the checkpoint table holds the files that exist, not every file that
ever did.

The figure for 50,000 files (start-up rate, CPU per poll) is `benchmarks/backlog.py
--files`; this is the behaviour at a size a test can afford: more files than the
source keeps handles for (agent.sources.file.MAX_OPEN), so most are followed closed,
which is where a deleted file used to leave an `active` row behind for ever.
"""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Callable

import pytest

from agent.sources.file import MAX_OPEN
from tests.doubles.http_receiver import HttpReceiver
from tests.e2e.conftest import Agent, Lines, wait_delivered, wait_until

pytestmark = pytest.mark.e2e

FILES = 2 * MAX_OPEN + 500


def checkpoint_rows(spool: Path) -> int:
    db = sqlite3.connect(f"file:{spool}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT count(*) FROM checkpoints").fetchone()[0])
    finally:
        db.close()


def test_churn_of_thousands_of_files_delivers_everything_and_keeps_the_checkpoint_table_bounded(
        make_agent: Callable[..., Agent], lines: Lines, receiver: HttpReceiver, tmp_path: Path) -> None:
    logs = tmp_path / "many"
    logs.mkdir()
    agent = make_agent(source={"paths": [str(logs / "*.log")], "rotate_wait": "1s"},
                       agent={"checkpoint_ttl": "2s"}, sink={"batch_records": 2000})
    live: list[Path] = []

    def create(n: int) -> None:
        for _ in range(n):
            path = logs / f"f{lines.next:07d}.log"
            lines.write(1, path)
            live.append(path)

    create(FILES)
    agent.start()
    assert wait_delivered(receiver, lines.written, timeout=50) == "", agent.output_tail()
    # One chunk per file: batches still gather many of them (a lease of 64 chunks sent 64).
    assert max(len(r.records) for r in receiver.requests()) > 500
    for _ in range(3):
        for path in live[:1000]:
            path.unlink()
        del live[:1000]
        create(1000)
        for path in live[::50]:   # and some old ones grow
            lines.write(1, path)
        time.sleep(0.5)
    assert wait_delivered(receiver, lines.written, timeout=50) == "", agent.output_tail()
    # Deleted files are retired after rotate_wait and pruned after checkpoint_ttl.
    assert wait_until(lambda: checkpoint_rows(agent.spool) == len(live), 30, step=0.5), \
        (checkpoint_rows(agent.spool), len(live))
    assert "Forgot checkpoints of files gone for a while." in agent.output.read_text()
    assert agent.term() == 0
