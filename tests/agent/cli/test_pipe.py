"""`logspool pipe` as a cron job or a test wrapper uses it: stdin in, durable on exit 0, nothing lost."""
from __future__ import annotations

import subprocess
from pathlib import Path

import orjson

from tests.doubles.http_receiver import HttpReceiver
from tests.e2e.conftest import logspool_command, write_config


def pipe(*args: str, stdin: bytes, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*logspool_command(), "pipe", *args], cwd=cwd, input=stdin, capture_output=True,
                          timeout=120)


def site(tmp: Path, *sinks: dict[str, object]) -> Path:
    cfg = tmp / "agent.toml"
    write_config(cfg, {"spool": str(tmp / "spool.db"), "poll_interval": "100ms"}, [], list(sinks))
    return cfg


def test_pipe_spools_durably_and_exits_0_and_the_daemon_delivers_later(tmp_path: Path) -> None:
    out = tmp_path / "out.ndjson"
    cfg = site(tmp_path, {"name": "out", "type": "file", "path": str(out)})
    data = b'{"a": 1}\n{"a": 2}\n{"a": 3}'  # the last record needs no newline: the input has ended
    r = pipe("--format", "json", "--sink", "out", "--config", str(cfg), stdin=data, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert b"spooled 3 records; no daemon is running" in r.stderr
    assert not out.exists()
    run = subprocess.run([*logspool_command(), "run", "--once", "--config", str(cfg)], cwd=tmp_path,
                         capture_output=True, timeout=120)
    assert run.returncode == 0, run.stderr
    records = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [r["data"]["a"] for r in records] == [1, 2, 3]
    assert {r["source"] for r in records} == {"pipe"} and {r["format"] for r in records} == {"json"}


def test_the_same_input_piped_twice_gets_the_same_ids(tmp_path: Path) -> None:
    rx = HttpReceiver()
    try:
        cfg = site(tmp_path, {"name": "rx", "type": "http", "url": rx.url})
        for _ in range(2):
            r = pipe("--format", "lines", "--sink", "rx", "--wait", "--config", str(cfg), stdin=b"x\ny\n",
                     cwd=tmp_path)
            assert r.returncode == 0, r.stderr
            assert b"delivered 2 records to rx" in r.stderr
        assert rx.deliveries() == 4 and len(rx.unique_ids()) == 2
    finally:
        rx.stop()


def test_wait_delivers_to_every_sink_named(tmp_path: Path) -> None:
    a, b = tmp_path / "a.ndjson", tmp_path / "b.ndjson"
    cfg = site(tmp_path, {"name": "a", "type": "file", "path": str(a)}, {"name": "b", "type": "file", "path": str(b)})
    r = pipe("--format", "lines", "--sink", "a", "--sink", "b", "--wait", "--config", str(cfg),
             stdin=b"one\ntwo\n", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert len(a.read_bytes().splitlines()) == len(b.read_bytes().splitlines()) == 2


def test_unparsable_input_is_kept_in_dead_letters_and_the_exit_status_says_so(tmp_path: Path) -> None:
    cfg = site(tmp_path, {"name": "out", "type": "file", "path": str(tmp_path / "out.ndjson")})
    r = pipe("--format", "json", "--sink", "out", "--config", str(cfg), stdin=b'{"ok": 1}\nnot json\n',
             cwd=tmp_path)
    assert r.returncode == 65
    assert b"stdin: byte 10:" in r.stderr and b"kept in dead letters" in r.stderr
    listed = subprocess.run([*logspool_command(), "dead-letters", "list", "--json", "--config", str(cfg)],
                            cwd=tmp_path, capture_output=True, timeout=120)
    dead = [orjson.loads(line) for line in listed.stdout.splitlines()]
    assert [d["record"] for d in dead] == [{"raw": "not json"}]


def test_an_unknown_sink_or_empty_input_fails_before_anything_is_spooled(tmp_path: Path) -> None:
    cfg = site(tmp_path, {"name": "out", "type": "file", "path": str(tmp_path / "out.ndjson")})
    r = pipe("--format", "lines", "--sink", "nope", "--config", str(cfg), stdin=b"x\n", cwd=tmp_path)
    assert r.returncode == 2 and b"no [[sinks]] table named nope" in r.stderr and b"known: out" in r.stderr
    r = pipe("--format", "lines", "--sink", "out", "--config", str(cfg), stdin=b"", cwd=tmp_path)
    assert r.returncode == 65 and b"standard input was empty" in r.stderr
    assert not (tmp_path / "spool.db").exists()


SAMPLES = Path(__file__).parents[2] / "parsers" / "samples" / "bwctl-iperf3"


def test_a_bwctl_document_is_one_record_and_the_same_output_twice_has_one_id(tmp_path: Path) -> None:
    out = tmp_path / "out.ndjson"
    cfg = site(tmp_path, {"name": "out", "type": "file", "path": str(out)})
    doc = (SAMPLES / "synthetic-third-party-tcp-2streams-gmt.txt").read_bytes()
    for _ in range(2):
        r = pipe("--format", "bwctl-iperf3", "--sink", "out", "--wait", "--config", str(cfg), stdin=doc,
                 cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    records = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert len(records) == 2 and records[0]["id"] == records[1]["id"]
    assert records[0]["type"] == "throughput"
    assert (records[0]["data"]["input_source"], records[0]["data"]["input_destination"]) == (
        "198.51.100.10", "203.0.113.20")


def test_bwctl_output_without_its_header_lines_says_which_are_missing_and_is_kept(tmp_path: Path) -> None:
    cfg = site(tmp_path, {"name": "out", "type": "file", "path": str(tmp_path / "out.ndjson")})
    doc = (SAMPLES / "synthetic-third-party-tcp-2streams-gmt.txt").read_bytes()
    stdout_only = b"".join(line for line in doc.splitlines(keepends=True) if b"as the address for" not in line)
    r = pipe("--format", "bwctl-iperf3", "--sink", "out", "--config", str(cfg), stdin=stdout_only, cwd=tmp_path)
    assert r.returncode == 65
    assert b"--verbose" in r.stderr and b"kept in dead letters" in r.stderr
    listed = subprocess.run([*logspool_command(), "dead-letters", "list", "--json", "--config", str(cfg)],
                            cwd=tmp_path, capture_output=True, timeout=120)
    (dead,) = [orjson.loads(line) for line in listed.stdout.splitlines()]
    assert dead["record"]["raw"].encode() == stdout_only


def test_a_file_source_refuses_a_document_format_and_points_to_pipe(tmp_path: Path) -> None:
    cfg = tmp_path / "agent.toml"
    write_config(cfg, {"spool": str(tmp_path / "spool.db")},
                 [{"name": "b", "type": "file", "paths": ["/tmp/x"], "format": "bwctl-iperf3", "sinks": ["out"]}],
                 [{"name": "out", "type": "file", "path": str(tmp_path / "o")}])
    r = subprocess.run([*logspool_command(), "check-config", str(cfg)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "not a log a file source can follow" in r.stderr and "logspool pipe --format bwctl-iperf3" in r.stderr
