"""Dead letters: kept with their reason, selected by sink and id, deleted on purge."""
from __future__ import annotations

from pathlib import Path

from spool import Spool, dead_letters
from spool.dead_letters import DeadLetter


def add(spool: Spool, sink: str | None, record_id: str, reason: str = "HTTP 400: bad field") -> None:
    with spool.transaction() as db:
        dead_letters.add(db, sink, "transfers", record_id, record_id.encode() + b"\n", reason, now=1000.0)


def record_ids(letters: list[DeadLetter]) -> list[str | None]:
    return [d.record_id for d in letters]


def test_a_dead_letter_reads_back_with_its_record_and_reason(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    add(spool, "archive", "transfers:fp:0:1")
    assert dead_letters.select(spool.db) == [
        DeadLetter(1, "archive", "transfers", "transfers:fp:0:1", b"transfers:fp:0:1\n", "HTTP 400: bad field", 1000.0)]


def test_select_filters_by_sink_and_by_ids(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    for sink, rid in (("archive", "a1"), ("local", "l1"), ("archive", "a2"), (None, "unparsed")):
        add(spool, sink, rid)
    assert record_ids(dead_letters.select(spool.db, sink="archive")) == ["a1", "a2"]
    assert record_ids(dead_letters.select(spool.db, ids=[2, 4])) == ["l1", "unparsed"]
    assert record_ids(dead_letters.select(spool.db, sink="archive", ids=[2, 3])) == ["a2"]


def test_select_with_an_empty_id_list_selects_nothing(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    add(spool, "archive", "a1")
    assert dead_letters.select(spool.db, ids=[]) == []


def test_delete_removes_the_given_ids_and_count_follows(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    for rid in ("a1", "a2", "a3"):
        add(spool, "archive", rid)
    with spool.transaction() as db:
        assert dead_letters.delete(db, [1, 3, 99]) == 2
    assert record_ids(dead_letters.select(spool.db)) == ["a2"]
    assert dead_letters.count(spool.db) == 1


def test_a_long_reason_is_cut_to_2000_characters(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    add(spool, "archive", "a1", reason="x" * 5000)
    assert dead_letters.select(spool.db)[0].reason == "x" * 2000
