"""The lavaflow sink under the real drain, against the protocol-faithful LavaFlow double.

What an operator relies on: a wrong key stops the sink and loses nothing, a record the
server cannot import ends in dead letters while every other one arrives once, a
server outage costs time and nothing else, and the last few records are sent without
waiting for a full chunk (none of the old importers' bugs, scheduler.md §1.8).
Backoff waits are zero; nothing here sleeps.
"""
from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import orjson
import pytest

from agent.backoff import Backoff
from agent.drain import Drain
from agent.sinks.lavaflow import Config, LavaFlowSink
from spool import Spool, chunks, dead_letters
from tests.agent.sinks.lavaflow_records import envelope, finishes, job_finish, job_new
from tests.doubles.lavaflow import LavaFlowServer

KEY = "right-key"


class MendingBackoff(Backoff):
    """No waiting; `mend()` runs after `after` failed attempts."""

    def __init__(self, mend: Callable[[], None] = lambda: None, after: int = 0) -> None:
        super().__init__(1.0, 1.0, rand=lambda: 0.0)
        self.mend, self.after, self.failures = mend, after, 0

    def delay(self, attempt: int, retry_after: Optional[float] = None) -> float:
        self.failures += 1
        if self.failures == self.after:
            self.mend()
        return 0.0


@pytest.fixture
def server() -> Iterator[LavaFlowServer]:
    s = LavaFlowServer(keys=[KEY], keep_records=True)
    yield s
    s.stop()


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    s = Spool(tmp_path / "spool.db")
    yield s
    s.close()


def lavaflow(server: LavaFlowServer, key: str = KEY, **keys: Any) -> Config:
    return Config.model_validate({"name": "lf", "type": "lavaflow", "url": server.url, "key": key,
                                  "timeout": "2s", **keys})


def fill(spool: Spool, lines: list[bytes], per_chunk: int = 400) -> None:
    with spool.transaction() as db:
        for start in range(0, len(lines), per_chunk):
            part = lines[start:start + per_chunk]
            chunks.enqueue(db, "acct", b"".join(part), len(part), ["lf"])


def drain(spool: Spool, config: Config, backoff: Optional[Backoff] = None) -> Drain:
    return Drain(config, LavaFlowSink(config), spool, threading.Event(), backoff=backoff or MendingBackoff())


def until_idle(d: Drain) -> None:
    for _ in range(2000):
        if not d.step():
            return
    raise AssertionError("the drain never went idle")


def delivered_job_ids(server: LavaFlowServer) -> Counter[int]:
    """How often each JOB_FINISH was in a request LavaFlow answered 200."""
    return Counter(r["eventLog"]["jobFinishLog"]["jobId"] for kind, _, r in server.records if r["type"] == 10)


def test_a_wrong_key_stops_the_sink_keeps_every_record_and_a_reload_with_the_right_key_delivers_them(
        server: LavaFlowServer, spool: Spool) -> None:
    fill(spool, finishes(300))
    wrong = drain(spool, lavaflow(server, key="old-key"))
    wrong.run()  # returns: the sink stopped
    assert wrong.stopped_reason is not None and wrong.stopped_reason.startswith("HTTP 403: Invalid key specified (")
    assert spool.get_state()["sink:lf"].startswith("stopped: HTTP 403: Invalid key specified")
    assert dead_letters.select(spool.db) == [] and chunks.backlog(spool.db, "lf").records == 300
    assert (server.job_count(), server.statuses[403]) == (0, 1)  # stopped at once, no hammering
    until_idle(drain(spool, lavaflow(server)))  # the operator fixed the key and reloaded
    assert delivered_job_ids(server) == Counter(range(1, 301))
    assert (server.job_count(), server.attempt_count(), chunks.backlog(spool.db, "lf").records) == (300, 300, 0)


