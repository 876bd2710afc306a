"""A private MariaDB or PostgreSQL server of a test's own, so the test may SIGKILL it and start it again.

The shared servers of tests/sql_servers.py serve every test at once: killing one would fail
the others. A test that proves "the database died mid-run and nothing was lost" starts its own
server from the Debian packages' binaries (`mariadbd` + `mariadb-install-db`, PostgreSQL's
`initdb` + `postgres`) on a free port in a temporary directory, kills the server's whole process
group with SIGKILL (no shutdown, no flush: crash recovery on the next start), and starts it
again on the same port and data directory. Start-up takes about a second for each.

PostgreSQL refuses to run as root: when the tests run as root the server runs as the `postgres`
user the package creates (via setpriv), in a directory handed to that user.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

import psycopg
import pymysql  # type: ignore[import-untyped]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _binary(*patterns: str) -> Optional[str]:
    for pattern in patterns:
        found = sorted(glob.glob(pattern))
        if found:
            return found[-1]
        on_path = shutil.which(pattern)
        if on_path:
            return on_path
    return None


class DbServer:
    """One server in a directory of its own: init() once, then start() / kill9() as often as the
    test likes, close() at the end. The directory is a fresh one under the system's temporary
    directory, not under pytest's tmp_path, whose parents are private to root and so closed to
    the `postgres` user."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.dir = Path(tempfile.mkdtemp(prefix=f"logspool-{dialect}-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.log = self.dir / "server.log"
        self._as: list[str] = []

    @property
    def url(self) -> str:
        """The sink's URL for database `logspool` (root / postgres, no password)."""
        if self.dialect == "mysql":
            return f"mysql://root@127.0.0.1:{self.port}/logspool"
        return f"postgresql://postgres@127.0.0.1:{self.port}/logspool"

    def init(self) -> "DbServer":
        if self.dialect == "mysql":
            install = _binary("/usr/bin/mariadb-install-db", "mariadb-install-db", "mysql_install_db")
            assert install, "mariadb-install-db not found: .ci/run installs mariadb-server"
            self._run([install, "--no-defaults", f"--datadir={self.data}", "--user=root",
                       "--auth-root-authentication-method=normal", "--skip-test-db"])
        else:
            initdb = _binary("/usr/lib/postgresql/*/bin/initdb", "initdb")
            assert initdb, "initdb not found: .ci/run installs postgresql"
            if os.geteuid() == 0:
                user = pwd.getpwnam("postgres")
                os.chown(self.dir, user.pw_uid, user.pw_gid)
                # setpriv execs (runuser forks and waits), so the server is our child and kill9's wait reaps it
                self._as = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", "--"]
            self._run([*self._as, initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"])
        self.start()
        self.admin("CREATE DATABASE logspool")
        return self

    def _run(self, command: list[str]) -> None:
        r = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"{command[0]} exited {r.returncode}: {r.stderr[-2000:]}"

    def start(self, timeout: float = 60) -> None:
        assert self.proc is None or self.proc.poll() is not None, "the server is running"
        if self.dialect == "mysql":
            mariadbd = _binary("/usr/sbin/mariadbd", "mariadbd", "/usr/sbin/mysqld")
            assert mariadbd
            command = [mariadbd, "--no-defaults", f"--datadir={self.data}", "--user=root",
                       f"--port={self.port}", "--bind-address=127.0.0.1", f"--socket={self.dir}/mysqld.sock",
                       f"--pid-file={self.dir}/mysqld.pid", "--innodb-buffer-pool-size=64M"]
        else:
            postgres = _binary("/usr/lib/postgresql/*/bin/postgres", "postgres")
            assert postgres
            command = [*self._as, postgres, "-D", str(self.data), "-p", str(self.port), "-h", "127.0.0.1",
                       "-k", str(self.dir)]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"the {self.dialect} server exited {self.proc.returncode}: {self.tail()}")
            try:
                self.admin("SELECT 1")
                return
            except (pymysql.err.Error, psycopg.Error, OSError):
                time.sleep(0.1)
        raise AssertionError(f"the {self.dialect} server did not accept connections in {timeout}s: {self.tail()}")

    def kill9(self) -> None:
        """SIGKILL the server and all its processes at once, as a crash or the OOM killer would."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
            end = time.monotonic() + 30  # the server's children, reparented, die a moment later
            while time.monotonic() < end:
                try:
                    os.killpg(self.proc.pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)

    def admin(self, sql: str) -> list[tuple[object, ...]]:
        return self.query(sql, database=None)

    def query(self, sql: str, database: Optional[str] = "logspool") -> list[tuple[object, ...]]:
        if self.dialect == "mysql":
            conn = pymysql.connect(host="127.0.0.1", port=self.port, user="root", password="", database=database,
                                   autocommit=True, connect_timeout=2, init_command="SET time_zone = '+00:00'")
        else:
            conn = psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=database or "postgres",
                                   autocommit=True, connect_timeout=2, options="-c timezone=UTC")
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return list(cur.fetchall()) if cur.description else []
        finally:
            conn.close()

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return "(no server log)"

    def close(self) -> None:
        self.kill9()
        shutil.rmtree(self.dir, ignore_errors=True)
