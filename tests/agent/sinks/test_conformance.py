"""One suite every sink must pass, driven by the real drain (Vector's assert_sink_compliance,
Litestream's RunWithReplicaClient).

Each registered sink type has a `Harness` here that can open the sink against a real
endpoint (a file, a byte stream, a loopback HTTP server), read back the record ids the
endpoint holds, and make the endpoint fail in a retryable way and recover. A test
below fails for any sink type in SINKS that has no harness, so a new sink enrols by
adding one. Backoff waits are zero; the endpoint recovers after a set number of tries.
"""
from __future__ import annotations

import errno
import io
import threading
from pathlib import Path
from typing import Any, Callable, Optional

import orjson
import pytest

from agent.backoff import Backoff
from agent.drain import Drain
from agent.envelope import EnvelopeEncoder, file_record_id
from agent.sinks import SINKS, Batch, Delivered, Outcome, Sink
from agent.sinks import esmond as esmond_sink
from agent.sinks import file as file_sink
from agent.sinks import http as http_sink
from agent.sinks import lavaflow as lavaflow_sink
from agent.sinks import perfsonar as perfsonar_sink
from agent.sinks import sql as sql_sink
from agent.sinks import stdout as stdout_sink
from parsers import FORMATS
from spool import Spool, chunks, dead_letters
from tests.agent.sinks.lavaflow_records import job_finish
from tests.doubles.esmond import EsmondServer
from tests.doubles.http_receiver import HttpReceiver
from tests.doubles.lavaflow import LavaFlowServer
from tests.doubles.perfsonar import PerfsonarArchive
from tests.sql_servers import Gate, make_database


