"""Lmod tracking lines through the real `logspool run` into real MariaDB and PostgreSQL.

What issue 5 promises an operator, shown from outside the process: the database server dies
(SIGKILL, crash recovery on restart) while lines keep arriving and nothing is lost or stored
twice; a collector file rotated by the real logrotate with copytruncate, and the rotated copy
ingested again by `compat lmod-ingest`, leave exactly one row per load.
"""
from __future__ import annotations

import shlex
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.db_instance import DbServer
from tests.e2e.conftest import Agent, logspool_command, wait_until
from tests.sql_servers import Database, sql_db  # noqa: F401 - fixture

pytestmark = pytest.mark.e2e

LOGROTATE = "/usr/sbin/logrotate"
BASE = 1_700_000_000


class LmodLines:
    """Lmod tracking lines as rsyslog writes them; line n has jobid n and time BASE + n, so each is
    its own (time, host, user, module) and the rows map back to the lines by jobid."""

    def __init__(self, path: Path) -> None:
        self.path, self.next, self.written = path, 1, set[int]()

    def write(self, count: int) -> None:
        with open(self.path, "a") as fh:
            for n in range(self.next, self.next + count):
                stamp = time.strftime("%b %e %H:%M:%S", time.gmtime(BASE + n))
                fh.write(f"{stamp} node{n % 5} ModuleUsageTracking: user=user{n % 50} jobid={n} "
                         f"module=gcc/{n % 7}.1 path=/software/gcc/{n % 7}.1.lua host=node{n % 5}.example.edu "
                         f"time={BASE + n}.000001\n")
                self.written.add(n)
        self.next += count


def stored(query: Callable[[str], list[tuple[Any, ...]]]) -> tuple[int, set[int]]:
    """(rows in log_data, distinct jobids among them)."""
    try:
        rows = query("SELECT jobid FROM log_data")
    except Exception:  # the table is not there yet, or the server is down
        return 0, set()
    return len(rows), {int(r[0]) for r in rows}


def report(rows: int, jobids: set[int], written: set[int]) -> str:
    problems = []
    if jobids != written:
        problems.append(f"{len(written - jobids)} lines missing (first {sorted(written - jobids)[:5]}), "
                        f"{len(jobids - written)} never written")
    if rows != len(jobids):
        problems.append(f"{rows - len(jobids)} duplicate rows")
    return "; ".join(problems)


@pytest.fixture(params=["mysql", "postgresql"])
def server(request: pytest.FixtureRequest) -> Iterator[DbServer]:
    db = DbServer(request.param).init()
    yield db
    db.close()


def lmod_site(make_agent: Callable[..., Agent], url: str) -> Agent:
    return make_agent(
        source={"name": "lmod", "format": "lmod", "sinks": ["db"]},
        sink={"name": "db", "type": "sql", "url": url, "profile": "lmod_tracking", "timeout": "2s",
              "batch_records": 200, "retry": {"initial": "100ms", "max": "500ms"}})


def test_the_database_killed_mid_run_and_restarted_loses_and_duplicates_nothing(
        server: DbServer, make_agent: Callable[..., Agent], tmp_path: Path) -> None:
    site = lmod_site(make_agent, server.url)
    lines = LmodLines(site.log)
    lines.write(500)
    site.start()
    assert wait_until(lambda: stored(server.query)[0] >= 500, 30), site.output_tail()
    for _ in range(2):
        lines.write(300)
        time.sleep(0.3)  # the agent is reading and inserting these
        server.kill9()
        lines.write(700)  # arrives while the database is gone: spooled
        time.sleep(1.5)   # several failed attempts
        assert site.alive(), site.output_tail()
        server.start()
        assert wait_until(lambda: stored(server.query)[0] >= len(lines.written), 40), \
            f"{stored(server.query)[0]} of {len(lines.written)} rows; {site.output_tail()}"
    time.sleep(0.5)  # a late duplicate would show now
    rows, jobids = stored(server.query)
    assert report(rows, jobids, lines.written) == ""
    assert site.term() == 0
    log = site.output.read_text(errors="replace")
    assert log.count("Delivery failed; will retry. sink=db") >= 1, log[-3000:]  # rate-limited to one in 10 s
    assert log.count("Delivery recovered. sink=db") == 2, log[-3000:]


def test_copytruncate_rotation_and_reingest_of_the_rotated_copy_store_each_load_once(
        sql_db: Database, make_agent: Callable[..., Agent], tmp_path: Path) -> None:
    site = lmod_site(make_agent, sql_db.url)
    lines = LmodLines(site.log)
    lines.write(400)
    site.start()
    hook = shlex.join([*logspool_command(), "prerotate", str(site.log), "--config", str(site.config)])
    conf = tmp_path / "logrotate.conf"
    conf.write_text(f"{site.log} {{\n  rotate 4\n  copytruncate\n  sharedscripts\n  prerotate\n    {hook}\n"
                    f"  endscript\n}}\n")
    for _ in range(3):
        r = subprocess.run([LOGROTATE, "-f", "-s", str(tmp_path / "logrotate.state"), str(conf)],
                           capture_output=True, text=True, timeout=60, env=site.env)
        assert r.returncode == 0, f"logrotate exited {r.returncode}: {r.stderr}"
        lines.write(250)
    query = sql_db.query
    assert wait_until(lambda: stored(query)[0] >= len(lines.written), 40), site.output_tail()
    time.sleep(0.5)
    assert report(*stored(query), lines.written) == ""
    assert sorted(p.name for p in tmp_path.glob("app.log*")) == ["app.log", "app.log.1", "app.log.2", "app.log.3"]
    assert site.term() == 0

    # the lmod_tracking cron job style, switched to logspool: ingest the oldest rotated copy again
    env = dict(site.env, DB_USER=sql_db.admin.username, DB_PASS="", DB_HOST=sql_db.admin.hostname,
               DB_PORT=str(sql_db.admin.port), DB_NAME=sql_db.name)
    for copy in ("app.log.3", "app.log.1", "app.log"):
        r = subprocess.run([*logspool_command(), "compat", "lmod-ingest", str(tmp_path / copy),
                            "--database", "mysql" if sql_db.dialect == "mysql" else "postgresql"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=120, env=env)
        assert r.returncode == 0, f"lmod-ingest {copy} exited {r.returncode}: {r.stderr[-2000:]}"
    assert report(*stored(query), lines.written) == ""
