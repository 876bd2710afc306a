"""Fixtures that drive the real `logspool` process from outside: config, process, lines, receiver.

End-to-end tests judge the agent only by what an operator sees: the records that reach
an HTTP endpoint (by id), the exit codes and the output of the CLI verbs. Every line a
test writes carries a unique `SEQ=<n>` token, so the records received map back to the
lines written and a test can assert the exact set: each line once by id, none missing.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pytest

from tests.doubles.http_receiver import HttpReceiver

REPO = Path(__file__).resolve().parents[2]
SEQ = re.compile(r"SEQ=(\d+)")


def logspool_command() -> list[str]:
    """$LOGSPOOL, else `logspool` on PATH, else this interpreter running the package."""
    exe = os.environ.get("LOGSPOOL") or shutil.which("logspool")
    return [exe] if exe else [sys.executable, "-m", "agent.cli"]


def wait_until(pred: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    """Poll `pred` until it holds or `timeout` seconds pass; the last answer is returned."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"
    return json.dumps(str(v))


def write_config(path: Path, agent: dict[str, Any], sources: list[dict[str, Any]],
                 sinks: list[dict[str, Any]]) -> None:
    """Write the config in the public TOML shape: [agent], [[sources]], [[sinks]]."""
    lines = ["[agent]"] + [f"{k} = {toml_value(v)}" for k, v in agent.items()]
    for table, items in (("sources", sources), ("sinks", sinks)):
        for item in items:
            lines += ["", f"[[{table}]]"] + [f"{k} = {toml_value(v)}" for k, v in item.items()]
    path.write_text("\n".join(lines) + "\n")


class Lines:
    """Writes log lines, each with a unique SEQ token, and remembers which were written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.next = 1
        self.written: set[int] = set()

    @staticmethod
    def text(n: int) -> str:
        return f'2026-11-22T10:00:00Z host=n1 SEQ={n:06d} msg="e2e payload for the archive"'

    def write(self, count: int, path: Optional[Path] = None) -> range:
        """Append `count` complete lines (to `path`, default the log) and return their SEQs."""
        seqs = range(self.next, self.next + count)
        with open(path or self.path, "a") as fh:
            fh.write("".join(self.text(n) + "\n" for n in seqs))
        self.next += count
        self.written.update(seqs)
        return seqs


class Writer:
    """Appends bursts of lines from a thread until stopped, as a busy service would.

    `paused()` holds the writer still (a service between logrotate's prerotate and its
    reopen); `after_burst` runs under the same lock, e.g. to rotate by rename.
    """

    def __init__(self, lines: Lines, burst: int = 20, pause: float = 0.01,
                 after_burst: Optional[Callable[[], None]] = None) -> None:
        self.lines, self.burst, self.pause, self.after_burst = lines, burst, pause, after_burst
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="line-writer", daemon=True)
        self.error: Optional[BaseException] = None

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                with self.lock:
                    self.lines.write(self.burst)
                    if self.after_burst:
                        self.after_burst()
                time.sleep(self.pause)
        except BaseException as e:  # surfaced by stop(): a dead writer must fail the test
            self.error = e

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        with self.lock:
            yield

    def __enter__(self) -> "Writer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        if self.error:
            raise self.error


class Agent:
    """One site: a config, its spool, and the `logspool run` process started from it."""

    def __init__(self, workdir: Path, config: Path, spool: Path, log: Path) -> None:
        self.dir = workdir
        self.config = config
        self.spool = spool
        self.log = log
        self.output = workdir / "agent.out"
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p))

    def start(self) -> "Agent":
        with open(self.output, "ab") as out:
            out.write(f"---- logspool run started {time.strftime('%H:%M:%S')} ----\n".encode())
            out.flush()
            self.proc = subprocess.Popen([*logspool_command(), "run", "--config", str(self.config)],
                                         cwd=self.dir, stdout=out, stderr=subprocess.STDOUT,
                                         env=self.env, start_new_session=True)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        """SIGKILL the whole process group, as a crash or the OOM killer would."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()

    def term(self, timeout: float = 15) -> int:
        """SIGTERM and wait for the exit; an agent that ignores it is a failure."""
        assert self.proc is not None
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill9()
                raise AssertionError(f"logspool run did not exit within {timeout}s of SIGTERM")
        return self.proc.returncode

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run another verb against this site's config: `logspool <args> --config <cfg>`."""
        return subprocess.run([*logspool_command(), *args, "--config", str(self.config)],
                              cwd=self.dir, capture_output=True, text=True, timeout=timeout, env=self.env)

    def status(self) -> dict[str, Any]:
        """`status --json`; right after start() the daemon may not have made its spool yet (a slow
        start on a busy machine), so that one answer is waited out while the process lives."""
        r = self.cli("status", "--json")
        end = time.monotonic() + 15
        while r.returncode != 0 and "no spool at" in r.stderr and self.alive() and time.monotonic() < end:
            time.sleep(0.1)
            r = self.cli("status", "--json")
        assert r.returncode == 0, f"logspool status --json exited {r.returncode}: {r.stderr[-2000:]}"
        status: dict[str, Any] = json.loads(r.stdout)
        return status

    def output_tail(self, chars: int = 6000) -> str:
        try:
            return self.output.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return "(no output)"


