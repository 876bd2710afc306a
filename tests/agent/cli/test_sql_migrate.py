"""`logspool sql migrate` as an operator runs it before the first record: idempotent, upgrades an old table."""
from __future__ import annotations

import subprocess
from pathlib import Path

from tests.e2e.conftest import logspool_command, write_config
from tests.sql_servers import Database, sql_db  # noqa: F401 - fixture

#: lmod_tracking's table before its migration 0.2 (no jobid), as an older ingest left it.
OLD_TABLE = ("CREATE TABLE log_data (id INTEGER NOT NULL PRIMARY KEY, logname VARCHAR(4096) NOT NULL, "
             "time TIMESTAMP NOT NULL, host VARCHAR(255) NOT NULL, {user} VARCHAR(50) NOT NULL, "
             "module VARCHAR(100) NOT NULL, path VARCHAR(4096) NOT NULL, package VARCHAR(100) NOT NULL, "
             "version VARCHAR(150) NULL)")


def migrate(tmp: Path, db: Database, sink: str = "lmod") -> subprocess.CompletedProcess[str]:
    cfg = tmp / "agent.toml"
    write_config(cfg, {"spool": str(tmp / "spool.db")}, [],
                 [{"name": "lmod", "type": "sql", "url": db.url, "profile": "lmod_tracking"},
                  {"name": "out", "type": "file", "path": str(tmp / "out.ndjson")}])
    return subprocess.run([*logspool_command(), "sql", "migrate", "--sink", sink, "--config", str(cfg)],
                          capture_output=True, text=True, timeout=60)


def columns(db: Database) -> list[str]:
    where = "table_schema = DATABASE()" if db.dialect == "mysql" else "table_schema = current_schema()"
    return sorted(str(r[0]) for r in db.query(
        f"SELECT column_name FROM information_schema.columns WHERE {where} AND table_name = 'log_data'"))


def test_migrate_creates_the_table_and_views_once(tmp_path: Path, sql_db: Database) -> None:
    for _ in range(2):
        r = migrate(tmp_path, sql_db)
        assert r.returncode == 0, r.stderr
        assert "log_data (profile lmod_tracking) is ready" in r.stderr
    assert columns(sql_db) == sorted(["id", "logname", "time", "host", "user", "module", "path", "package",
                                      "version", "jobid"])
    assert sql_db.query("SELECT count(*) FROM package_count") == [(0,)]


def test_migrate_adds_jobid_to_a_table_an_older_ingest_created(tmp_path: Path, sql_db: Database) -> None:
    sql_db.query(OLD_TABLE.format(user="`user`" if sql_db.dialect == "mysql" else '"user"'))
    assert "jobid" not in columns(sql_db)
    r = migrate(tmp_path, sql_db)
    assert r.returncode == 0, r.stderr
    assert "jobid" in columns(sql_db)


def test_migrate_names_a_sink_that_is_not_sql(tmp_path: Path, sql_db: Database) -> None:
    r = migrate(tmp_path, sql_db, sink="out")
    assert r.returncode == 2 and 'sink out is of type \'file\', not "sql"' in r.stderr
    r = migrate(tmp_path, sql_db, sink="nope")
    assert r.returncode == 2 and "no [[sinks]] table named nope" in r.stderr


def test_migrate_against_a_missing_database_fails_and_says_where(tmp_path: Path, sql_db: Database) -> None:
    missing = Database(sql_db.dialect, sql_db.name + "_missing", sql_db.admin)
    r = migrate(tmp_path, missing)
    assert r.returncode == 1 and "logspool sql migrate:" in r.stderr and missing.name in r.stderr
