"""Backfill's progress bar: drawn on a terminal, silent in a pipe or a cron mail."""
from __future__ import annotations

import io

from agent.backfill import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_drawn_on_a_terminal_with_percent_and_records() -> None:
    out = Terminal()
    Progress(1000, out).update(1000, 5000, force=True)
    assert "[####################] 100.0%  5,000 records" in out.getvalue()
    assert out.getvalue().startswith("\r") and out.getvalue().endswith("\n")


def test_progress_is_silent_when_stderr_is_not_a_terminal() -> None:
    out = io.StringIO()
    Progress(1000, out).update(500, 10, force=True)
    assert out.getvalue() == ""
