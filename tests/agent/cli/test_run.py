"""`logspool run` as an operator drives it: signals, config reload, the spool size cap.

These start the real process (helpers from tests/e2e/conftest.py) and judge it by its
exit code, its log and `status --json`.
"""
from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.doubles.http_receiver import HttpReceiver
from tests.e2e.conftest import Agent, Lines, wait_until, write_config

pytestmark = pytest.mark.e2e

_started: list[Agent] = []


@pytest.fixture(autouse=True)
def no_daemon_outlives_its_test() -> Iterator[None]:
    yield
    while _started:
        _started.pop().kill9()


def site(tmp_path: Path, sinks: list[dict[str, Any]], agent: dict[str, Any] | None = None,
         routes: list[str] | None = None) -> tuple[Agent, Lines]:
    cfg = tmp_path / "agent.toml"
    write_config(cfg, {"spool": str(tmp_path / "spool.db"), "poll_interval": "100ms", **(agent or {})},
                 [{"name": "app", "type": "file", "paths": [str(tmp_path / "app.log*")], "format": "lines",
                   "sinks": routes or [s["name"] for s in sinks]}], sinks)
    (tmp_path / "app.log").touch()
    daemon = Agent(tmp_path, cfg, tmp_path / "spool.db", tmp_path / "agent.log")
    _started.append(daemon)
    return daemon, Lines(tmp_path / "app.log")


def lines_in(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_sigterm_finishes_and_exits_0(tmp_path: Path) -> None:
    agent, lines = site(tmp_path, [{"name": "out", "type": "file", "path": str(tmp_path / "out.ndjson")}])
    agent.start()
    lines.write(100)
    assert wait_until(lambda: lines_in(tmp_path / "out.ndjson") == 100, 20), agent.output_tail()
    assert agent.term() == 0
    assert "Stopped." in agent.output_tail()


def test_sigint_also_finishes_and_exits_0(tmp_path: Path) -> None:
    agent, lines = site(tmp_path, [{"name": "out", "type": "file", "path": str(tmp_path / "out.ndjson")}])
    agent.start()
    lines.write(5)
    assert wait_until(lambda: lines_in(tmp_path / "out.ndjson") == 5, 20), agent.output_tail()
    os.killpg(agent.proc.pid, signal.SIGINT)  # type: ignore[union-attr]
    assert agent.proc.wait(15) == 0  # type: ignore[union-attr]


def test_sighup_reloads_the_config_and_a_new_route_takes_effect(tmp_path: Path) -> None:
    sinks = [{"name": "a", "type": "file", "path": str(tmp_path / "a.ndjson")},
             {"name": "b", "type": "file", "path": str(tmp_path / "b.ndjson")}]
    agent, lines = site(tmp_path, sinks, routes=["a"])
    agent.start()
    lines.write(10)
    assert wait_until(lambda: lines_in(tmp_path / "a.ndjson") == 10, 20), agent.output_tail()
    site(tmp_path, sinks, routes=["a", "b"])  # rewrite the config: now also to b
    os.killpg(agent.proc.pid, signal.SIGHUP)  # type: ignore[union-attr]
    assert wait_until(lambda: "Config reloaded." in agent.output_tail(), 20), agent.output_tail()
    lines.write(5)
    assert wait_until(lambda: lines_in(tmp_path / "b.ndjson") == 5, 20), agent.output_tail()
    assert lines_in(tmp_path / "a.ndjson") == 15
    assert agent.term() == 0


def test_a_broken_config_on_reload_is_refused_and_the_agent_keeps_going(tmp_path: Path) -> None:
    agent, lines = site(tmp_path, [{"name": "out", "type": "file", "path": str(tmp_path / "out.ndjson")}])
    agent.start()
    lines.write(3)
    assert wait_until(lambda: lines_in(tmp_path / "out.ndjson") == 3, 20), agent.output_tail()
    agent.config.write_text(agent.config.read_text() + "\n[[sinks]]\nname = 'x'\ntype = 'nope'\n")
    os.killpg(agent.proc.pid, signal.SIGHUP)  # type: ignore[union-attr]
    assert wait_until(lambda: "Config reload failed" in agent.output_tail(), 20), agent.output_tail()
    lines.write(4)
    assert wait_until(lambda: lines_in(tmp_path / "out.ndjson") == 7, 20), agent.output_tail()
    assert agent.term() == 0


def test_at_the_spool_cap_reading_pauses_visibly_and_resumes_when_the_sink_returns(tmp_path: Path) -> None:
    rx = HttpReceiver()
    rx.stop()  # down: connection refused
    try:
        agent, lines = site(tmp_path, [{"name": "rx", "type": "http", "url": rx.url,
                                        "retry": {"initial": "100ms", "max": "500ms"}}],
                            agent={"spool_max_bytes": "1MiB"})
        lines.write(40000)  # about 3.1 MiB of lines, 5.2 MiB of records
        agent.start()
        assert wait_until(lambda: agent.spool.exists() and agent.status()["paused"], 30), agent.output_tail()
        status = agent.status()
        assert "spool_max_bytes" in status["pause_reason"]
        behind = status["sources"][0]["files"][0]["behind"]
        assert behind > 0  # the log file holds what the spool cannot
        assert status["spool_bytes"] < 2 << 20  # the cap, overshot by at most one read block (cap/8)
        rx.start()
        assert wait_until(lambda: len(rx.unique_ids()) == 40000, 60), agent.output_tail()
        assert wait_until(lambda: not agent.status()["paused"], 20)
        assert agent.term() == 0
    finally:
        rx.stop()


def test_a_second_daemon_on_the_same_spool_is_refused(tmp_path: Path) -> None:
    agent, _ = site(tmp_path, [{"name": "out", "type": "file", "path": str(tmp_path / "out.ndjson")}])
    agent.start()
    assert wait_until(lambda: (tmp_path / "spool.db.lock").exists() and agent.cli("status").returncode == 0, 20)
    second = agent.cli("run")
    assert second.returncode == 1
    assert "spool.db.lock" in second.stderr and "only one daemon" in second.stderr
    assert agent.term() == 0
