"""The running totals behind the metrics endpoint move with the work, in its transaction."""
from __future__ import annotations

from pathlib import Path

import pytest

from spool import Spool, SpoolError, chunks, counters, dead_letters


def totals(spool: Spool) -> dict[tuple[str, str, str], float]:
    return counters.read(spool.db)


def enqueue(spool: Spool, n: int, sinks: list[str], source: str = "transfers") -> int:
    with spool.transaction() as db:
        return chunks.enqueue(db, source, b"x\n" * n, n, sinks, now=1000.0)


def test_spooling_counts_records_per_source(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    enqueue(spool, 3, ["archive"])
    enqueue(spool, 4, ["archive", "local"])
    enqueue(spool, 5, ["archive"], source="modules")
    assert totals(spool) == {("source", "transfers", "records"): 7.0, ("source", "modules", "records"): 5.0}


def test_a_rolled_back_transaction_counts_nothing(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    with pytest.raises(RuntimeError):
        with spool.transaction() as db:
            chunks.enqueue(db, "transfers", b"x\n", 1, ["archive"])
            raise RuntimeError("crash before commit")
    assert totals(spool) == {}
    assert chunks.backlog(spool.db, "archive").records == 0


def test_acks_count_only_new_progress_and_stamp_the_last_success(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    first = enqueue(spool, 10, ["archive", "local"])
    with spool.transaction() as db:
        chunks.ack(db, "archive", [(first, 4, 10)], now=2000.0)
    with spool.transaction() as db:
        chunks.ack(db, "archive", [(first, 4, 10)], now=2001.0)   # the same ack again (a resend)
        chunks.ack(db, "archive", [(first, 10, 10)], now=2002.0)
    with spool.transaction() as db:
        chunks.ack(db, "archive", [(first, 10, 10)], now=2003.0)  # chunk already finished for this sink
    got = totals(spool)
    assert got[("sink", "archive", "handled")] == 10
    assert got[("sink", "archive", "last_success")] == 2002.0
    assert ("sink", "local", "handled") not in got


def test_last_success_never_goes_back_in_time(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    a, b = enqueue(spool, 1, ["archive"]), enqueue(spool, 1, ["archive"])
    with spool.transaction() as db:
        chunks.ack(db, "archive", [(a, 1, 1)], now=3000.0)
        chunks.ack(db, "archive", [(b, 1, 1)], now=2500.0)   # another process, a slower clock
    assert totals(spool)[("sink", "archive", "last_success")] == 3000.0


def test_failures_count_retries_and_dead_letters_count_by_sink_or_source(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    chunk = enqueue(spool, 2, ["archive"])
    with spool.transaction() as db:
        chunks.record_failure(db, "archive", chunk, 1, 0.0, "HTTP 503")
        chunks.record_failure(db, "archive", chunk, 2, 0.0, "HTTP 503")
        dead_letters.add(db, "archive", "transfers", "id1", b"{}", "HTTP 400")
        dead_letters.add(db, None, "transfers", "id2", b"garbage", "line 3: no DATE field")
        dead_letters.add(db, None, "transfers", "id3", b"garbage", "line 4: no DATE field")
    got = totals(spool)
    assert got[("sink", "archive", "retries")] == 2
    assert got[("sink", "archive", "dead_lettered")] == 1
    assert got[("source", "transfers", "dead_lettered")] == 2


def test_counters_survive_reopening_the_spool(tmp_path: Path) -> None:
    enqueue(Spool(tmp_path / "spool.db"), 6, ["archive"])
    assert totals(Spool(tmp_path / "spool.db"))[("source", "transfers", "records")] == 6


def test_purging_dead_letters_does_not_lower_the_counter(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    with spool.transaction() as db:
        dead_letters.add(db, "archive", "transfers", "id1", b"{}", "HTTP 400")
    with spool.transaction() as db:
        assert dead_letters.delete(db, [1]) == 1
    assert totals(spool)[("sink", "archive", "dead_lettered")] == 1


def test_a_readonly_spool_reads_the_counters(tmp_path: Path) -> None:
    enqueue(Spool(tmp_path / "spool.db"), 2, ["archive"])
    reader = Spool(tmp_path / "spool.db", readonly=True)
    assert totals(reader) == {("source", "transfers", "records"): 2.0}
    with pytest.raises(SpoolError):
        with reader.transaction() as db:
            chunks.enqueue(db, "transfers", b"x\n", 1, ["archive"])


def test_many_dead_letters_at_once_count_per_source_or_per_sink(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    with spool.transaction() as db:
        dead_letters.add_many(db, None, [("a", "1", b"x", "bad"), ("b", "2", b"y", "bad"), ("a", "3", b"z", "bad")])
        dead_letters.add_many(db, "archive", [("a", "4", b"w", "HTTP 400"), ("b", "5", b"v", "HTTP 400")])
        dead_letters.add_many(db, "archive", [])
    got = totals(spool)
    assert (got[("source", "a", "dead_lettered")], got[("source", "b", "dead_lettered")]) == (2, 1)
    assert got[("sink", "archive", "dead_lettered")] == 2
    assert dead_letters.count(spool.db) == 5
