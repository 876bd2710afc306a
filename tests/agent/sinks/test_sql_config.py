"""The sql sink's keys, URL rules and row encoding (pure: no server)."""
from __future__ import annotations

import datetime as dt

import orjson
import pytest
from pydantic import ValidationError

from agent.sinks.base import Batch
from agent.sinks.sql import Config, parse_url
from agent.sinks.sql.encode import encode_lines, jobid, utc


def config(**keys: object) -> Config:
    return Config(**{"name": "db", "type": "sql", "url": "mysql://lmod@db.example.org/lmod", **keys})


def test_urls_of_both_databases_and_their_sockets() -> None:
    t = parse_url("mariadb://lmod@db.example.org:3307/lmod")
    assert (t.dialect, t.user, t.host, t.port, t.database) == ("mysql", "lmod", "db.example.org", 3307, "lmod")
    t = parse_url("mysql://lmod@localhost/lmod?unix_socket=/run/mysqld/mysqld.sock")
    assert t.options == {"unix_socket": "/run/mysqld/mysqld.sock"}
    t = parse_url("postgresql://lmod@/lmod?host=/var/run/postgresql")
    assert (t.dialect, t.host, t.options) == ("postgresql", None, {"host": "/var/run/postgresql"})
    assert "/var/run/postgresql" in t.describe()


@pytest.mark.parametrize("url, words", [
    ("mysql://lmod:hunter2@db/lmod", "password"),
    ("http://db/lmod", "mysql://"),
    ("mysql://lmod@db/", "database name"),
    ("mysql://lmod@db/lmod?sslmode=require", "unknown URL option"),
])
def test_bad_urls_are_refused_and_a_password_is_never_quoted(url: str, words: str) -> None:
    with pytest.raises(ValidationError) as info:
        config(url=url)
    message = info.value.errors()[0]["msg"]  # the config loader shows this, and the value with userinfo masked
    assert words in message and "hunter2" not in message


def test_table_must_be_an_identifier_and_one_password_source() -> None:
    assert config(table="module_loads").table_name() == "module_loads"
    assert config(profile="lmod_tracking").table_name() == "log_data"
    for bad in ("log data", "1abc", "x;drop", "a" * 64):
        with pytest.raises(ValidationError):
            config(table=bad)
    with pytest.raises(ValidationError, match="not both"):
        config(password="inline", password_file="/etc/x")


def test_jobid_is_an_integer_or_null() -> None:
    assert [jobid(v) for v in ("1", " 42 ", 7, None, "nil", "123_4", "5+1", "99999999999", True)] == \
        [1, 42, 7, None, None, None, None, None, None]


def test_time_is_utc_to_the_microsecond() -> None:
    assert utc(1682580177.622180) == dt.datetime(2023, 4, 27, 7, 22, 57, 622180)


def _line(rid: str, data: dict[str, object], fmt: str = "lmod") -> bytes:
    return orjson.dumps({"id": rid, "source": "lmod", "format": fmt, "time": 1.0, "host": "h",
                         "cluster": None, "type": "load", "data": data}) + b"\n"


def test_lmod_encoding_refuses_records_it_cannot_store_by_id() -> None:
    good = {"user": "u", "module": "gcc", "path": "/p", "host": "h", "time": 1.5, "jobid": None}
    out = encode_lines([_line("a", good), _line("b", {**good, "user": ""}), _line("c", good, "lines")],
                       "lmod_tracking")
    assert out.ids == ["a"] and out.rows[0][6:] == ("gcc", None, None)
    assert [rid for rid, _ in out.refused] == ["b", "c"]
    assert "user" in out.refused[0][1] and "format 'lines'" in out.refused[1][1]


def test_a_tacc_load_without_a_time_is_refused_with_the_collector_setting_that_gives_it_one() -> None:
    from parsers.lmod import parse
    message = b" c401 lmod: username=alice, jobid=, userload=yes, module=gcc/4.7.2, fn=/f.lua"
    zoned, bare = (parse(stamp + message) for stamp in (b"2023-04-27T03:22:57.5+00:00", b"Apr 27 03:22:57"))
    assert zoned is not None and bare is not None
    out = encode_lines([_line("a", zoned.data), _line("b", bare.data)], "lmod_tracking")
    assert out.ids == ["a"] and out.rows[0][1:5] == (utc(1682565777.5), "c401", "alice", "gcc/4.7.2")
    assert out.refused[0][0] == "b" and "'Apr 27 03:22:57'" in out.refused[0][1]
    assert "RSYSLOG_FileFormat" in out.refused[0][1]


def test_encode_is_pure() -> None:
    good = {"user": "u", "module": "gcc/1", "path": "/p", "host": "h", "time": 1.5, "jobid": "3"}
    batch = Batch([_line("a", good)])
    assert encode_lines(batch.records, "records") == encode_lines(batch.records, "records")
