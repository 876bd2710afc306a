"""metrics_listen parsing, and the metrics server's answers when the spool is fine, missing or asked wrongly."""
from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.config import AgentSettings, Config, ConfigError, load
from agent.listen import Listen, parse_listen
from agent.metrics import MetricsServer, _escape, render
from spool import Spool, chunks


@pytest.mark.parametrize("text, want", [
    ("9464", Listen("127.0.0.1", 9464)),
    (":9464", Listen("127.0.0.1", 9464)),
    (9464, Listen("127.0.0.1", 9464)),
    ("0.0.0.0:9100", Listen("0.0.0.0", 9100)),
    ("[::1]:9464", Listen("::1", 9464)),
    ("metrics.example.org:80", Listen("metrics.example.org", 80)),
])
def test_listen_addresses_operators_write(text: object, want: Listen) -> None:
    assert parse_listen(text) == want


@pytest.mark.parametrize("text, why", [
    ("::1:9464", "brackets"), ("[nope]:1", "not an IPv6 address"), ("host:0", "1-65535"),
    ("host:65536", "1-65535"), ("9464x", "1-65535"), ("a b:80", "HOST:PORT"), (True, "HOST:PORT"),
])
def test_bad_listen_addresses_say_what_was_expected(text: object, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_listen(text)


def test_metrics_are_off_by_default_and_a_bad_address_is_a_config_error(tmp_path: Path) -> None:
    assert AgentSettings().metrics_listen is None
    cfg = tmp_path / "agent.toml"
    cfg.write_text('[agent]\nmetrics_listen = "0.0.0.0:99999"\n')
    with pytest.raises(ConfigError) as err:
        load(cfg)
    assert err.value.lines == ['agent.toml: [agent] metrics_listen: expected a port ("9464") or HOST:PORT '
                               '("127.0.0.1:9464", "[::1]:9464"); the port must be 1-65535; got "0.0.0.0:99999"']


def test_label_values_are_escaped_as_the_format_requires() -> None:
    assert _escape('a\\b"c\nd') == 'a\\\\b\\"c\\nd'


def site(tmp_path: Path) -> Config:
    return Config.model_validate({
        "agent": {"spool": str(tmp_path / "spool.db"), "spool_max_bytes": "64MiB"},
        "sources": [{"name": "app", "type": "file", "paths": [str(tmp_path / "app.log")], "format": "lines",
                     "sinks": ["rx"]}],
        "sinks": [{"name": "rx", "type": "file", "path": str(tmp_path / "out.ndjson")}],
    })


def test_render_reads_the_totals_and_the_backlog_from_the_spool(tmp_path: Path) -> None:
    config = site(tmp_path)
    spool = Spool(config.agent.spool)
    with spool.transaction() as db:
        first = chunks.enqueue(db, "app", b"x\n" * 7, 7, ["rx"], now=1000.0)
        chunks.enqueue(db, "app", b"y\n" * 3, 3, ["rx"], now=1001.0)
        chunks.ack(db, "rx", [(first, 7, 7)], now=1234.5)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(render(config, spool, "9.9", now=1100.0)) for s in f.samples}
    assert samples[("logspool_source_records_read_total", (("source", "app"),))] == 10
    assert samples[("logspool_sink_records_delivered_total", (("sink", "rx"),))] == 7
    assert samples[("logspool_sink_backlog_records", (("sink", "rx"),))] == 3
    assert samples[("logspool_sink_last_success_timestamp_seconds", (("sink", "rx"),))] == 1234.5
    assert samples[("logspool_spool_max_bytes", ())] == 64 << 20
    assert samples[("logspool_build_info", (("version", "9.9"),))] == 1


def serve(config: Config, listen: Listen) -> MetricsServer:
    server = MetricsServer(listen, config, "0.0.0")
    server.start()
    return server


def free_port(family: socket.AddressFamily = socket.AF_INET, host: str = "127.0.0.1") -> int:
    with socket.socket(family) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def test_a_bare_port_listens_on_loopback_only(tmp_path: Path) -> None:
    config = site(tmp_path)
    Spool(config.agent.spool).close()
    server = serve(config, parse_listen(str(free_port())))
    try:
        assert server._server.server_address[0] == "127.0.0.1"
        r = httpx.get(f"http://127.0.0.1:{server.listen.port}/metrics")
        assert r.status_code == 200 and "logspool_spool_bytes" in r.text
        assert httpx.get(f"http://127.0.0.1:{server.listen.port}/other").status_code == 404
    finally:
        server.stop()


def test_an_ipv6_address_is_served(tmp_path: Path) -> None:
    config = site(tmp_path)
    Spool(config.agent.spool).close()
    try:
        port = free_port(socket.AF_INET6, "::1")
    except OSError:
        pytest.fail("this machine has no IPv6 loopback; the test needs one")
    server = serve(config, Listen("::1", port))
    try:
        assert httpx.get(f"http://[::1]:{port}/metrics").status_code == 200
    finally:
        server.stop()


def test_no_spool_yet_answers_503_with_the_reason_not_a_crash(tmp_path: Path) -> None:
    config = site(tmp_path)
    server = serve(config, Listen("127.0.0.1", free_port()))
    try:
        r = httpx.get(f"http://127.0.0.1:{server.listen.port}/metrics")
        assert r.status_code == 503 and "cannot read the spool" in r.text and "spool.db" in r.text
        Spool(config.agent.spool).close()
        assert httpx.get(f"http://127.0.0.1:{server.listen.port}/metrics").status_code == 200
    finally:
        server.stop()
