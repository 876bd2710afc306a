"""The MariaDB driver's own SQL literals: byte for byte what PyMySQL's escape gives, and what the
real server reads back as the values written, in both backslash modes."""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterator

import pymysql  # type: ignore[import-untyped]
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.sinks.sql.drivers import literals
from tests.sql_servers import Database, mysql_db  # noqa: F401 - fixture

VALUES = st.one_of(
    st.none(), st.integers(min_value=-(2 ** 63), max_value=2 ** 63 - 1),
    st.text(), st.text(alphabet="ab'\"\\\x00\n\r\x1a%_é\u2028"),
    st.datetimes(min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(2037, 12, 31)),
    st.floats(allow_nan=False, allow_infinity=False))
ROWS = st.lists(st.tuples(VALUES, VALUES, VALUES), min_size=1, max_size=5)


def pymysql_literals(rows: list[tuple[Any, ...]], escape: Any) -> str:
    return ",".join("(" + ",".join("NULL" if v is None else escape(v) for v in row) + ")" for row in rows)


@pytest.fixture(params=["", "NO_BACKSLASH_ESCAPES"])
def connection(request: pytest.FixtureRequest, mysql_db: Database) -> Iterator[Any]:
    conn = mysql_db.connect(mysql_db.name)
    with conn.cursor() as cur:
        cur.execute(f"SET SESSION sql_mode = '{request.param}'")
        cur.execute("SELECT 1")  # the server reports the mode in its status flags, which escape() follows
    assert bool(conn.server_status & pymysql.constants.SERVER_STATUS.SERVER_STATUS_NO_BACKSLASH_ESCAPES) == \
        bool(request.param)
    yield conn
    conn.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=ROWS)
def test_literals_are_pymysqls_byte_for_byte(connection: Any, rows: list[tuple[Any, ...]]) -> None:
    assert literals(rows, connection.escape) == pymysql_literals(rows, connection.escape)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(alphabet=st.characters(blacklist_categories=["Cs"])), min_size=1, max_size=8))
def test_the_server_reads_back_every_string_written(connection: Any, texts: list[str]) -> None:
    with connection.cursor() as cur:
        cur.execute("CREATE TEMPORARY TABLE IF NOT EXISTS t (i INTEGER, s LONGTEXT, d DATETIME(6)) "
                    "CHARACTER SET utf8mb4")
        cur.execute("DELETE FROM t")
        when = dt.datetime(2023, 4, 27, 7, 22, 57, 622180)
        cur.execute("INSERT INTO t VALUES " + literals([(i, s, when) for i, s in enumerate(texts)], connection.escape))
        cur.execute("SELECT i, s, d FROM t ORDER BY i")
        assert list(cur.fetchall()) == [(i, s, when) for i, s in enumerate(texts)]
