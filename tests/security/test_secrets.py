"""A known secret, configured in every credential slot, never leaves its config or key file.

One site holds the secret as an http token (inline) and header (env:), a LavaFlow key
(file:), an esmond key (env:), a perfSONAR password (inline) and two SQL passwords
(password_file against MariaDB, env: against PostgreSQL). The endpoint echoes every request's
headers back in its answer, so each failure path (401, a 400 that dead-letters records, an
unreachable endpoint, a wrong database password, a bad config) is handed the secret by the
far end too. Every verb's stdout and stderr, the daemon's log, `status`/`--json`, the dead
letters, every file the agent wrote (spool, -wal, exports) and the command line of every
process of each verb's tree are then searched for it.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.e2e.conftest import REPO, Agent, logspool_command, wait_until, write_config
from tests.security.leaks import SECRET, ArgvWatch, EchoServer, closed_port, file_leaks, leaks

pytestmark = pytest.mark.e2e

SAMPLES = REPO / "tests" / "parsers" / "samples"
ACCT = SAMPLES / "openlava-acct" / "xdmod_lsf9_accounting-logs.log"
GRIDFTP = SAMPLES / "gridftp" / "esmond-docs-lbl-diskpt1-transfer-retrans.log"
FAST = {"retry": {"initial": "100ms", "max": "300ms"}}


class Site:
    """The config, its key files, and every verb run against it, with what each printed."""

    def __init__(self, tmp_path: Path, echo: EchoServer) -> None:
        self.dir = tmp_path
        self.config = tmp_path / "agent.toml"
        self.key_files = [tmp_path / "lava.key", tmp_path / "db.password"]
        for path in self.key_files:
            path.write_text(SECRET + "\n")
        write_config(
            self.config,
            {"spool": str(tmp_path / "spool.db"), "host": "sec-host", "log_level": "debug",
             "poll_interval": "100ms"},
            [{"name": "app", "type": "file", "paths": [str(tmp_path / "app.log*")], "format": "lines",
              "sinks": ["rx", "down"]}],
            [{"name": "rx", "type": "http", "url": echo.url + "/ingest", "token": SECRET,
              "headers": {"X-Api-Key": "env:LS_SECRET"}, **FAST},
             {"name": "down", "type": "http", "url": f"http://127.0.0.1:{closed_port()}/ingest",
              "token": "env:LS_SECRET", **FAST},
             {"name": "lava", "type": "lavaflow", "url": echo.url + "/lavaflow", "key": "file:lava.key",
              "cluster": "hpc1", **FAST},
             {"name": "esm", "type": "esmond", "url": echo.url, "key": "env:LS_SECRET",
              "measurement_agent": "127.0.0.1", **FAST},
             {"name": "ps", "type": "perfsonar", "url": echo.url + "/logstash", "username": "perfsonar",
              "password": SECRET, **FAST},
             {"name": "db", "type": "sql", "url": "mysql://root@127.0.0.1:3306/mysql",
              "password_file": "db.password", **FAST},
             {"name": "pg", "type": "sql", "url": "postgresql://postgres@127.0.0.1:5432/postgres",
              "password": "env:LS_SECRET", **FAST}])
        self.agent = Agent(tmp_path, self.config, tmp_path / "spool.db", tmp_path / "app.log")
        self.agent.env["LS_SECRET"] = SECRET
        self.texts: list[tuple[str, str]] = []
        self.argv: dict[int, str] = {}
        self.live_file_leaks: list[str] = []

    def cli(self, *args: str, stdin: str = "", timeout: float = 60, config: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a verb, watching its process tree's command lines while it runs."""
        cmd = [*logspool_command(), *args, *(["--config", str(self.config)] if config else [])]
        proc = subprocess.Popen(cmd, cwd=self.dir, env=self.agent.env, text=True, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        watch = ArgvWatch(proc.pid)
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        finally:
            proc.kill()
            self.argv.update(watch.stop())
        label = " ".join(args)
        self.texts += [(f"{label}: stdout", out), (f"{label}: stderr", err)]
        return subprocess.CompletedProcess(cmd, proc.returncode, out, err)

    def status(self) -> str:
        text = self.cli("status").stdout
        self.cli("status", "--json")
        return text

    def run(self, until: Callable[[], bool], timeout: float = 30) -> None:
        """`logspool run` until `until` holds, its process tree watched; then SIGTERM."""
        runs = self.agent.output.read_text().count("info Started.") if self.agent.output.exists() else 0
        self.agent.start()
        assert self.agent.proc is not None
        watch = ArgvWatch(self.agent.proc.pid)
        try:
            assert wait_until(lambda: self.agent.output.read_text().count("info Started.") > runs, 20), \
                self.agent.output_tail()
            assert wait_until(until, timeout, step=0.2), self.agent.output_tail()
            # The -wal and -shm exist only while the spool is open: read them before the daemon stops.
            self.live_file_leaks += file_leaks(self.dir, [self.config, *self.key_files])
        finally:
            self.argv.update(watch.stop())
            assert self.agent.term() == 0, self.agent.output_tail()


@pytest.fixture
def echo() -> Any:
    server = EchoServer()
    yield server
    server.stop()


def _write_lines(path: Path, start: int, count: int) -> None:
    with open(path, "a") as f:
        f.writelines(f"line SEQ={n} of the secret test\n" for n in range(start, start + count))


def test_no_verb_and_no_failure_path_shows_the_secret(tmp_path: Path, echo: EchoServer) -> None:
    site = Site(tmp_path, echo)
    assert site.cli("check-config").returncode == 0

    # 401 with the credentials echoed back: the http sink stops; the unreachable one retries.
    echo.status = 401
    _write_lines(tmp_path / "app.log", 0, 30)
    site.run(lambda: all(w in site.agent.output.read_text() for w in ("HTTP 401", "sink=down")))
    site.status()
    assert echo.got_secret()  # the secret really went out, and came back in the answers

    # 400: the endpoint refuses every record, the drain bisects them into dead letters.
    echo.status = 400
    _write_lines(tmp_path / "app.log", 30, 5)
    site.run(lambda: site.agent.output.read_text().count("kept in dead_letters") >= 5)
    assert site.cli("dead-letters", "list", "--sink", "rx").stdout.count("\n") >= 5
    site.cli("dead-letters", "list", "--json")
    site.status()

    # Accepted at last: replay the refused records, deliver everything, feed a pipe and a prerotate.
    echo.status = 200
    assert site.cli("dead-letters", "replay", "--sink", "rx").returncode == 0
    _write_lines(tmp_path / "app.log", 35, 5)
    assert site.cli("prerotate", str(tmp_path / "app.log")).returncode == 0
    done = site.cli("pipe", "--format", "lines", "--sink", "rx", "--wait", stdin="piped SEQ=1000\n")
    assert done.returncode == 0, done.stderr
    site.run(lambda: sum(b.count(b"\n") for b in echo.bodies) >= 41)
    site.status()
    site.cli("parse", str(tmp_path / "app.log"), "--format", "lines")

    # Every other sink type answered 401 with its credentials echoed: each stops, names why.
    echo.status = 401
    for sink, fmt, sample in (("lava", "openlava-acct", ACCT), ("esm", "gridftp", GRIDFTP), ("ps", "gridftp", GRIDFTP)):
        done = site.cli("backfill", str(sample), "--format", fmt, "--sink", sink, "--dont-write", timeout=60)
        assert done.returncode != 0 and "401" in done.stderr, (sink, done.stderr[-2000:])
    # A pipe whose sink refuses the credentials.
    site.cli("pipe", "--format", "lines", "--sink", "rx", "--wait", stdin="piped SEQ=2000\n", timeout=60)

    # Wrong passwords against the real servers (PostgreSQL trusts, so name a role that does not exist).
    assert site.cli("sql", "migrate", "--sink", "db").returncode == 1
    site.config.write_text(site.config.read_text().replace("postgresql://postgres@", "postgresql://no_such_role@"))
    assert site.cli("sql", "migrate", "--sink", "pg").returncode == 1
    site.status()
    assert site.cli("dead-letters", "purge").returncode == 0

    # Not vacuous: the echoed credentials did reach the dead letters, the log and the verbs' output,
    # masked; and each sink type's refusal was quoted.
    dead = "".join(text for label, text in site.texts if label.startswith("dead-letters list"))
    assert "Bearer ***" in dead, dead[-1500:]
    run_log = site.agent.output.read_text()
    assert "Bearer ***" in run_log
    quoted = "".join(text for label, text in site.texts if label.startswith("backfill"))
    assert quoted.count("***") >= 3, quoted[-3000:]
    problems = leaks(site.texts + [("logspool run output", run_log)])
    problems += [f"argv of pid {pid}: {line}" for pid, line in site.argv.items() if SECRET in line]
    problems += file_leaks(tmp_path, [site.config, *site.key_files]) + site.live_file_leaks
    assert problems == []
    assert any("spool.db" in line or "logspool" in line for line in site.argv.values())  # the watch saw the trees


def test_a_broken_config_or_a_crash_does_not_quote_the_secret(tmp_path: Path, echo: EchoServer) -> None:
    site = Site(tmp_path, echo)
    good = site.config.read_text()
    bad = (good.replace(f'token = "{SECRET}"', f'token = "{SECRET}\\u0001"')
               .replace('url = "mysql://root@', f'url = "mysql://root:{SECRET}@')
               .replace("{ X-Api-Key = ", '{ "X Api Key" = ')
               .replace(f'password = "{SECRET}"', f'password = ["{SECRET}"]'))
    site.config.write_text(bad)
    for verb in (("check-config",), ("run",), ("status", "--json"), ("sql", "migrate", "--sink", "db")):
        done = site.cli(*verb)
        assert done.returncode == 2, (verb, done.stderr)
    assert "[sinks.rx] token" in site.texts[1][1] and "[sinks.db] url" in site.texts[1][1], site.texts[1][1]

    # A spool that cannot be opened (a directory in its place): the verbs fail with their reason.
    site.config.write_text(good.replace(str(tmp_path / "spool.db"), str(tmp_path)))
    for verb in (("run", "--once"), ("status",), ("prerotate", str(tmp_path / "app.log"))):
        assert site.cli(*verb).returncode != 0, verb
    problems = leaks(site.texts) + [f"argv {p}: {line}" for p, line in site.argv.items() if SECRET in line]
    problems += file_leaks(tmp_path, [site.config, *site.key_files])
    assert problems == []
