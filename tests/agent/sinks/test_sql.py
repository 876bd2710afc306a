"""The sql sink against the machine's real MariaDB and PostgreSQL (tests/sql_servers.py); no mock."""
from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any, Optional

import orjson
import pytest

from agent.backoff import Backoff
from agent.drain import Drain
from agent.sinks.base import Batch, Delivered, Misconfigured, Reject, Retry
from agent.sinks.sql import Config, SqlSink
from spool import Spool, chunks, dead_letters
from tests.sql_servers import Database, mysql_db, pg_db, sql_db  # noqa: F401 - fixtures

LOADS = [  # user, jobid, module, path, host, time
    ("usr123", None, "gcc/5.4.0", "/modules/gcc/5.4.0.lua", "node1.domain.com", 1682580177.622180),
    ("user1", "1", "gcc/8.2.0", "/software/gcc/8.2.0.lua", "gpu-n53.crc.pitt.edu", 1682407234.086799),
    ("user2", "nil", "openmpi", "/software/gcc/openmpi/4.0.3.lua", "smp-n10.crc.pitt.edu", 1682407234.103664),
    ("user1", "1", "gcc/8.2.0", "/software/gcc/8.2.0.lua", "gpu-n53.crc.pitt.edu", 1682407299.000001),
    ("user3", "77", "gcc/8.2.0", "/software/gcc/8.2.0.lua", "gpu-n54.crc.pitt.edu", 1682407300.5),
    ("user3", "77", "python/3.11/base", "/software/python/3.11.lua", "gpu-n54.crc.pitt.edu", 1682407301.25),
    ("user4", "123_4", "gcc/5.4.0", "/modules/gcc/5.4.0.lua", "node2.domain.com", 1682407302.0),
]


def lmod_line(i: int, user: str, jobid: Optional[str], module: str, path: str, host: str, time: float,
              source: str = "lmod") -> bytes:
    package, _, version = module.partition("/")
    data = {"user": user, "module": module, "package": package, "version": version or None, "path": path,
            "host": host, "time": time, "jobid": None if jobid in (None, "nil") else jobid}
    return orjson.dumps({"id": f"{source}:fp:{i * 100}:0000{i:04x}", "source": source, "format": "lmod",
                         "time": time, "host": "collector", "cluster": None, "type": "load", "data": data}) + b"\n"


def lmod_lines(loads: list[tuple[Any, ...]] = LOADS, start: int = 0) -> list[bytes]:
    return [lmod_line(start + i, *load) for i, load in enumerate(loads)]


def sink_for(db: Database, profile: str = "lmod_tracking", **extra: Any) -> SqlSink:
    config = Config(name="db", type="sql", url=db.url, profile=profile, timeout="5s", **extra)
    return SqlSink(config)


def send(sink: SqlSink, lines: list[bytes]) -> Any:
    return sink.send(sink.encode(Batch(lines)))


def test_lmod_loads_land_in_log_data_with_their_values(sql_db: Database) -> None:
    sink = sink_for(sql_db)
    assert send(sink, lmod_lines()) == Delivered()
    sink.close()
    rows = sql_db.query('SELECT logname, time, host, "user", module, path, package, version, jobid FROM log_data '
                        "ORDER BY id" if sql_db.dialect == "postgresql" else
                        "SELECT logname, time, host, user, module, path, package, version, jobid FROM log_data "
                        "ORDER BY id")
    assert len(rows) == len(LOADS)
    first = rows[0]
    assert first == ("lmod", dt.datetime(2023, 4, 27, 7, 22, 57, 622180), "node1.domain.com", "usr123",
                     "gcc/5.4.0", "/modules/gcc/5.4.0.lua", "gcc", "5.4.0", None)
    assert rows[1][8] == 1 and rows[2][6:] == ("openmpi", None, None)
    assert rows[5][6:8] == ("python", "3.11/base")
    assert rows[6][8] is None  # "123_4" is not an integer: NULL
    assert rows[3][1] == dt.datetime(2023, 4, 25, 7, 21, 39, 1)