def test_a_record_the_server_fails_on_is_dead_lettered_and_every_other_arrives_once(
        server: LavaFlowServer, spool: Spool) -> None:
    lines = finishes(200)
    lines[122] = envelope(job_finish(123, jStatus=3), offset=123 * 1000)  # not in OPENLAVA_JOB_STATES: KeyError
    fill(spool, lines)
    until_idle(drain(spool, lavaflow(server)))
    [dead] = dead_letters.select(spool.db)
    assert dead.record_id == orjson.loads(lines[122])["id"] and dead.sink == "lf"
    assert dead.reason.startswith("HTTP 500: Server Error (500) (twice for this batch while an empty import succeeds")
    assert delivered_job_ids(server) == Counter(i for i in range(1, 201) if i != 123)
    assert (server.attempt_count(), chunks.backlog(spool.db, "lf").records) == (199, 0)
    assert server.job_count() == 200  # LavaFlow kept the Job row it wrote before failing (autocommit)


def test_an_outage_of_500s_then_recovery_delivers_everything_and_dead_letters_nothing(
        server: LavaFlowServer, spool: Spool) -> None:
    fill(spool, finishes(450))
    server.outage(500)
    backoff = MendingBackoff(server.mend, after=6)
    until_idle(drain(spool, lavaflow(server), backoff))
    assert backoff.failures == 6 and server.statuses[500] >= 6
    assert dead_letters.select(spool.db) == []
    assert delivered_job_ids(server) == Counter(range(1, 451))


def test_the_last_partial_chunk_is_sent_at_once(server: LavaFlowServer, spool: Spool) -> None:
    fill(spool, finishes(5))
    d = drain(spool, lavaflow(server))
    assert d.step() is True
    assert (server.sizes, chunks.backlog(spool.db, "lf").records) == ([5], 0)


def test_a_request_carries_at_most_chunk_size_records(server: LavaFlowServer, spool: Spool) -> None:
    fill(spool, finishes(450))
    until_idle(drain(spool, lavaflow(server, chunk_size=200)))
    assert server.sizes == [200, 200, 50]


def test_events_lavaflow_ignores_count_as_delivered_without_being_sent(server: LavaFlowServer,
                                                                        spool: Spool) -> None:
    status = {"version": "10.108", "eventTime": 1615412165, "jobId": 1, "jStatus": 4}
    lines = [envelope(job_new(1), type="JOB_NEW", fmt="openlava-events", offset=0)]
    lines += [envelope(status, type="JOB_STATUS", fmt="openlava-events", offset=i) for i in range(1, 10)]
    fill(spool, lines)
    until_idle(drain(spool, lavaflow(server)))
    assert (server.sizes, server.submitted_count(), chunks.backlog(spool.db, "lf").records) == ([1], 1, 0)
    fill(spool, lines[1:])
    until_idle(drain(spool, lavaflow(server)))
    assert (server.sizes, chunks.backlog(spool.db, "lf").records) == ([1], 0)  # no request at all


def test_a_request_that_times_out_is_retried_without_duplicating_a_job(server: LavaFlowServer,
                                                                       spool: Spool) -> None:
    fill(spool, finishes(20))
    server.hang_next(1, 1.0)
    backoff = MendingBackoff()
    until_idle(drain(spool, lavaflow(server, timeout="250ms"), backoff))
    assert backoff.failures == 1 and server.sizes == [20, 20]
    assert (server.job_count(), server.attempt_count()) == (20, 20)


def test_sending_the_same_records_again_creates_no_new_job(server: LavaFlowServer, spool: Spool) -> None:
    lines = [envelope(job_new(i), type="JOB_NEW", fmt="openlava-events", offset=i) for i in range(1, 11)]
    fill(spool, lines + finishes(10))
    until_idle(drain(spool, lavaflow(server)))
    before = (server.job_count(), server.attempt_count(), server.submitted_count())
    fill(spool, lines + finishes(10))  # a backfill of the same files
    until_idle(drain(spool, lavaflow(server)))
    assert before == (server.job_count(), server.attempt_count(), server.submitted_count()) == (10, 10, 10)


def test_a_record_of_another_format_is_dead_lettered_and_does_not_block_the_rest(server: LavaFlowServer,
                                                                                spool: Spool) -> None:
    foreign = envelope({"message": "not accounting"}, type="line", fmt="lines", offset=5, source="app")
    lines = finishes(10)
    fill(spool, lines[:5] + [foreign] + lines[5:])
    until_idle(drain(spool, lavaflow(server)))
    assert [d.record_id for d in dead_letters.select(spool.db)] == [orjson.loads(foreign)["id"]]
    assert delivered_job_ids(server) == Counter(range(1, 11))
