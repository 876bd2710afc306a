"""The Prometheus endpoint, scraped over real HTTP while records flow, an endpoint fails and recovers.

Each scrape is parsed by the official Prometheus client's text parser, so the page is
valid exposition, not just text that looks like it; the totals are checked against what
the receiver really got (by record id).
"""
from __future__ import annotations

import json
import os
import signal
import socket
from pathlib import Path
from typing import Callable, Optional

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.doubles.http_receiver import HttpReceiver
from tests.e2e.conftest import Agent, Lines, wait_delivered, wait_until

pytestmark = pytest.mark.e2e

Samples = dict[tuple[str, str], float]   # (sample name, label value) -> value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> Optional[Samples]:
    """Every sample of the page, or None while nothing answers yet."""
    try:
        r = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    except httpx.TransportError:
        return None
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    out: Samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, s.labels.get("source") or s.labels.get("sink") or "")] = s.value
    return out


class Scraper:
    def __init__(self, port: int) -> None:
        self.port = port
        self.last: Samples = {}

    def value(self, name: str, label: str = "") -> float:
        got = scrape(self.port)
        if got is not None:
            self.last = got
        return self.last.get((name, label), -1.0)

    def until(self, name: str, label: str, pred: Callable[[float], bool], timeout: float = 30) -> bool:
        return wait_until(lambda: pred(self.value(name, label)), timeout, step=0.2)


def test_counters_move_as_records_flow_fail_recover_and_are_refused(
        make_agent: Callable[..., Agent], lines: Lines, receiver: HttpReceiver) -> None:
    port = free_port()
    agent = make_agent(agent={"metrics_listen": f"127.0.0.1:{port}"}).start()
    m = Scraper(port)
    assert wait_until(lambda: scrape(port) is not None, 30, step=0.2), agent.output_tail()
    assert m.value("logspool_source_records_read_total", "app") == 0
    assert m.value("logspool_sink_records_delivered_total", "rx") == 0
    assert m.value("logspool_sink_last_success_timestamp_seconds", "rx") == 0
    assert m.value("logspool_spool_max_bytes") == 2 << 30

    lines.write(500)
    assert wait_delivered(receiver, lines.written) == ""
    assert m.until("logspool_sink_records_delivered_total", "rx", lambda v: v == 500)
    assert m.value("logspool_source_records_read_total", "app") == 500
    assert m.value("logspool_sink_backlog_records", "rx") == 0
    assert m.value("logspool_source_bytes_behind", "app") == 0
    assert m.value("logspool_source_files", "app") == 1
    first_success = m.value("logspool_sink_last_success_timestamp_seconds", "rx")
    assert first_success > 0

    # The endpoint fails: records are read, wait in the backlog, and each failed try counts.
    receiver.plan = lambda n, records: (503, {})
    lines.write(300)
    assert m.until("logspool_sink_retries_total", "rx", lambda v: v >= 3), m.last
    assert m.until("logspool_sink_backlog_records", "rx", lambda v: v == 300), m.last
    assert m.value("logspool_source_records_read_total", "app") == 800
    assert m.value("logspool_sink_records_delivered_total", "rx") == 500
    assert m.value("logspool_sink_oldest_undelivered_age_seconds", "rx") > 0
    assert m.value("logspool_sink_backlog_bytes", "rx") > 0
    retries = m.value("logspool_sink_retries_total", "rx")

    # It recovers: everything arrives, the backlog empties, the success time moves on.
    receiver.plan = None
    assert wait_delivered(receiver, lines.written) == ""
    assert m.until("logspool_sink_records_delivered_total", "rx", lambda v: v == 800), m.last
    assert m.until("logspool_sink_backlog_records", "rx", lambda v: v == 0), m.last
    assert m.value("logspool_sink_last_success_timestamp_seconds", "rx") > first_success
    assert m.value("logspool_sink_retries_total", "rx") >= retries
    assert m.value("logspool_sink_oldest_undelivered_age_seconds", "rx") == 0

    # One record refused for good: counted as dead-lettered, not as delivered.
    receiver.reject_markers = [b"SEQ=000850"]
    lines.write(100)
    assert wait_delivered(receiver, lines.written - {850}) == ""
    assert m.until("logspool_sink_records_dead_lettered_total", "rx", lambda v: v == 1), m.last
    assert m.until("logspool_sink_records_delivered_total", "rx", lambda v: v == 899), m.last
    assert m.value("logspool_dead_letters") == 1
    assert m.value("logspool_sink_records_delivered_total", "rx") == len(receiver.unique_ids())
    assert m.value("logspool_sink_stopped", "rx") == 0
    assert m.value("logspool_reading_paused") == 0
    assert agent.term() == 0

    # The totals live in the spool: a restarted agent goes on from them.
    agent.start()
    assert wait_until(lambda: scrape(port) is not None, 30, step=0.2), agent.output_tail()
    assert m.value("logspool_sink_records_delivered_total", "rx") == 899
    assert m.value("logspool_source_records_read_total", "app") == 900