class Harness:
    can_reject = False
    #: The endpoint itself refuses a record it holds already (esmond's 409), so a replay is not stored twice.
    dedups_replays = False

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp

    def open(self) -> Sink:
        raise NotImplementedError

    def ids(self) -> list[str]:
        raise NotImplementedError

    def break_(self) -> None:
        raise NotImplementedError

    def mend(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def refused_as_held(self) -> int:
        """Records the endpoint refused because it held them already (only for `dedups_replays`)."""
        return 0


class FileHarness(Harness):
    """The target is a symlink: to /dev/full while broken (ENOSPC), to a real file otherwise."""

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self.out, self.real = tmp / "out.ndjson", tmp / "real.ndjson"
        self.real.touch()
        self.out.symlink_to(self.real)

    def open(self) -> Sink:
        return file_sink.open(file_sink.Config(name="s", type="file", path=str(self.out)))

    def ids(self) -> list[str]:
        return [orjson.loads(line)["id"] for line in self.real.read_bytes().splitlines()]

    def break_(self) -> None:
        self.out.unlink()
        self.out.symlink_to("/dev/full")

    def mend(self) -> None:
        self.out.unlink()
        self.out.symlink_to(self.real)


class FlakyStream(io.BytesIO):
    broken = False

    def write(self, data: Any) -> int:
        if self.broken:
            raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
        return super().write(data)


class StdoutHarness(Harness):
    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self.stream = FlakyStream()

    def open(self) -> Sink:
        return stdout_sink.StdoutSink(self.stream)

    def ids(self) -> list[str]:
        return [orjson.loads(line)["id"] for line in self.stream.getvalue().splitlines()]

    def break_(self) -> None:
        self.stream.broken = True

    def mend(self) -> None:
        self.stream.broken = False


class HttpHarness(Harness):
    can_reject = True

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self.broken = False
        self.rx = HttpReceiver(plan=lambda n, records: (503, {"Retry-After": "0"}) if self.broken else None,
                               reject_markers=[b"POISON"])

    def open(self) -> Sink:
        return http_sink.open(http_sink.Config(name="s", type="http", url=self.rx.url, timeout="5s"))

    def ids(self) -> list[str]:
        return [rid for rid, count in sorted(self.rx.id_counts().items()) for _ in range(count)]

    def break_(self) -> None:
        self.broken = True

    def mend(self) -> None:
        self.broken = False

    def close(self) -> None:
        self.rx.stop()


class LavaFlowHarness(Harness):
    """LavaFlow imports scheduler accounting only, so the suite's `SEQ=<n>` lines reach the real sink as
    the JOB_FINISH of job n+1 whose jobName is the record id; `POISON` as one whose jStatus the import
    view has no entry for (a 500 every time). Broken = an outage of Django 500s (the probe path)."""

    can_reject = True

    class Translating:
        def __init__(self, sink: Sink) -> None:
            self.sink = sink

        def encode(self, batch: Batch) -> object:
            return self.sink.encode(Batch([self.job(line) for line in batch.records]))

        def send(self, payload: object) -> Outcome:
            return self.sink.send(payload)

        def close(self) -> None:
            self.sink.close()

        @staticmethod
        def job(line: bytes) -> bytes:
            env = orjson.loads(line)
            text = env["data"]["message"]
            n = int(text[4:]) if text.startswith("SEQ=") else 10**6
            data = job_finish(n + 1, jobName=env["id"], jStatus=3 if text == "POISON" else 64)
            env.update(format="openlava-acct", type="JOB_FINISH", cluster="conformance", data=data)
            return orjson.dumps(env) + b"\n"

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self.server = LavaFlowServer(keys=["k"], keep_records=True)

    def open(self) -> Sink:
        config = lavaflow_sink.Config(name="s", type="lavaflow", url=self.server.url, key="k", timeout="5s")
        return self.Translating(lavaflow_sink.open(config))

    def ids(self) -> list[str]:
        return [record["eventLog"]["jobFinishLog"]["jobName"] for _, _, record in self.server.records]

    def break_(self) -> None:
        self.server.outage(500)

    def mend(self) -> None:
        self.server.mend()

    def close(self) -> None:
        self.server.stop()


class EsmondHarness(Harness):
    """esmond archives GridFTP transfers and bwctl/iperf3 runs only, so the suite's `SEQ=<n>` lines reach the real
    sink as the GridFTP RETR that starts n seconds after 2015-04-07T00:00:00Z (one throughput point per record, at
    a second of its own), and the ids are read back from the seconds the archive holds; `POISON` as one whose DEST
    is a host name, which esmond cannot record (dead-lettered). Broken = an outage of 503s. The archive makes a
    replay idempotent itself (409 for a point it holds), so a repeated batch is not seen twice there."""

    can_reject = True
    dedups_replays = True

    class Translating:
        def __init__(self, sink: Sink, by_second: dict[int, str]) -> None:
            self.sink, self.by_second = sink, by_second

        def encode(self, batch: Batch) -> object:
            return self.sink.encode(Batch([self.transfer(line) for line in batch.records]))

        def send(self, payload: object) -> Outcome:
            return self.sink.send(payload)

        def close(self) -> None:
            self.sink.close()

        def transfer(self, line: bytes) -> bytes:
            env = orjson.loads(line)
            text = env["data"]["message"]
            n = int(text[4:]) if text.startswith("SEQ=") else 86399
            self.by_second[1428364800 + n] = env["id"]
            data = {"date": "2015-04-07T23:59:59.000000Z", "start": f"2015-04-07T{n // 3600:02d}:{n // 60 % 60:02d}:"
                    f"{n % 60:02d}.000000Z", "duration": 8.0, "host": "192.0.2.1", "prog": "globus-gridftp-server",
                    "nl_evnt": "FTP_INFO", "user": "u", "file": "/f", "volume": "/", "type": "RETR", "buffer": 0,
                    "block": 262144, "nbytes": 1000, "streams": 1, "stripes": 1, "code": 226,
                    "dest": "dtn.example.org" if text == "POISON" else "192.0.2.7", "taskid": None, "retrans": None,
                    "usec_unpadded": False, "pid": None, "log_time": None, "extra": {}}
            env.update(format="gridftp", type="RETR", data=data)
            return orjson.dumps(env) + b"\n"

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self.server = EsmondServer(tokens={"k": "logspool"})
        self.by_second: dict[int, str] = {}

    def open(self) -> Sink:
        config = esmond_sink.Config(name="s", type="esmond", url=self.server.url, key="k", timeout="5s")
        return self.Translating(esmond_sink.open(config), self.by_second)

    def ids(self) -> list[str]:
        return [self.by_second[ts] for key in self.server.metadata_keys()
                for ts in sorted(self.server.points(key, "throughput"))]

    def refused_as_held(self) -> int:
        return self.server.archive.conflicts

    def break_(self) -> None:
        self.server.outage(503)

    def mend(self) -> None:
        self.server.mend()

    def close(self) -> None:
        self.server.stop()


class PerfsonarHarness(Harness):
    """perfSONAR archives GridFTP transfers and bwctl/iperf3 results only, so the suite's `SEQ=<n>` lines reach the
    real sink as the GridFTP RETR of (n+1) kB in 8 s whose record id is the suite's; `POISON` as one of 1 kB in 3 s,
    whose rate has a fraction while the archive's disk-to-disk index maps throughput as an integer (as an index
    pScheduler's globus tool created first would): OpenSearch would truncate it, the strict double refuses it.
    Broken = Apache's 503 while Logstash is down."""

    can_reject = True

    class Translating:
        def __init__(self, sink: Sink) -> None:
            self.sink = sink

        def encode(self, batch: Batch) -> object:
            return self.sink.encode(Batch([self.transfer(line) for line in batch.records]))

        def send(self, payload: object) -> Outcome:
            return self.sink.send(payload)

        def close(self) -> None:
            self.sink.close()

        @staticmethod
        def transfer(line: bytes) -> bytes:
            env = orjson.loads(line)
            text = env["data"]["message"]
            poison = text == "POISON"
            kbytes = 1 if poison else int(text[4:]) + 1
            data = {"date": "2015-04-07T14:59:45.113944Z", "start": "2015-04-07T14:59:37.113944Z",
                    "duration": 3.0 if poison else 8.0, "host": "dtn01.example.org", "prog": "globus-gridftp-server",
                    "nl_evnt": "FTP_INFO", "user": "u", "file": "/f", "volume": "/", "type": "RETR", "buffer": 0,
                    "block": 262144, "nbytes": 1000 * kbytes, "streams": 1, "stripes": 1, "code": 226,
                    "dest": "192.0.2.7", "taskid": None, "retrans": None, "usec_unpadded": False, "pid": None,
                    "log_time": None, "extra": {}}
            env.update(format="gridftp", type="RETR", data=data)
            return orjson.dumps(env) + b"\n"

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self.server = PerfsonarArchive(users={"perfsonar": "p"})
        self.server.mappings["pscheduler_disk-to-disk"] = {"result.throughput": "long"}

    def open(self) -> Sink:
        config = perfsonar_sink.Config(name="s", type="perfsonar", url=self.server.url, username="perfsonar",
                                       password="p", observer="dtn01.example.org", timeout="5s")
        return self.Translating(perfsonar_sink.open(config))

    def ids(self) -> list[str]:
        return [doc["reference"]["logspool"]["record-id"] for _, doc in self.server.documents]

    def break_(self) -> None:
        self.server.outage(503)

    def mend(self) -> None:
        self.server.mend()

    def close(self) -> None:
        self.server.stop()


class SqlHarness(Harness):
    """A fresh database on the machine's real server (tests/sql_servers.py), profile records, reached
    through a Gate that is shut while broken (connections refused and cut: a retryable failure).
    The primary key refuses a replayed record silently; the sink counts the rows it sent."""

    dialect = ""
    dedups_replays = True

    class Counting:
        def __init__(self, sink: Sink, sent: list[int]) -> None:
            self.sink, self.sent = sink, sent

        def encode(self, batch: Batch) -> object:
            return self.sink.encode(batch)

        def send(self, payload: object) -> Outcome:
            outcome = self.sink.send(payload)
            if isinstance(outcome, Delivered):
                self.sent.append(len(payload.rows))  # type: ignore[attr-defined]
            return outcome

        def close(self) -> None:
            self.sink.close()

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self.db, self.drop = make_database(self.dialect)
        self.gate = Gate(self.db.admin.hostname, self.db.admin.port)
        self.sent: list[int] = []

    def open(self) -> Sink:
        url = self.db.url.replace(f":{self.db.admin.port}/", f":{self.gate.port}/")
        return self.Counting(sql_sink.open(sql_sink.Config(name="s", type="sql", url=url, profile="records",
                                                           timeout="5s")), self.sent)

    def ids(self) -> list[str]:
        # A table has no order of its own: the ids' file offsets give the spool's.
        ids = [row[0] for row in self.db.query("SELECT id FROM logspool_records")]
        return sorted(ids, key=lambda rid: int(rid.split(":")[2]))

    def refused_as_held(self) -> int:
        return sum(self.sent) - len(self.ids())

    def break_(self) -> None:
        self.gate.shut()

    def mend(self) -> None:
        self.gate.reopen()

    def close(self) -> None:
        self.gate.close()
        self.drop()


class MariaDbHarness(SqlHarness):
    dialect = "mysql"


class PostgresHarness(SqlHarness):
    dialect = "postgresql"


HARNESSES: dict[str, Callable[[Path], Harness]] = {"file": FileHarness, "stdout": StdoutHarness,
                                                   "http": HttpHarness, "lavaflow": LavaFlowHarness,
                                                   "esmond": EsmondHarness, "perfsonar": PerfsonarHarness,
                                                   "sql:mariadb": MariaDbHarness, "sql:postgresql": PostgresHarness}


class MendingBackoff(Backoff):
    """No waiting; the endpoint is mended after `after` failed attempts."""

    def __init__(self, mend: Callable[[], None], after: int = 3) -> None:
        super().__init__(1.0, 1.0, rand=lambda: 0.0)
        self.mend, self.after, self.failures = mend, after, 0

    def delay(self, attempt: int, retry_after: Optional[float] = None) -> float:
        self.failures += 1
        if self.failures == self.after:
            self.mend()
        return 0.0


def fill(spool: Spool, n: int, poison: Optional[int] = None) -> list[str]:
    enc = EnvelopeEncoder("app", "lines", "h", None)
    ids, lines = [], []
    for i in range(n):
        text = "POISON" if i == poison else f"SEQ={i}"
        rid = file_record_id("app", "fp", i * 100, text.encode())
        parsed = FORMATS["lines"](text.encode())
        assert parsed is not None
        ids.append(rid)
        lines.append(enc.encode(rid, parsed))
    with spool.transaction() as db:
        for start in range(0, n, 400):
            part = lines[start:start + 400]
            chunks.enqueue(db, "app", b"".join(part), len(part), ["s"])
    return ids


def drain(spool: Spool, sink: Sink, backoff: Optional[Backoff] = None) -> Drain:
    from agent.sinks.base import SinkConfig
    return Drain(SinkConfig(name="s", type="x", batch_records=250), sink, spool, threading.Event(),
                 backoff=backoff or Backoff(1.0, 1.0, rand=lambda: 0.0))


def until_idle(d: Drain) -> None:
    for _ in range(1000):
        if not d.step():
            return
    raise AssertionError("the drain never went idle")


@pytest.fixture(params=sorted(HARNESSES))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    h = HARNESSES[request.param](tmp_path)
    yield h
    h.close()


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path / "spool.db")


