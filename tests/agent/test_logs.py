"""Log lines: key=value context, and repeated warnings rate-limited per key."""
from __future__ import annotations

import logging

from pathlib import Path

from agent.logs import KeyValueFormatter, RateLimit


def test_context_is_printed_as_key_value_after_the_message() -> None:
    record = logging.LogRecord("logspool", logging.WARNING, "", 0, "Cannot open file.", None, None)
    record.path = "/var/log/a b.log"
    record.error = "Permission denied"
    line = KeyValueFormatter().format(record)
    assert line.endswith("warning Cannot open file. path='/var/log/a b.log' error='Permission denied'")


def test_a_repeated_message_is_allowed_once_per_interval_per_key() -> None:
    now = [100.0]
    limit = RateLimit(30.0, clock=lambda: now[0])
    assert [limit.allow("a"), limit.allow("a"), limit.allow("b")] == [True, False, True]
    now[0] += 30.0
    assert limit.allow("a") and limit.suppressed == {"a": 1}


def test_json_lines_carry_the_message_and_its_context_as_fields() -> None:
    import json

    from agent.logs import JsonFormatter
    record = logging.LogRecord("logspool", logging.WARNING, "", 0, "Cannot open file.", None, None)
    record.path = Path("/var/log/a b.log")  # not JSON: written as its text
    record.attempt = 3
    line = json.loads(JsonFormatter().format(record))
    assert {k: v for k, v in line.items() if k != "time"} == {
        "level": "warning", "message": "Cannot open file.", "path": "/var/log/a b.log", "attempt": 3}
    assert line["time"].endswith("Z")


def test_log_format_json_makes_every_line_of_a_real_run_one_json_object(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    (tmp_path / "app.log").write_text("one\ntwo\n")
    (tmp_path / "agent.toml").write_text(
        '[agent]\nspool = "spool.db"\n\n[[sources]]\nname = "app"\ntype = "file"\npaths = ["app.log"]\n'
        'format = "lines"\nsinks = ["out"]\n\n[[sinks]]\nname = "out"\ntype = "http"\n'
        'url = "http://127.0.0.1:1/x"\nretry = { max_retries = 0 }\n')
    r = subprocess.run([sys.executable, "-m", "agent.cli", "--log-format", "json", "run", "--once", "--config",
                        str(tmp_path / "agent.toml")], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                       env={**__import__("os").environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stderr.splitlines()]
    assert [line["message"] for line in lines] == ["Started.", "Endpoint rejected records; kept in dead_letters.",
                                                   "Stopped."]
    assert lines[1]["sink"] == "out" and lines[1]["records"] == 2 and "Connection refused" in lines[1]["error"]
