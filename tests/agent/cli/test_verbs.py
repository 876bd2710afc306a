"""The one-shot verbs as an operator uses them: backfill, parse, dead-letters, status."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson

from tests.doubles.http_receiver import HttpReceiver
from tests.e2e.conftest import REPO, logspool_command, write_config


def logspool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*logspool_command(), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def make_site(tmp: Path, sink: dict[str, object]) -> Path:
    cfg = tmp / "agent.toml"
    write_config(cfg, {"spool": str(tmp / "spool.db"), "poll_interval": "100ms"},
                 [{"name": "app", "type": "file", "paths": [str(tmp / "app.log*")], "format": "lines",
                   "sinks": [sink["name"]]}], [sink])
    return cfg


def test_backfill_delivers_every_line_with_the_ids_run_gives_them(tmp_path: Path) -> None:
    (tmp_path / "app.log").write_text("".join(f"line {i}\n" for i in range(3000)) + "last without newline")
    cfg = make_site(tmp_path, {"name": "out", "type": "file", "path": str(tmp_path / "out.ndjson")})
    r = logspool("backfill", str(tmp_path / "app.log"), "--format", "lines", "--sink", "out", "--config", str(cfg),
                 cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    backfilled = [orjson.loads(line) for line in (tmp_path / "out.ndjson").read_bytes().splitlines()]
    (tmp_path / "out.ndjson").unlink()
    (tmp_path / "spool.db").unlink()
    assert logspool("run", "--once", "--config", str(cfg), cwd=tmp_path).returncode == 0
    ran = [orjson.loads(line) for line in (tmp_path / "out.ndjson").read_bytes().splitlines()]
    assert [b["id"] for b in backfilled] == [r["id"] for r in ran] and len(ran) == 3000
    # the file is a live source's: its unterminated last line waits for the daemon to see it end
    assert backfilled[-1]["data"]["message"] == "line 2999"
    assert "delivered 3000 records" in r.stderr


def test_backfill_dont_write_leaves_the_live_spool_untouched(tmp_path: Path) -> None:
    old = tmp_path / "old.log"
    old.write_text("".join(f"old {i}\n" for i in range(99)) + "old 99 without newline")
    rx = HttpReceiver()
    try:
        cfg = make_site(tmp_path, {"name": "rx", "type": "http", "url": rx.url})
        r = logspool("backfill", str(old), "--format", "lines", "--sink", "rx", "--dont-write", "--config", str(cfg),
                     cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert len(rx.unique_ids()) == 100  # a static file's last line needs no newline
        assert not (tmp_path / "spool.db").exists()
    finally:
        rx.stop()


def test_parse_prints_records_and_names_file_and_line_of_errors(tmp_path: Path) -> None:
    f = tmp_path / "events.ndjson"
    f.write_text('{"a": 1}\nnot json\n{"b": 2}\n')
    r = logspool("parse", str(f), "--format", "json", cwd=tmp_path)
    assert r.returncode == 1
    assert [json.loads(line)["data"] for line in r.stdout.splitlines()] == [{"a": 1}, {"b": 2}]
    assert r.stderr.startswith(f"{f}:2: byte 0: not valid JSON")


def test_a_poison_record_can_be_listed_and_replayed_once_the_endpoint_accepts_it(tmp_path: Path) -> None:
    (tmp_path / "app.log").write_text("good 1\nPOISON\ngood 2\n")
    rx = HttpReceiver(reject_markers=["POISON"])
    try:
        cfg = make_site(tmp_path, {"name": "rx", "type": "http", "url": rx.url})
        assert logspool("run", "--once", "--config", str(cfg), cwd=tmp_path).returncode == 0
        listed = logspool("dead-letters", "list", "--json", "--config", str(cfg), cwd=tmp_path)
        (letter,) = [json.loads(line) for line in listed.stdout.splitlines()]
        assert letter["record"]["data"]["message"] == "POISON" and letter["reason"].startswith("HTTP 400")
        rx.reject_markers = []  # the archive was fixed
        assert logspool("dead-letters", "replay", "--config", str(cfg), cwd=tmp_path).returncode == 0
        assert logspool("run", "--once", "--config", str(cfg), cwd=tmp_path).returncode == 0
        assert {r["data"]["message"] for r in rx.records().values()} == {"good 1", "POISON", "good 2"}
        assert logspool("dead-letters", "list", "--json", "--config", str(cfg), cwd=tmp_path).stdout == ""
    finally:
        rx.stop()


def test_status_reads_like_a_report(tmp_path: Path) -> None:
    (tmp_path / "app.log").write_text("a\nb\n")
    cfg = make_site(tmp_path, {"name": "out", "type": "file", "path": str(tmp_path / "out.ndjson")})
    assert logspool("run", "--once", "--config", str(cfg), cwd=tmp_path).returncode == 0
    text = logspool("status", "--config", str(cfg), cwd=tmp_path).stdout
    lines = text.splitlines()
    file_row = next(line for line in lines if str(tmp_path / "app.log") in line)
    assert file_row.split() == [str(tmp_path / "app.log"), "0", "B", "active,", "offset", "4/4"]
    assert next(line for line in lines if line.startswith("out ")).split() == \
        ["out", "idle", "0", "0", "B", "-", "-", "-"]
    assert text.rstrip().endswith("dead letters: 0")


def test_every_verb_has_help_with_an_example() -> None:
    from agent.cli import VERBS, build_parser
    parser = build_parser()
    for verb in VERBS:
        name = verb.__name__.rsplit(".", 1)[1].replace("_", "-")
        out = subprocess.run([sys.executable, "-m", "agent.cli", name, "--help"], capture_output=True, text=True,
                             cwd=REPO)
        assert out.returncode == 0 and "Example" in out.stdout, name
    assert parser.prog == "logspool"


def test_prerotate_of_a_missing_file_fails_and_says_why(tmp_path: Path) -> None:
    cfg = make_site(tmp_path, {"name": "out", "type": "file", "path": str(tmp_path / "out.ndjson")})
    r = logspool("prerotate", str(tmp_path / "app.log* "), "--config", str(cfg), cwd=tmp_path)
    assert r.returncode == 2
    assert "no such file" in r.stderr and "sharedscripts" in r.stderr


def test_prerotate_spools_a_file_to_its_end_without_a_daemon(tmp_path: Path) -> None:
    (tmp_path / "app.log").write_text("a\nb\n")
    cfg = make_site(tmp_path, {"name": "out", "type": "file", "path": str(tmp_path / "out.ndjson")})
    r = logspool("prerotate", str(tmp_path / "app.log"), "--config", str(cfg), cwd=tmp_path)
    assert r.returncode == 0 and "spooled 2 records" in r.stderr
    assert logspool("run", "--once", "--config", str(cfg), cwd=tmp_path).returncode == 0
    assert len((tmp_path / "out.ndjson").read_text().splitlines()) == 2


def test_run_once_exits_1_when_a_misconfigured_sink_keeps_the_records(tmp_path: Path) -> None:
    (tmp_path / "app.log").write_text("a\n")
    rx = HttpReceiver(plan=lambda number, records: (401, {}))
    try:
        cfg = make_site(tmp_path, {"name": "rx", "type": "http", "url": rx.url})
        r = logspool("run", "--once", "--config", str(cfg), cwd=tmp_path)
        assert r.returncode == 1
        assert "Records left undelivered: the sink is stopped." in r.stderr and "HTTP 401" in r.stderr
        status = json.loads(logspool("status", "--json", "--config", str(cfg), cwd=tmp_path).stdout)
        assert status["sinks"][0]["backlog_records"] == 1 and status["sinks"][0]["state"].startswith("stopped")
    finally:
        rx.stop()


def test_purge_deletes_only_the_dead_letters_asked_for(tmp_path: Path) -> None:
    (tmp_path / "app.log").write_text("POISON 1\nok\nPOISON 2\n")
    rx = HttpReceiver(reject_markers=["POISON"])
    try:
        cfg = make_site(tmp_path, {"name": "rx", "type": "http", "url": rx.url})
        assert logspool("run", "--once", "--config", str(cfg), cwd=tmp_path).returncode == 0
        listed = [json.loads(line) for line in
                  logspool("dead-letters", "list", "--json", "--config", str(cfg), cwd=tmp_path).stdout.splitlines()]
        assert len(listed) == 2
        r = logspool("dead-letters", "purge", "--id", str(listed[0]["id"]), "--config", str(cfg), cwd=tmp_path)
        assert r.returncode == 0 and "purged 1 dead letter(s)" in r.stderr
        left = logspool("dead-letters", "list", "--json", "--config", str(cfg), cwd=tmp_path).stdout.splitlines()
        assert [json.loads(line)["id"] for line in left] == [listed[1]["id"]]
    finally:
        rx.stop()


def test_backfill_reads_a_file_whose_name_has_glob_characters(tmp_path: Path) -> None:
    odd = tmp_path / "lsb.acct[old]*"
    odd.write_text("one\ntwo\n")
    (tmp_path / "lsb.acct1").write_text("must not be read\n")  # what the name matches as a pattern
    cfg = make_site(tmp_path, {"name": "out", "type": "file", "path": str(tmp_path / "out.ndjson")})
    r = logspool("backfill", str(odd), "--format", "lines", "--sink", "out", "--config", str(cfg), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = [orjson.loads(line)["data"]["message"] for line in (tmp_path / "out.ndjson").read_bytes().splitlines()]
    assert out == ["one", "two"]


def test_parse_cuts_records_that_span_lines_and_takes_a_document_whole(tmp_path: Path) -> None:
    samples = REPO / "tests" / "parsers" / "samples"
    r = logspool("parse", str(samples / "gridftp-json" / "ramses-synthetic-events.json"), "--format", "gridftp-json",
                 cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert [json.loads(line)["type"] for line in r.stdout.splitlines()] == ["Transfer-End", "Perf-Marker",
                                                                            "Transfer-End"]
    bwctl = samples / "bwctl-iperf3" / "synthetic-local-sender-tcp-utc.txt"
    r = logspool("parse", str(bwctl), "--format", "bwctl-iperf3", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (record,) = [json.loads(line) for line in r.stdout.splitlines()]
    assert record["data"]["local_sender"] == "192.168.1.173"
    broken = tmp_path / "events.json"
    broken.write_text('{"event_type": "Transfer-End",\n  "nbytes": 1\n}\n\n{"event_type": \n')
    r = logspool("parse", str(broken), "--format", "gridftp-json", cwd=tmp_path)
    assert r.returncode == 1
    assert [line.split(": ")[0] for line in r.stderr.splitlines()] == [f"{broken}:1", f"{broken}:5"]
    assert "start_timestamp" in r.stderr and "closing brace" in r.stderr