def seqs_by_id(rx: HttpReceiver) -> tuple[dict[int, list[str]], list[str]]:
    """SEQ -> the record ids that carried it, and the ids of records without a SEQ."""
    by_seq: dict[int, list[str]] = defaultdict(list)
    strays = []
    for rid, rec in rx.records().items():
        m = SEQ.search(str((rec.get("data") or {}).get("message", "")))
        if m:
            by_seq[int(m.group(1))].append(rid)
        else:
            strays.append(rid)
    return by_seq, strays


def delivery_report(rx: HttpReceiver, expected: set[int]) -> str:
    """'' when every expected line arrived under exactly one id and nothing else arrived."""
    by_seq, strays = seqs_by_id(rx)
    missing = sorted(expected - by_seq.keys())
    unexpected = sorted(by_seq.keys() - expected)
    split = {s: ids for s, ids in by_seq.items() if len(ids) > 1}
    problems = []
    if missing:
        problems.append(f"{len(missing)} of {len(expected)} lines missing, first SEQs {missing[:10]}")
    if unexpected:
        problems.append(f"{len(unexpected)} SEQs never written arrived: {unexpected[:10]}")
    if split:
        first = dict(sorted(split.items())[:3])
        problems.append(f"{len(split)} lines arrived under several ids, e.g. {first}")
    if strays:
        problems.append(f"{len(strays)} records without a SEQ arrived, e.g. {strays[:3]}")
    return "; ".join(problems)


def wait_delivered(rx: HttpReceiver, expected: set[int], timeout: float = 30) -> str:
    """Wait until as many ids as lines arrived (or timeout), then report the differences."""
    wait_until(lambda: len(rx.unique_ids()) >= len(expected), timeout, step=0.1)
    return delivery_report(rx, expected)


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    rx = HttpReceiver()
    yield rx
    rx.stop()


@pytest.fixture
def make_agent(tmp_path: Path, receiver: HttpReceiver,
               request: pytest.FixtureRequest) -> Iterator[Callable[..., Agent]]:
    """Build a site in tmp_path: config (poll 100ms, retry 100ms..1s) routing app.log* to the receiver."""
    made: list[Agent] = []
    request.node._logspool_agents = made

    def make(sink: Optional[dict[str, Any]] = None, source: Optional[dict[str, Any]] = None,
             agent: Optional[dict[str, Any]] = None, name: str = "agent.toml") -> Agent:
        cfg, spool = tmp_path / name, tmp_path / "spool.db"
        write_config(
            cfg,
            {"spool": str(spool), "host": "e2e-host", "log_level": "info", "poll_interval": "100ms",
             **(agent or {})},
            [{"name": "app", "type": "file", "paths": [str(tmp_path / "app.log*")], "format": "lines",
              "sinks": ["rx"], **(source or {})}],
            [{"name": "rx", "type": "http", "url": receiver.url,
              "retry": {"initial": "100ms", "max": "1s"}, **(sink or {})}])
        site = Agent(tmp_path, cfg, spool, tmp_path / "app.log")
        made.append(site)
        return site

    yield make
    for site in made:
        site.kill9()


@pytest.fixture
def agent(make_agent: Callable[..., Agent]) -> Agent:
    """The default site, not started yet."""
    return make_agent()


@pytest.fixture
def lines(tmp_path: Path) -> Lines:
    return Lines(tmp_path / "app.log")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Show the tail of every agent's output under a failed test."""
    outcome: Any = yield
    report = outcome.get_result()
    if report.failed:
        for i, site in enumerate(getattr(item, "_logspool_agents", [])):
            state = "running" if site.alive() else f"exited {site.proc.returncode}" if site.proc else "never started"
            report.sections.append((f"logspool run #{i}, {state}: output tail", site.output_tail()))
