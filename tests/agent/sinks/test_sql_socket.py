"""The sql sink over a unix socket, as head nodes often reach a local database: a private server
(tests/db_instance.py) listens on a socket in its own directory."""
from __future__ import annotations

from typing import Iterator

import pytest

from agent.sinks.base import Delivered
from agent.sinks.sql import Config, SqlSink
from tests.agent.sinks.test_sql import LOADS, lmod_lines, send
from tests.db_instance import DbServer


@pytest.fixture(params=["mysql", "postgresql"])
def server(request: pytest.FixtureRequest) -> Iterator[DbServer]:
    db = DbServer(request.param).init()
    yield db
    db.close()


def test_loads_arrive_over_the_servers_unix_socket(server: DbServer) -> None:
    if server.dialect == "mysql":
        url = f"mysql://root@localhost/logspool?unix_socket={server.dir}/mysqld.sock"
    else:
        url = f"postgresql://postgres@/logspool?host={server.dir}&port={server.port}"  # the socket is named by port
    sink = SqlSink(Config(name="db", type="sql", url=url, profile="lmod_tracking", timeout="5s"))
    assert send(sink, lmod_lines()) == Delivered()
    sink.close()
    assert server.query("SELECT COUNT(*) FROM log_data") == [(len(LOADS),)]
    server.kill9()  # the socket file stays behind with nobody listening: a server down, retried
    sink = SqlSink(Config(name="db", type="sql", url=url, profile="lmod_tracking", timeout="2s"))
    assert type(send(sink, lmod_lines())).__name__ == "Retry"
    sink.close()
