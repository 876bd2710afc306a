"""The drain's decisions, driven one `step()` at a time against a scripted sink.

The sink here is a double of our own Sink protocol (the HTTP mapping has its own tests
against real sockets); what is under test is what the drain does with each Outcome:
acks, backoff, bisection, dead letters, stopping. Backoff waits are zero (rand=0)
so nothing sleeps.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, Optional

import pytest

from agent.backoff import Backoff
from agent.drain import Drain, SinkStopped
from agent.envelope import EnvelopeEncoder, file_record_id, record_id
from agent.sinks.base import Batch, Delivered, Misconfigured, Outcome, Reject, Retry, SinkConfig
from parsers import FORMATS
from spool import Spool, chunks, dead_letters


class ScriptedSink:
    """Answers with `script(batch_ids)`; records every batch it was sent."""

    def __init__(self, script: Callable[[list[str]], Outcome]) -> None:
        self.script = script
        self.sent: list[list[str]] = []

    def encode(self, batch: Batch) -> object:
        return batch

    def send(self, payload: object) -> Outcome:
        assert isinstance(payload, Batch)
        ids = payload.ids()
        self.sent.append(ids)
        return self.script(ids)

    def close(self) -> None:
        pass


class RecordingBackoff(Backoff):
    def __init__(self) -> None:
        super().__init__(1.0, 300.0, rand=lambda: 0.0)
        self.asked: list[tuple[int, Optional[float]]] = []

    def delay(self, attempt: int, retry_after: Optional[float] = None) -> float:
        self.asked.append((attempt, retry_after))
        return 0.0


def in_turn(*outcomes: Outcome) -> Callable[[list[str]], Outcome]:
    """Answer each send with the next outcome."""
    answers = iter(outcomes)
    return lambda _ids: next(answers)


def misconfigured(reason: str) -> Callable[[list[str]], Outcome]:
    return lambda _ids: Misconfigured(reason)


def reject_or_deliver(reject: bool, reason: str) -> Outcome:
    return Reject(reason) if reject else Delivered()


def fill(spool: Spool, n: int, per_chunk: int, sinks: tuple[str, ...] = ("s",)) -> list[str]:
    enc = EnvelopeEncoder("app", "lines", "h", None)
    ids = []
    with spool.transaction() as db:
        for start in range(0, n, per_chunk):
            lines = []
            for i in range(start, min(n, start + per_chunk)):
                rid = file_record_id("app", "fp", i, b"x")
                ids.append(rid)
                parsed = FORMATS["lines"](f"SEQ={i}".encode())
                assert parsed is not None
                lines.append(enc.encode(rid, parsed))
            chunks.enqueue(db, "app", b"".join(lines), len(lines), sinks)
    return ids


def drain(spool: Spool, sink: ScriptedSink, **cfg: object) -> Drain:
    config = SinkConfig(name="s", type="test", **cfg)
    return Drain(config, sink, spool, threading.Event(), backoff=RecordingBackoff())


def run_until_idle(d: Drain) -> None:
    for _ in range(1000):
        if not d.step():
            return
    raise AssertionError("drain never went idle")


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path / "spool.db")


def test_every_record_is_sent_once_in_order_in_bounded_batches(spool: Spool) -> None:
    ids = fill(spool, 25, per_chunk=10)
    sink = ScriptedSink(lambda ids: Delivered())
    run_until_idle(drain(spool, sink, batch_records=10))
    assert [i for batch in sink.sent for i in batch] == ids
    assert max(len(b) for b in sink.sent) <= 10
    assert spool.query("SELECT count(*) FROM chunks") == [(0,)]


def test_a_batch_smaller_than_a_chunk_resumes_where_the_last_ack_left_off(spool: Spool) -> None:
    ids = fill(spool, 10, per_chunk=10)
    first = ScriptedSink(lambda ids: Delivered())
    drain(spool, first, batch_records=4).step()
    second = ScriptedSink(lambda ids: Delivered())  # a new process after a crash
    run_until_idle(drain(spool, second, batch_records=4))
    assert first.sent == [ids[:4]]
    assert [i for b in second.sent for i in b] == ids[4:]


def test_503_is_retried_then_delivered_once(spool: Spool) -> None:
    ids = fill(spool, 5, per_chunk=5)
    sink = ScriptedSink(in_turn(Retry("HTTP 503", after=7.0), Retry("HTTP 500"), Delivered()))
    d = drain(spool, sink)
    run_until_idle(d)
    assert sink.sent == [ids, ids, ids]
    assert d.backoff.asked == [(0, 7.0), (1, None)]  # type: ignore[attr-defined]
    assert chunks.backlog(spool.db, "s").records == 0


def test_a_poison_record_is_isolated_by_bisection_and_dead_lettered(spool: Spool) -> None:
    ids = fill(spool, 16, per_chunk=16)
    poison = ids[11]
    sink = ScriptedSink(lambda batch: reject_or_deliver(poison in batch, "HTTP 400: bad field"))
    run_until_idle(drain(spool, sink))
    delivered = [i for b in sink.sent if poison not in b for i in b]
    assert delivered == [i for i in ids if i != poison]
    letters = dead_letters.select(spool.db)
    assert [(d.record_id, d.sink, d.reason) for d in letters] == [(poison, "s", "HTTP 400: bad field")]


def test_named_rejections_are_dead_lettered_and_the_rest_resent(spool: Spool) -> None:
    ids = fill(spool, 6, per_chunk=6)
    bad = frozenset({ids[1], ids[4]})
    sink = ScriptedSink(in_turn(Reject("schema", bad), Delivered()))
    run_until_idle(drain(spool, sink))
    assert sink.sent[1] == [i for i in ids if i not in bad]
    assert sorted(str(d.record_id) for d in dead_letters.select(spool.db)) == sorted(bad)


def test_misconfigured_stops_the_sink_and_keeps_every_record(spool: Spool) -> None:
    fill(spool, 3, per_chunk=3)
    sink = ScriptedSink(lambda _: Misconfigured("HTTP 401: check token"))
    with pytest.raises(SinkStopped, match="HTTP 401"):
        drain(spool, sink).step()
    assert chunks.backlog(spool.db, "s").records == 3
    assert dead_letters.count(spool.db) == 0


def test_max_retries_dead_letters_the_batch_with_the_last_error(spool: Spool) -> None:
    ids = fill(spool, 2, per_chunk=2)
    sink = ScriptedSink(lambda _: Retry("connection refused"))
    run_until_idle(drain(spool, sink, retry={"initial": "1s", "max": "1s", "max_retries": 2}))
    assert len(sink.sent) == 3
    reasons = {d.record_id: d.reason for d in dead_letters.select(spool.db)}
    assert reasons == {i: "gave up after 2 retries: connection refused" for i in ids}


def test_a_down_sink_does_not_hold_back_another_sink(spool: Spool) -> None:
    ids = fill(spool, 4, per_chunk=2, sinks=("s", "t"))
    down = ScriptedSink(misconfigured("down"))
    up = ScriptedSink(lambda _: Delivered())
    with pytest.raises(SinkStopped):
        drain(spool, down).step()
    run_until_idle(Drain(SinkConfig(name="t", type="test"), up, spool, threading.Event()))
    assert [i for b in up.sent for i in b] == ids
    assert chunks.backlog(spool.db, "s").records == 4


def test_failure_is_published_for_status(spool: Spool) -> None:
    fill(spool, 1, per_chunk=1)
    d = drain(spool, ScriptedSink(in_turn(Retry("HTTP 502: bad gateway"), Delivered())))
    d.stop.set()  # the first backoff wait returns at once, as on shutdown
    from agent.drain import _Stopping
    with pytest.raises(_Stopping):
        d.step()
    backlog = chunks.backlog(spool.db, "s")
    assert (backlog.attempts, backlog.last_error) == (1, "HTTP 502: bad gateway")


def test_record_ids_of_a_batch_are_read_from_the_spooled_lines(spool: Spool) -> None:
    ids = fill(spool, 3, per_chunk=3)
    payload = spool.query("SELECT payload FROM chunks")[0][0]
    batch = Batch(parts=[payload], count=3)
    assert batch.ids() == ids and [record_id(r) for r in batch.records] == ids
    assert batch.key() == Batch(list(batch.records)).key()


def test_with_acks_behind_the_drain_nothing_is_sent_twice_and_all_is_acked_on_close(tmp_path: Path,
                                                                                   spool: Spool) -> None:
    from agent.acker import Acker
    ids = fill(spool, 2000, per_chunk=100)
    sink = ScriptedSink(lambda _: Delivered())
    acker = Acker("s", tmp_path / "spool.db")
    d = Drain(SinkConfig(name="s", type="test", batch_records=100), sink, spool, threading.Event(), acker=acker)
    run_until_idle(d)
    acker.close()
    assert [i for b in sink.sent for i in b] == ids
    assert spool.query("SELECT count(*) FROM deliveries") == [(0,)]


def test_acks_lost_in_a_crash_mean_those_batches_are_sent_again_with_the_same_ids(tmp_path: Path,
                                                                                  spool: Spool) -> None:
    from agent.acker import Acker

    class DeadAcker(Acker):
        """Queues acks and never commits them: the process died before it could."""

        def _run(self) -> None:
            return

    ids = fill(spool, 300, per_chunk=100)
    first = ScriptedSink(lambda _: Delivered())
    d = Drain(SinkConfig(name="s", type="test", batch_records=100), first, spool, threading.Event(),
              acker=DeadAcker("s", tmp_path / "spool.db"))
    for _ in range(3):  # three batches fit in the ack queue (MAX_QUEUED)
        d.step()
    assert not d.step()  # leasing already knows all three were delivered
    after_crash = ScriptedSink(lambda _: Delivered())
    run_until_idle(drain(Spool(tmp_path / "spool.db"), after_crash, batch_records=100))
    assert [i for b in first.sent for i in b] == ids
    assert [i for b in after_crash.sent for i in b] == ids