def test_lines_that_do_not_parse_are_counted_per_source(
        make_agent: Callable[..., Agent], tmp_path: Path, receiver: HttpReceiver) -> None:
    port = free_port()
    path = tmp_path / "events.json"
    agent = make_agent(agent={"metrics_listen": str(port)},
                       source={"format": "json", "paths": [str(path)]})
    path.write_text("".join(json.dumps({"n": i}) + "\n" for i in range(10)) + "not json\n{broken\n]\n")
    agent.start()
    m = Scraper(port)
    assert m.until("logspool_source_parse_errors_total", "app", lambda v: v == 3), agent.output_tail()
    assert m.value("logspool_source_records_read_total", "app") == 10
    assert m.until("logspool_sink_records_delivered_total", "rx", lambda v: v == 10), m.last
    assert m.value("logspool_dead_letters") == 3
    assert m.value("logspool_sink_records_dead_lettered_total", "rx") == 0


def listening_ports(agent: Agent) -> dict[int, int]:
    """TCP ports in LISTEN held by processes of the agent's process group -> how many hold each."""
    assert agent.proc is not None
    holders: dict[str, int] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.getpgid(int(pid)) != agent.proc.pid:
                continue
            mine = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        except OSError:
            continue
        for target in mine:
            if target.startswith("socket:["):
                holders[target[8:-1]] = holders.get(target[8:-1], 0) + 1
    ports: dict[int, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as fh:
            for row in fh.readlines()[1:]:
                cols = row.split()
                if cols[3] == "0A" and cols[9] in holders:   # 0A: LISTEN
                    ports[int(cols[1].rsplit(":", 1)[1], 16)] = holders[cols[9]]
    return ports


def test_metrics_are_off_unless_configured(agent: Agent, lines: Lines, receiver: HttpReceiver) -> None:
    lines.write(5)
    agent.start()
    assert wait_delivered(receiver, lines.written) == ""
    assert listening_ports(agent) == {}
    assert "Serving metrics" not in agent.output_tail()


def test_a_port_in_use_is_reported_and_records_still_flow_then_a_reload_moves_it(
        make_agent: Callable[..., Agent], lines: Lines, receiver: HttpReceiver) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    busy = taken.getsockname()[1]
    try:
        agent = make_agent(agent={"metrics_listen": str(busy)})
        lines.write(20)
        agent.start()
        assert wait_delivered(receiver, lines.written) == ""
        out = agent.output_tail()
        assert "Cannot serve metrics" in out and f"127.0.0.1:{busy}" in out, out

        port = free_port()
        text = agent.config.read_text().replace(f'metrics_listen = "{busy}"', f'metrics_listen = "{port}"')
        agent.config.write_text(text)
        assert agent.proc is not None
        os.kill(agent.proc.pid, signal.SIGHUP)
        assert wait_until(lambda: scrape(port) is not None, 30, step=0.2), agent.output_tail()
        assert Scraper(port).value("logspool_sink_records_delivered_total", "rx") == 20
        # Only the reader holds it: the drain process, forked after every reload, must not keep
        # an old port bound, so the one socket has one holder.
        assert listening_ports(agent) == {port: 1}
    finally:
        taken.close()
