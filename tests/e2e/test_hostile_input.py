"""Hostile input in watched files, with the real `logspool run`: none of it may crash the
agent, stop a second, well-behaved source from delivering meanwhile, or grow memory with
the size of the input.

A log directory is written by many programs and sometimes by users; a monitoring agent
that dies on one bad line, or holds a 100 MB line in memory, takes the site's logging
down with it. Bad lines become dead letters; everything else arrives once by id.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Iterator

import pytest

from benchmarks.process_tree import tree_rss_mb
from tests.doubles.http_receiver import HttpReceiver
from tests.e2e.conftest import Agent, Lines, Writer, delivery_report, wait_until, write_config

pytestmark = pytest.mark.e2e

MAX_LINE = 64 << 10
HUGE = 100 << 20


def seq_line(n: int) -> bytes:
    return f"2026-11-22T10:00:00Z host=n1 SEQ={n:06d} msg=hostile-neighbour".encode()


@pytest.fixture
def site(tmp_path: Path, receiver: HttpReceiver) -> Iterator[Agent]:
    """A normal source (app.log) and three hostile ones, all to the same receiver."""
    for d in ("hostile", "json", "gftp"):
        (tmp_path / d).mkdir()
    spool = tmp_path / "spool.db"
    common = {"sinks": ["rx"], "max_line_bytes": "64KiB"}
    write_config(
        tmp_path / "agent.toml",
        {"spool": str(spool), "host": "e2e-host", "log_level": "info", "poll_interval": "100ms"},
        [{"name": "app", "type": "file", "paths": [str(tmp_path / "app.log")], "format": "lines", "sinks": ["rx"]},
         {"name": "hostile", "type": "file", "paths": [str(tmp_path / "hostile" / "*.log")], "format": "lines",
          **common},
         {"name": "json", "type": "file", "paths": [str(tmp_path / "json" / "*")], "format": "json", **common},
         {"name": "gftp", "type": "file", "paths": [str(tmp_path / "gftp" / "*")], "format": "gridftp-json",
          **common}],
        [{"name": "rx", "type": "http", "url": receiver.url, "retry": {"initial": "100ms", "max": "1s"}}])
    agent = Agent(tmp_path, tmp_path / "agent.toml", spool, tmp_path / "app.log")
    yield agent
    agent.kill9()


def test_hostile_files_neither_crash_nor_block_nor_bloat_the_agent(
        site: Agent, receiver: HttpReceiver, tmp_path: Path) -> None:
    lines = Lines(tmp_path / "app.log")
    lines.write(10)
    hostile = tmp_path / "hostile"
    # A symlink loop and a FIFO, both matching the glob, present from the start.
    os.symlink(hostile / "loop-b.log", hostile / "loop-a.log")
    os.symlink(hostile / "loop-a.log", hostile / "loop-b.log")
    os.mkfifo(hostile / "fifo.log")
    os.symlink(tmp_path / "json", tmp_path / "json" / "self")   # a directory that contains itself
    site.start()
    assert wait_until(lambda: len(receiver.unique_ids()) >= 10, 20), site.output_tail()
    pid = site.proc.pid if site.proc else 0
    expected_hostile: set[int] = set()

    with Writer(lines, burst=20, pause=0.05):
        # Over-long, invalid UTF-8 and NUL lines, each followed by a good line.
        with open(hostile / "mixed.log", "wb") as fh:
            fh.write(b"x" * (200 << 10) + b"\n")
            fh.write(seq_line(900001) + b" \xff\xfe\xc3\x28 bad utf-8\n")
            fh.write(seq_line(900002) + b" nul\x00in\x00the\x00middle\n")
            fh.write(seq_line(900003) + b"\n")
        expected_hostile |= {900001, 900002, 900003}
        # Deeply nested JSON, for the plain json parser and for the framed gridftp-json one.
        with open(tmp_path / "json" / "deep.json", "wb") as fh:
            # Under max_line_bytes, so the parser itself meets them (orjson stops at 1024 levels).
            fh.write(b"[" * 60_000 + b"\n")
            fh.write(b'{"a":' * 10_000 + b"1" + b"}" * 10_000 + b"\n")
            fh.write(json.dumps({"message": seq_line(900004).decode()}).encode() + b"\n")
        expected_hostile.add(900004)
        with open(tmp_path / "gftp" / "deep.json", "wb") as fh:
            fh.write(b'{"a":' * 10_000 + b"1" + b"}" * 10_000 + b"\n")
            fh.write(b'{"a":' + b"[" * 60_000 + b"}\n")
        # Parse workers start with the first block of their source: the baseline is taken after.
        assert wait_until(lambda: _subset(receiver, expected_hostile), 20), delivery_report(receiver, expected_hostile)
        baseline = tree_rss_mb(pid)
        # A 100 MB line without a newline, written while RSS is sampled.
        rss = [baseline]
        big = hostile / "huge.log"
        with open(big, "wb") as fh:
            piece = b"y" * (4 << 20)
            for _ in range(HUGE // len(piece)):
                fh.write(piece)
                fh.flush()
                rss.append(tree_rss_mb(pid))
                time.sleep(0.02)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not read_to(site, "hostile", big, HUGE):
            rss.append(tree_rss_mb(pid))
            time.sleep(0.1)
        assert read_to(site, "hostile", big, HUGE), site.status()
        rss.append(tree_rss_mb(pid))
        # Now the line ends and a good one follows.
        with open(big, "ab") as fh:
            fh.write(b"\n" + seq_line(900005) + b"\n")
        expected_hostile.add(900005)
        # The normal source delivered meanwhile, and keeps doing so.
        assert wait_until(lambda: len(lines.written) > 200, 10)
        now = set(lines.written)
        assert wait_until(lambda: not delivery_report(receiver, now | expected_hostile)
                          or _subset(receiver, now), 30, step=0.2), delivery_report(receiver, now)
    assert site.alive(), site.output_tail()
    expected = set(lines.written) | expected_hostile
    assert wait_until(lambda: not delivery_report(receiver, expected), 30, step=0.2), \
        delivery_report(receiver, expected)
    assert max(rss) - baseline < 100, f"RSS grew from {baseline:.0f} MB to {max(rss):.0f} MB"
    status = site.status()
    # The 200 KiB line, the 100 MB line, two nested JSON lines and two gridftp-json ones.
    assert status["dead_letters"] >= 6, status
    out = site.output.read_text(errors="replace")
    assert "Traceback" not in out, out[-4000:]
    assert site.term() == 0


def _subset(rx: HttpReceiver, seqs: set[int]) -> bool:
    from tests.e2e.conftest import seqs_by_id
    by_seq, _ = seqs_by_id(rx)
    return seqs <= by_seq.keys()


def read_to(site: Agent, source: str, path: Path, offset: int) -> bool:
    for src in site.status()["sources"]:
        if src["name"] == source:
            return any(f["path"] == str(path) and f["offset"] >= offset for f in src["files"])
    return False


def peak_rss_mb(site: Agent, *args: str) -> float:
    """Run `logspool <args> --config …` to its end; its peak RSS (MB) from wait4."""
    import subprocess
    from tests.e2e.conftest import logspool_command
    proc = subprocess.Popen([*logspool_command(), *args, "--config", str(site.config)], cwd=site.dir,
                            env=site.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    return usage.ru_maxrss / 1024


def test_prerotate_of_a_file_ending_in_a_100mb_line_does_not_hold_the_line_in_memory(
        site: Agent, tmp_path: Path) -> None:
    """`prerotate` asks whether a file is read to its last complete line: that question must
    not read the unterminated tail whole."""
    small = tmp_path / "hostile" / "small.log"
    small.write_bytes(seq_line(1) + b"\n")
    reference = peak_rss_mb(site, "prerotate", str(small))
    big = tmp_path / "hostile" / "huge.log"
    with open(big, "wb") as fh:
        fh.write(seq_line(2) + b"\n")
        for _ in range(HUGE // (4 << 20)):
            fh.write(b"y" * (4 << 20))
    peak = peak_rss_mb(site, "prerotate", str(big))
    assert peak - reference < 50, f"prerotate peaked at {peak:.0f} MB, {reference:.0f} MB for a small file"