def test_every_registered_sink_has_a_conformance_harness() -> None:
    assert {kind.partition(":")[0] for kind in HARNESSES} == set(SINKS)  # "sql:<database>": one per server


def test_every_record_arrives_once_by_id_in_order(harness: Harness, spool: Spool) -> None:
    ids = fill(spool, 1000)
    until_idle(drain(spool, harness.open()))
    assert harness.ids() == (sorted(ids) if isinstance(harness, HttpHarness) else ids)
    assert chunks.backlog(spool.db, "s").records == 0


def test_a_retryable_failure_delays_delivery_but_loses_and_repeats_nothing(harness: Harness, spool: Spool) -> None:
    ids = fill(spool, 600)
    harness.break_()
    backoff = MendingBackoff(harness.mend, after=3)
    until_idle(drain(spool, harness.open(), backoff))
    assert backoff.failures == 3
    assert sorted(harness.ids()) == sorted(ids)


def test_a_crash_between_send_and_ack_repeats_only_that_batch_with_the_same_ids(harness: Harness,
                                                                                spool: Spool) -> None:
    ids = fill(spool, 600)
    sink = harness.open()
    real_send = sink.send

    def send_then_crash(payload: object) -> Any:
        real_send(payload)
        raise SystemExit("killed after the endpoint acknowledged, before the spool did")

    sink.send = send_then_crash  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        drain(spool, sink).step()
    until_idle(drain(spool, harness.open()))  # the next run
    got = harness.ids()
    assert sorted(set(got)) == sorted(ids)
    repeated = sorted(i for i in set(got) if got.count(i) > 1)
    if harness.dedups_replays:  # the batch was sent again, and the archive refused each of its points as held
        assert repeated == [] and harness.refused_as_held() >= 250
    else:
        assert repeated == sorted(ids[:250])  # exactly the first batch, each with its own id


@pytest.mark.parametrize("kind", sorted(k for k, h in HARNESSES.items() if getattr(h, "can_reject", False)))
def test_a_refused_record_lands_in_dead_letters_and_the_rest_arrive(kind: str, tmp_path: Path, spool: Spool) -> None:
    """Only endpoints that can refuse a record (a file or a stream cannot) run this."""
    harness = HARNESSES[kind](tmp_path)
    try:
        ids = fill(spool, 300, poison=123)
        until_idle(drain(spool, harness.open()))
        assert sorted(harness.ids()) == sorted(i for i in ids if i != ids[123])
        assert [d.record_id for d in dead_letters.select(spool.db)] == [ids[123]]
    finally:
        harness.close()
