"""A fresh database per test on the machine's real MariaDB and PostgreSQL, dropped after it.

Defaults are what the development machines and CI (.ci/run) run: MariaDB on
127.0.0.1:3306 as root without a password, PostgreSQL on 127.0.0.1:5432 as postgres with
trust authentication. Override with LOGSPOOL_TEST_MYSQL_URL / LOGSPOOL_TEST_PG_URL (an
admin URL: mysql://user:pass@host:port/ or postgresql://user:pass@host:port/postgres).
"""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import Any, Generator, Iterator
from urllib.parse import urlsplit

import psycopg
import pymysql  # type: ignore[import-untyped]
import pytest

MYSQL_URL = os.environ.get("LOGSPOOL_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/")
PG_URL = os.environ.get("LOGSPOOL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass
class Database:
    """One throwaway database: `url` for the sink (no password), `query` to look at it as admin."""

    dialect: str
    name: str
    admin: Any  # urlsplit of the admin URL

    @property
    def url(self) -> str:
        scheme = "mysql" if self.dialect == "mysql" else "postgresql"
        return f"{scheme}://{self.admin.username}@{self.admin.hostname}:{self.admin.port}/{self.name}"

    @property
    def password(self) -> str:
        return self.admin.password or ""

    def connect(self, database: str | None = None) -> Any:
        a = self.admin
        if self.dialect == "mysql":
            return pymysql.connect(host=a.hostname, port=a.port or 3306, user=a.username, password=a.password or "",
                                   database=database, autocommit=True, charset="utf8mb4",
                                   init_command="SET time_zone = '+00:00'")
        return psycopg.connect(host=a.hostname, port=a.port or 5432, user=a.username, password=a.password,
                               dbname=database or a.path.lstrip("/") or "postgres", autocommit=True,
                               options="-c timezone=UTC")

    def query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        conn = self.connect(self.name)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall()) if cur.description else []
        finally:
            conn.close()

    def execute_admin(self, sql: str, params: Any = None) -> None:
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
        finally:
            conn.close()

    def kill(self, session_id: int) -> None:
        """End one server session, as an operator or a server restart would."""
        if self.dialect == "mysql":
            self.execute_admin(f"KILL {int(session_id)}")
        else:
            self.execute_admin("SELECT pg_terminate_backend(%s)", (session_id,))


def _make(dialect: str) -> Generator[Database, None, None]:
    admin = urlsplit(MYSQL_URL if dialect == "mysql" else PG_URL)
    db = Database(dialect, f"logspool_test_{uuid.uuid4().hex[:12]}", admin)
    try:
        db.execute_admin(f"CREATE DATABASE {db.name}")
    except (pymysql.err.Error, psycopg.Error) as exc:
        pytest.fail(f"no {dialect} server for the tests ({exc}); .ci/run installs and starts one")
    try:
        yield db
    finally:
        if dialect == "mysql":
            db.execute_admin(f"DROP DATABASE IF EXISTS {db.name}")
        else:
            db.execute_admin(f"DROP DATABASE IF EXISTS {db.name} WITH (FORCE)")


@pytest.fixture
def mysql_db() -> Iterator[Database]:
    yield from _make("mysql")


@pytest.fixture
def pg_db() -> Iterator[Database]:
    yield from _make("postgresql")


@pytest.fixture(params=["mysql", "postgresql"])
def sql_db(request: pytest.FixtureRequest) -> Iterator[Database]:
    yield from _make(request.param)


class Gate:
    """A TCP forwarder in front of a database server that can be shut, as a network outage or a
    server restart looks to a client: while shut, every connection is closed at once and the
    open ones are cut."""

    def __init__(self, host: str, port: int) -> None:
        import socket
        import threading
        self._upstream = (host, port)
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._open = True
        self._live: list[Any] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if not self._open:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self._upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._live += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: Any, dst: Any) -> None:
        import socket
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def shut(self) -> None:
        import socket
        self._open = False
        with self._lock:
            live, self._live = self._live, []
        for s in live:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass

    def reopen(self) -> None:
        self._open = True

    def close(self) -> None:
        self.shut()
        self._server.close()


def make_database(dialect: str) -> tuple[Database, Any]:
    """A fresh database outside a fixture: (database, a callable that drops it)."""
    gen = _make(dialect)
    return next(gen), gen.close
