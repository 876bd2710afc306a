"""The chunk queue: routing, leasing in order, partial and full acks, backlog."""
from __future__ import annotations

from pathlib import Path

from spool import Spool, chunks


def records(n: int, tag: str = "r", size: int = 10) -> bytes:
    """`n` NDJSON lines of exactly `size` bytes each."""
    return b"".join(f'"{tag}{i}"'.ljust(size - 1).encode() + b"\n" for i in range(n))


def enqueue(spool: Spool, payload: bytes, n: int, sinks: list[str], now: float = 1000.0) -> int:
    with spool.transaction() as db:
        return chunks.enqueue(db, "transfers", payload, n, sinks, now=now)


def leased_ids(spool: Spool, sink: str, max_records: int = 1000, max_bytes: int = 1 << 20) -> list[int]:
    return [c.chunk_id for c in chunks.lease(spool.db, sink, max_records, max_bytes)]


def ack(spool: Spool, sink: str, *progress: tuple[int, int, int]) -> None:
    with spool.transaction() as db:
        chunks.ack(db, sink, progress)


def test_enqueue_routes_the_chunk_to_each_named_sink(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    first = enqueue(spool, records(2), 2, ["archive", "local"])
    second = enqueue(spool, records(2), 2, ["local"])
    assert leased_ids(spool, "archive") == [first]
    assert leased_ids(spool, "local") == [first, second]
    assert leased_ids(spool, "console") == []


def test_lease_returns_the_oldest_chunk_first_with_its_payload(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    ids = [enqueue(spool, records(2, tag=t), 2, ["archive"]) for t in "abc"]
    leased = chunks.lease(spool.db, "archive", 1000, 1 << 20)
    assert [c.chunk_id for c in leased] == ids
    assert leased[0] == chunks.Leased(ids[0], "transfers", 0, 2, records(2, tag="a"))


def test_lease_stops_once_the_batch_has_max_records(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    ids = [enqueue(spool, records(4), 4, ["archive"]) for _ in range(3)]
    assert leased_ids(spool, "archive", max_records=8) == ids[:2]
    assert leased_ids(spool, "archive", max_records=5) == ids[:2]
    assert leased_ids(spool, "archive", max_records=4) == ids[:1]


def test_lease_stops_once_the_batch_has_max_bytes(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    ids = [enqueue(spool, records(4, size=25), 4, ["archive"]) for _ in range(3)]
    assert leased_ids(spool, "archive", max_bytes=150) == ids[:2]
    assert leased_ids(spool, "archive", max_bytes=100) == ids[:1]


def test_lease_returns_one_chunk_even_when_it_alone_exceeds_the_batch(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    ids = [enqueue(spool, records(50), 50, ["archive"]) for _ in range(2)]
    assert leased_ids(spool, "archive", max_records=2, max_bytes=10) == ids[:1]


def test_a_partial_ack_keeps_the_delivery_with_done_updated(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    chunk = enqueue(spool, records(4), 4, ["archive"])
    ack(spool, "archive", (chunk, 3, 4))
    assert [(c.chunk_id, c.done) for c in chunks.lease(spool.db, "archive", 1000, 1 << 20)] == [(chunk, 3)]


def test_lease_counts_only_the_undelivered_records_of_a_partial_chunk(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    ids = [enqueue(spool, records(4), 4, ["archive"]) for _ in range(3)]
    ack(spool, "archive", (ids[0], 3, 4))
    assert leased_ids(spool, "archive", max_records=5) == ids[:2]
    assert leased_ids(spool, "archive", max_records=6) == ids


def test_a_full_ack_deletes_the_chunk_only_when_no_sink_still_needs_it(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    chunk = enqueue(spool, records(4), 4, ["archive", "local"])
    ack(spool, "archive", (chunk, 4, 4))
    assert leased_ids(spool, "archive") == []
    assert spool.query("SELECT id FROM chunks") == [(chunk,)]
    ack(spool, "local", (chunk, 4, 4))
    assert spool.query("SELECT id FROM chunks") == []


def test_backlog_counts_the_undelivered_records_and_bytes_of_partial_chunks(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    first = enqueue(spool, records(4), 4, ["archive"], now=1000.0)
    enqueue(spool, records(2), 2, ["archive"], now=1001.0)
    ack(spool, "archive", (first, 1, 4))
    assert chunks.backlog(spool.db, "archive") == chunks.Backlog(5, 50, 1000.0, 0, None, None)
    assert chunks.backlog(spool.db, "local") == chunks.Backlog(0, 0, None, 0, None, None)


def test_a_recorded_failure_shows_in_the_backlog_until_progress_clears_it(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    chunk = enqueue(spool, records(4), 4, ["archive"])
    with spool.transaction() as db:
        chunks.record_failure(db, "archive", chunk, 3, 1234.5, "HTTP 503 Service Unavailable")
    assert chunks.backlog(spool.db, "archive") == chunks.Backlog(4, 40, 1000.0, 3, "HTTP 503 Service Unavailable",
                                                                 1234.5)
    ack(spool, "archive", (chunk, 2, 4))
    assert chunks.backlog(spool.db, "archive") == chunks.Backlog(2, 20, 1000.0, 0, None, None)


def test_chunk_ids_are_never_reused_after_the_newest_is_deleted_and_the_spool_reopened(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    ids = [enqueue(spool, records(1), 1, ["archive"]) for _ in range(3)]
    ack(spool, "archive", (ids[2], 1, 1))
    spool.close()
    spool = Spool(tmp_path / "spool.db")
    newest = enqueue(spool, records(1), 1, ["archive"])
    assert newest > ids[2]
    assert leased_ids(spool, "archive") == [ids[0], ids[1], newest]


def test_pending_counts_the_chunks_some_sink_still_needs(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    ids = [enqueue(spool, records(1), 1, ["archive", "local"]) for _ in range(3)]
    ack(spool, "archive", (ids[0], 1, 1), (ids[1], 1, 1))
    ack(spool, "local", (ids[0], 1, 1))
    assert chunks.pending(spool.db, ids) == 2