def test_the_same_batch_twice_inserts_nothing_twice(sql_db: Database) -> None:
    sink = sink_for(sql_db)
    assert send(sink, lmod_lines()) == Delivered()
    assert send(sink, lmod_lines()) == Delivered()
    # a copytruncated rotation re-read under other record ids and another source name: same key, no new row
    assert send(sink, lmod_lines(start=1000)) == Delivered()
    assert send(sink_for(sql_db), [lmod_line(5000 + i, *load, source="lmod-old")
                                   for i, load in enumerate(LOADS)]) == Delivered()
    sink.close()
    assert sql_db.query("SELECT COUNT(*) FROM log_data") == [(len(LOADS),)]


def _lmod_tracking_views(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """lmod_tracking's own view definitions (migration 0.2), computed in Python over the table's rows."""
    rows = db.query("SELECT package, version, jobid, time FROM log_data")
    unique: dict[tuple[Any, ...], Any] = {}
    for package, version, jobid, time in rows:
        if jobid is not None:
            key = (package, version, jobid)
            unique[key] = max(unique.get(key, time), time)
    per_package: dict[Any, list[Any]] = {}
    per_version: dict[tuple[Any, Any], list[Any]] = {}
    for (package, version, _), time in unique.items():
        per_package.setdefault(package, []).append(time)
        per_version.setdefault((package, version), []).append(time)
    return {
        "unique_loads": sorted((p, v, j, t) for (p, v, j), t in unique.items()),
        "package_count": sorted((p, len(t), max(t)) for p, t in per_package.items()),
        "package_version_count": sorted((p, v, len(t), max(t)) for (p, v), t in per_version.items()),
    }


def test_the_views_return_what_lmod_tracking_views_return(sql_db: Database) -> None:
    sink = sink_for(sql_db)
    assert send(sink, lmod_lines()) == Delivered()
    sink.close()
    expected = _lmod_tracking_views(sql_db)
    got = {
        "unique_loads": sorted(sql_db.query("SELECT package, version, jobid, time FROM unique_loads")),
        "package_count": sorted((p, int(n), t) for p, n, t in
                                sql_db.query("SELECT package, total, lastload FROM package_count")),
        "package_version_count": sorted((p, v, int(n), t) for p, v, n, t in sql_db.query(
            "SELECT package, version, total, lastload FROM package_version_count")),
    }
    assert got == expected
    assert ("gcc", 2, dt.datetime(2023, 4, 25, 7, 21, 40, 500000)) in got["package_count"]


def test_the_schema_is_created_once_and_a_second_sink_finds_it(sql_db: Database) -> None:
    for _ in range(2):
        sink = sink_for(sql_db)
        assert send(sink, lmod_lines()[:1]) == Delivered()
        sink.close()
    if sql_db.dialect == "mysql":
        keys = sql_db.query("SELECT column_name FROM information_schema.statistics WHERE table_schema = DATABASE() "
                            "AND index_name = 'unq_log_entry' ORDER BY seq_in_index")
    else:
        keys = sql_db.query("SELECT a.attname FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid "
                            "AND a.attnum = ANY(c.conkey) WHERE c.conname = 'unq_log_entry' "
                            "ORDER BY array_position(c.conkey, a.attnum)")
    assert [k[0] for k in keys] == ["time", "host", "user", "module"]


def test_records_of_another_format_are_refused_by_id(sql_db: Database) -> None:
    sink = sink_for(sql_db)
    other = orjson.dumps({"id": "app:fp:0:00000000", "source": "app", "format": "lines", "time": None,
                          "host": "h", "cluster": None, "type": "line", "data": {"line": "x"}}) + b"\n"
    outcome = send(sink, [*lmod_lines()[:2], other])
    assert isinstance(outcome, Reject) and outcome.record_ids == frozenset({"app:fp:0:00000000"})
    assert "lmod" in outcome.reason
    sink.close()


def test_the_records_profile_round_trips_data_as_json(sql_db: Database) -> None:
    data = {"line": "héllo", "n": 3, "nested": {"a": [1, 2.5, None, True]}}
    line = orjson.dumps({"id": "app:fp:0:0000abcd", "source": "app", "format": "json", "time": 1700000000.25,
                         "host": "h1", "cluster": "c1", "type": "event", "data": data}) + b"\n"
    sink = sink_for(sql_db, profile="records", table="my_records")
    assert send(sink, [line]) == Delivered()
    assert send(sink, [line]) == Delivered()
    sink.close()
    rows = sql_db.query("SELECT id, source, format, type, time, host, cluster, data FROM my_records")
    assert len(rows) == 1
    rid, source, fmt, type_, time, host, cluster, stored = rows[0]
    assert (rid, source, fmt, type_, host, cluster) == ("app:fp:0:0000abcd", "app", "json", "event", "h1", "c1")
    assert orjson.loads(stored) == data if isinstance(stored, (str, bytes)) else stored == data
    assert time.replace(tzinfo=None) == dt.datetime(2023, 11, 14, 22, 13, 20, 250000)


def test_a_wrong_password_is_misconfigured_without_the_password(mysql_db: Database,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "s3cret-Wrong-Pa55"
    mysql_db.execute_admin("CREATE USER IF NOT EXISTS 'logspool_t'@'%' IDENTIFIED BY 'right-one'")
    mysql_db.execute_admin("CREATE USER IF NOT EXISTS 'logspool_t'@'localhost' IDENTIFIED BY 'right-one'")
    try:
        monkeypatch.setenv("LOGSPOOL_T_PASS", secret)
        url = mysql_db.url.replace(f"{mysql_db.admin.username}@", "logspool_t@")
        sink = SqlSink(Config(name="db", type="sql", url=url, password="env:LOGSPOOL_T_PASS",
                              profile="lmod_tracking", timeout="5s"))
        outcome = send(sink, lmod_lines())
        assert isinstance(outcome, Misconfigured)
        assert "1045" in outcome.reason and secret not in outcome.reason
    finally:
        mysql_db.execute_admin("DROP USER IF EXISTS 'logspool_t'@'%'")
        mysql_db.execute_admin("DROP USER IF EXISTS 'logspool_t'@'localhost'")


def test_an_unknown_database_or_role_is_misconfigured(sql_db: Database) -> None:
    sink = SqlSink(Config(name="db", type="sql", url=sql_db.url + "_missing", timeout="5s"))
    assert isinstance(send(sink, lmod_lines()), Misconfigured)
    if sql_db.dialect == "postgresql":
        url = sql_db.url.replace("postgres@", "no_such_role@")
        assert isinstance(send(SqlSink(Config(name="db", type="sql", url=url, timeout="5s")), lmod_lines()),
                          Misconfigured)


def test_a_refused_connection_is_retried(sql_db: Database) -> None:
    url = sql_db.url.replace(f":{sql_db.admin.port}/", ":1/")
    outcome = send(SqlSink(Config(name="db", type="sql", url=url, timeout="2s")), lmod_lines())
    assert isinstance(outcome, Retry)


def test_a_killed_connection_mid_batch_is_retried_and_everything_lands_once(sql_db: Database) -> None:
    sink = sink_for(sql_db)
    lines = lmod_lines()
    assert send(sink, lines[:3]) == Delivered()
    session = sink.session_id()
    assert session is not None
    sql_db.kill(session)
    outcome = send(sink, lines[3:])
    assert isinstance(outcome, Retry), outcome
    assert send(sink, lines[3:]) == Delivered()
    assert send(sink, lines) == Delivered()
    sink.close()
    assert sql_db.query("SELECT COUNT(*) FROM log_data") == [(len(LOADS),)]


def test_a_too_long_value_is_an_error_not_a_truncation(sql_db: Database) -> None:
    sink = sink_for(sql_db)
    outcome = send(sink, [lmod_line(0, "u", None, "m" * 500, "/p", "h", 1.0)])
    assert isinstance(outcome, Reject) and outcome.record_ids is None
    assert ("1406" in outcome.reason) if sql_db.dialect == "mysql" else ("22001" in outcome.reason)
    assert send(sink, lmod_lines()) == Delivered()  # the connection is still good
    sink.close()


def _spool_lines(spool: Spool, lines: list[bytes]) -> None:
    with spool.transaction() as db:
        chunks.enqueue(db, "lmod", b"".join(lines), len(lines), ["db"])


def test_a_500_character_module_is_dead_lettered_under_the_drain_and_the_rest_land(mysql_db: Database,
                                                                                   tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    loads = [(f"u{i}", str(i), f"pkg{i % 7}/1.{i}", "/p.lua", "node", 1682407234.0 + i) for i in range(300)]
    loads[123] = ("u123", "123", "x" * 500, "/p.lua", "node", 1682407234.0 + 123)
    lines = lmod_lines(loads)
    _spool_lines(spool, lines)
    sink = sink_for(mysql_db)
    drain = Drain(Config(name="db", type="sql", url=mysql_db.url, batch_records=100), sink, spool,
                  threading.Event(), backoff=Backoff(1.0, 1.0, rand=lambda: 0.0))
    for _ in range(100):
        if not drain.step():
            break
    sink.close()
    assert mysql_db.query("SELECT COUNT(*) FROM log_data") == [(299,)]
    dead = list(dead_letters.select(spool.db))
    assert [d.record_id for d in dead] == [orjson.loads(lines[123])["id"]]
    assert "1406" in dead[0].reason and "Data too long for column 'module'" in dead[0].reason
    assert chunks.backlog(spool.db, "db").records == 0


def test_values_with_quotes_backslashes_percent_signs_and_utf8_are_stored_exactly(sql_db: Database) -> None:
    """The MariaDB path quotes values itself and the PostgreSQL path COPYs them: both must keep every byte."""
    odd = [("o'brien", "9", "gcc/8.2.0'; DROP TABLE log_data; --", "/a\\b/%s/%(x)s/ü ñ 日本.lua",
            "node\t1.example.org", 1682407400.000123),
           ("back\\slash", None, 'py"thon/3.11', "/sw/\\N/null\n.lua", "node2", 1682407401.5)]
    sink = sink_for(sql_db)
    assert send(sink, lmod_lines(odd, start=50)) == Delivered()
    sink.close()
    user = '"user"' if sql_db.dialect == "postgresql" else "user"
    rows = sql_db.query(f"SELECT {user}, module, path, host, jobid FROM log_data ORDER BY time")
    assert rows == [(u, m, p, h, None if j is None else int(j)) for u, j, m, p, h, _t in odd]


def test_a_value_an_old_utf8mb3_table_cannot_hold_is_dead_lettered_with_the_servers_message(
        mysql_db: Database, tmp_path: Path) -> None:
    """Tables made by MySQL-era tools are often `utf8` (utf8mb3): a 4-byte character is a bad encoding there."""
    from agent.sinks.sql.schema import lmod_tracking
    create = lmod_tracking("mysql", "log_data").create[0].replace("CHARACTER SET utf8mb4", "CHARACTER SET utf8mb3")
    mysql_db.query(create)
    spool = Spool(tmp_path / "spool.db")
    loads = [(f"u{i}", str(i), f"pkg/{i}", "/p.lua", "node", 1682407234.0 + i) for i in range(50)]
    loads[7] = ("\U0001F600user", "7", "pkg/7", "/p.lua", "node", 1682407241.0)
    lines = lmod_lines(loads)
    _spool_lines(spool, lines)
    sink = sink_for(mysql_db)
    drain = Drain(Config(name="db", type="sql", url=mysql_db.url, batch_records=50), sink, spool,
                  threading.Event(), backoff=Backoff(1.0, 1.0, rand=lambda: 0.0))
    while drain.step():
        pass
    sink.close()
    assert mysql_db.query("SELECT COUNT(*) FROM log_data") == [(49,)]
    dead = list(dead_letters.select(spool.db))
    assert [d.record_id for d in dead] == [orjson.loads(lines[7])["id"]]
    assert "1366" in dead[0].reason and "Incorrect string value" in dead[0].reason, dead[0].reason
