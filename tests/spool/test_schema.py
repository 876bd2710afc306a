"""The spool file's schema and settings: migrated once, WAL, 64 KiB pages."""
from __future__ import annotations

from pathlib import Path

import apsw

from spool import Spool
from spool.schema import MIGRATIONS, migrate


def test_migrate_is_idempotent_and_records_each_version(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    assert migrate(spool.db) == 3
    assert migrate(spool.db) == 3
    assert spool.query("SELECT version FROM schema_version ORDER BY version") == [(1,), (2,), (3,)]


def test_a_version_1_spool_is_upgraded_and_keeps_its_chunks(tmp_path: Path) -> None:
    path = str(tmp_path / "spool.db")
    old = apsw.Connection(path)
    old.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    MIGRATIONS[0](old)
    old.execute("INSERT INTO schema_version VALUES (1)")
    old.execute("INSERT INTO chunks(source, created, records, bytes, payload) VALUES ('s', 1, 1, 3, x'6162')")
    old.close()
    spool = Spool(tmp_path / "spool.db")
    assert spool.query("SELECT max(version) FROM schema_version") == [(3,)]
    assert spool.query("SELECT source, payload FROM chunks") == [("s", b"ab")]
    assert spool.query("SELECT count(*) FROM sink_state") == [(0,)]
    assert spool.query("SELECT count(*) FROM counters") == [(0,)]


def test_a_fresh_spool_has_its_tables(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    names = {r[0] for r in spool.query("SELECT name FROM sqlite_master WHERE type='table'")}
    assert names == {"checkpoints", "chunks", "deliveries", "dead_letters", "state", "schema_version",
                     "sqlite_sequence", "sink_state", "counters"}


def test_a_fresh_spool_uses_64k_pages_and_wal(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    assert spool.query("PRAGMA page_size") == [(65536,)]
    assert spool.query("PRAGMA journal_mode") == [("wal",)]


def test_reopening_keeps_the_data_and_the_version(tmp_path: Path) -> None:
    Spool(tmp_path / "spool.db").set_state("paused", "spool full")
    spool = Spool(tmp_path / "spool.db")
    assert spool.get_state() == {"paused": "spool full"}
    assert spool.query("SELECT max(version) FROM schema_version") == [(3,)]


def test_a_migration_another_process_applied_meanwhile_is_not_run_again(tmp_path: Path) -> None:
    path = str(tmp_path / "spool.db")
    other, late = apsw.Connection(path), apsw.Connection(path)
    raced: list[int] = []

    def other_migrates_before_our_write(cursor: object, sql: str, bindings: object) -> bool:
        if sql.startswith("BEGIN") and not raced:
            raced.append(migrate(other))
        return True

    late.exec_trace = other_migrates_before_our_write
    assert migrate(late) == 3
    assert raced == [3]
    assert late.execute("SELECT version FROM schema_version ORDER BY version").fetchall() == [(1,), (2,), (3,)]
