"""The perfsonar sink against the perfSONAR 5 archive double (tests/doubles/perfsonar.py): keys, requests, answers.

Everything goes over loopback HTTP to the double, which checks Basic auth as Apache does
and runs each result through an imitation of the archive's pipeline; in strict mode it
refuses (400) what the real archive would silently lose, so a delivered batch here is one
the real archive keeps. The last tests run the real drain: a 413 bisects until the pieces
fit, a record the archive refuses ends in dead letters and only it, an outage costs time only.
"""
from __future__ import annotations

import base64
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import orjson
import pytest
from pydantic import ValidationError

from agent.backoff import Backoff
from agent.drain import Drain
from agent.sinks.base import Batch, Delivered, Misconfigured, Outcome, Reject, Retry
from agent.sinks.perfsonar import Config, PerfsonarSink, result_for
from spool import Spool, chunks, dead_letters
from tests.agent.sinks.test_perfsonar_result import (OBSERVER, bwctl_tcp, bwctl_udp, envelope, gridftp,
                                                     gridftp_retr, gridftp_stor, line)
from tests.doubles.perfsonar import PerfsonarArchive

PASSWORD = "proxy-pass"
BASIC = "Basic " + base64.b64encode(f"perfsonar:{PASSWORD}".encode()).decode()


@pytest.fixture
def archive() -> Iterator[PerfsonarArchive]:
    a = PerfsonarArchive(users={"perfsonar": PASSWORD})
    yield a
    a.stop()


def config(archive: PerfsonarArchive, **keys: Any) -> Config:
    base = {"name": "ps", "type": "perfsonar", "url": archive.url, "username": "perfsonar", "password": PASSWORD,
            "observer": OBSERVER, "timeout": "2s"}
    return Config.model_validate({**base, **keys})


@pytest.fixture
def make(archive: PerfsonarArchive) -> Iterator[Callable[..., PerfsonarSink]]:
    made: list[PerfsonarSink] = []

    def build(hostname: Callable[[], str] = lambda: "unused.example.org", **keys: Any) -> PerfsonarSink:
        made.append(PerfsonarSink(config(archive, **keys), hostname=hostname))
        return made[-1]
    yield build
    for s in made:
        s.close()


def send(sink: PerfsonarSink, *records: dict[str, Any]) -> Outcome:
    return sink.send(sink.encode(Batch([line(r) for r in records])))


def error(**keys: Any) -> str:
    base = {"name": "ps", "type": "perfsonar", "url": "https://archive.example.org/logstash"}
    with pytest.raises(ValidationError) as err:
        Config.model_validate({**base, **keys})
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
                     for e in err.value.errors())


# ---- keys -----------------------------------------------------------------------------
def test_the_docstring_example_is_a_valid_config() -> None:
    c = Config.model_validate({"name": "ps-archive", "type": "perfsonar", "url": "https://archive.example.org/logstash",
                               "username": "perfsonar", "password_file": "/etc/logspool/perfsonar-archive.pass",
                               "observer": "dtn01.example.org"})
    assert (c.batch_records, c.tls_verify, c.timeout, str(c.password_file)) == (
        100, True, 30.0, "/etc/logspool/perfsonar-archive.pass")


@pytest.mark.parametrize("keys, message", [
    ({"username": "perfsonar"}, 'password_file: username needs a password: set password_file = '
                                '"/etc/logspool/perfsonar-archive.pass" or password = "env:PS_ARCHIVE_PASSWORD"'),
    ({"password_file": "/p"}, 'password_file: a password needs a username too, e.g. username = "perfsonar"'),
    ({"username": "u", "password": "p", "password_file": "/p"}, "password_file: set password or password_file, "
                                                                 "not both"),
    ({"username": "a:b", "password": "p"}, "username: expected a Basic-auth user name: not empty, without ':' or "
                                           "control characters"),
    ({"url": "archive.example.org/logstash"}, 'url: expected an http:// or https:// URL with a host, e.g. '
                                              '"https://archive.example.org/logstash"'),
    ({"url": "https://u:pw@archive.example.org/logstash"},
     "url: credentials in the URL would show in logs and status; set username and password_file"),
    ({"observer": "localhost"}, "observer: a loopback name or address would file the results under the archive "
                                'host itself; give this host\'s name as the archive resolves it, e.g. '
                                '"dtn01.example.org"'),
    ({"observer": "dtn 01"}, 'observer: expected a host name or an IP address, e.g. "dtn01.example.org" or '
                             '"192.0.2.10"'),
    ({"tls_verify": False, "ca_file": "/ca.pem"}, "ca_file: has no effect with tls_verify = false"),
])
def test_each_key_rule_says_what_to_write(keys: dict[str, Any], message: str) -> None:
    assert error(**keys) == message


def test_a_password_from_the_environment_is_accepted_and_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PS_ARCHIVE_TEST_PASSWORD", "s3cr3t-from-env")
    c = Config.model_validate({"name": "ps", "type": "perfsonar", "url": "https://a.example.org/logstash",
                               "username": "perfsonar", "password": "env:PS_ARCHIVE_TEST_PASSWORD"})
    assert c.password is not None and c.password.get_secret_value() == "s3cr3t-from-env"
    assert "s3cr3t" not in repr(c) and "s3cr3t" not in str(c.model_dump())


# ---- the request ----------------------------------------------------------------------
def test_a_batch_is_one_put_with_basic_auth_the_observer_and_a_json_array(
        archive: PerfsonarArchive, make: Callable[..., PerfsonarSink]) -> None:
    assert send(make(), gridftp_retr(), gridftp_stor(), bwctl_tcp(), bwctl_udp()) == Delivered()
    assert archive.methods == ["PUT"]
    [headers] = archive.headers
    assert (headers["authorization"], headers["x-ps-observer"], headers["content-type"]) == (
        BASIC, OBSERVER, "application/json")
    assert archive.events == [result_for(r, OBSERVER) for r in (gridftp_retr(), gridftp_stor(), bwctl_tcp(), bwctl_udp())]


def test_the_archive_indexes_each_record_as_the_document_a_person_would_expect(
        archive: PerfsonarArchive, make: Callable[..., PerfsonarSink]) -> None:
    assert send(make(), gridftp_retr(), gridftp_stor(), bwctl_tcp(), bwctl_udp()) == Delivered()
    docs = archive.documents
    assert [index for index, _ in docs] == ["pscheduler_disk-to-disk"] * 2 + ["pscheduler_throughput"] * 2
    retr, stor, tcp, udp = (doc for _, doc in docs)
    assert retr["result"] == {"schema": 1, "succeeded": True, "time": "PT8.517581S", "bytes-sent": 100000000,
                              "throughput": 93923380.35881314}
    assert (retr["meta"]["source"], retr["meta"]["destination"]) == (
        {"hostname": "lbl-diskpt1.es.net"}, {"ip": "192.100.78.81", "hostname": "192.100.78.81"})
    assert (stor["meta"]["source"]["ip"], stor["meta"]["destination"]["hostname"]) == (
        "192.101.102.150", "dtn11.nersc.gov")
    assert stor["pscheduler"]["start_time"] == "2019-07-31T07:30:30.432241Z"
    assert tcp["result"] == {"succeeded": True, "throughput": 388736097.120548, "retransmits": 159,
                             "streams": {"json": tcp["result"]["streams"]["json"]},
                             "intervals": {"json": tcp["result"]["intervals"]["json"]}}
    assert [s["retransmits"] for s in tcp["result"]["streams"]["json"]] == [80, 79]
    assert tcp["test"]["spec"] == {"schema": 1, "source": "198.51.100.10", "dest": "203.0.113.20", "duration": 10,
                                   "parallel": 2}
    assert tcp["meta"]["source"] == {"ip": "198.51.100.10", "hostname": "198.51.100.10"}
    assert udp["result"] == {"succeeded": True, "throughput": 1048349.53, "packets_sent": 160, "packets_lost": 3,
                             "jitter": 0.118, "intervals": {"json": udp["result"]["intervals"]["json"]}}
    assert (udp["pscheduler"]["tool"], udp["pscheduler"]["end_time"]) == ("iperf3", "2016-08-16T04:48:45.003100Z")
    assert {doc["meta"]["observer"]["hostname"] for doc in (retr, stor, tcp, udp)} == {OBSERVER}


def test_file_user_and_volume_never_appear_in_any_request(archive: PerfsonarArchive,
                                                          make: Callable[..., PerfsonarSink]) -> None:
    sink = make()
    records = [gridftp_retr(), gridftp_stor(), gridftp(type="STOR", user="alice.smith", volume="/gpfs/proj-x")]
    assert send(sink, *records) == Delivered()
    sent = b"".join(archive.bodies) + orjson.dumps(archive.headers)
    for record in records:
        for key in ("file", "user", "volume"):  # neither as a value nor as a key
            assert orjson.dumps(record["data"][key]) not in sent and f'"{key}"'.encode() not in sent
    assert b"wrfout" not in sent and b"anonymous" not in sent and b"proj-x" not in sent


def test_an_archive_that_admits_this_address_gets_no_credentials(make: Callable[..., PerfsonarSink]) -> None:
    open_archive = PerfsonarArchive(users={}, require_ip=True)
    try:
        assert send(make(url=open_archive.url, username=None, password=None), gridftp_retr()) == Delivered()
        assert "authorization" not in open_archive.headers[0] and len(open_archive.documents) == 1
    finally:
        open_archive.stop()


def test_without_an_observer_the_header_names_this_host(archive: PerfsonarArchive,
                                                        make: Callable[..., PerfsonarSink]) -> None:
    sink = make(hostname=lambda: "gridftp7.example.edu", observer=None)
    assert send(sink, gridftp_retr()) == Delivered()
    assert archive.observers() == ["gridftp7.example.edu"]
    assert archive.events[0]["run"]["href"].startswith("https://gridftp7.example.edu/logspool/tasks/")


def test_a_host_that_only_knows_itself_as_localhost_must_set_observer(archive: PerfsonarArchive,
                                                                     make: Callable[..., PerfsonarSink]) -> None:
    outcome = send(make(hostname=lambda: "localhost", observer=None), gridftp_retr())
    assert isinstance(outcome, Misconfigured) and "set observer" in outcome.reason and archive.requests == 0


def test_records_of_another_format_are_refused_by_id_before_anything_is_sent(
        archive: PerfsonarArchive, make: Callable[..., PerfsonarSink]) -> None:
    other = envelope("lmod:1:0:aa", "lmod", "module_load", 1.0, {"module": "gcc"})
    outcome = send(make(), gridftp_retr(), other)
    assert outcome == Reject("the perfsonar sink sends GridFTP and bwctl/iperf3 results (formats gridftp, "
                             "gridftp-json, bwctl-iperf3, iperf3), not records of format 'lmod'",
                             frozenset({"lmod:1:0:aa"}))
    assert archive.requests == 0


def test_a_batch_of_directory_listings_is_delivered_without_a_request(archive: PerfsonarArchive,
                                                                      make: Callable[..., PerfsonarSink]) -> None:
    assert send(make(), gridftp(type="LIST"), gridftp(type="NLST")) == Delivered()
    assert archive.requests == 0


def test_the_password_file_is_read_before_every_request(tmp_path: Path, archive: PerfsonarArchive,
                                                        make: Callable[..., PerfsonarSink]) -> None:
    secret = tmp_path / "ps.pass"
    secret.write_text("old-pass\n")
    sink = make(password=None, password_file=str(secret))
    archive.users["perfsonar"] = "old-pass"
    assert send(sink, gridftp_retr()) == Delivered()
    secret.write_text("new-pass\n")
    archive.users["perfsonar"] = "new-pass"
    assert send(sink, gridftp_retr()) == Delivered()
    secret.unlink()
    outcome = send(sink, gridftp_retr())
    assert isinstance(outcome, Misconfigured) and outcome.reason.startswith("password_file: cannot read secret file")


# ---- the answers ----------------------------------------------------------------------
def test_a_wrong_password_stops_the_sink_without_the_password_in_the_reason(
        archive: PerfsonarArchive, make: Callable[..., PerfsonarSink]) -> None:
    wrong = "Wr0ng-p4ss"
    outcome = send(make(password=wrong), gridftp_retr())
    assert isinstance(outcome, Misconfigured)
    assert outcome.reason.startswith("HTTP 401: 401 Unauthorized Unauthorized This server could not verify")
    assert "check username and password_file (or password)" in outcome.reason
    token = base64.b64encode(f"perfsonar:{wrong}".encode()).decode()
    assert wrong not in outcome.reason and token not in outcome.reason


def test_an_echoed_password_is_scrubbed_from_every_reason(archive: PerfsonarArchive,
                                                          make: Callable[..., PerfsonarSink]) -> None:
    archive.redirect(f"https://archive.example.org/logstash?echo={BASIC[6:]}&p={PASSWORD}", status=302)
    outcome = send(make(), gridftp_retr())
    assert isinstance(outcome, Misconfigured) and PASSWORD not in outcome.reason and BASIC[6:] not in outcome.reason
    assert "redirects to https://archive.example.org/logstash?echo=***&p=***" in outcome.reason


@pytest.mark.parametrize("status", [301, 302, 308])
def test_a_redirect_stops_the_sink_naming_the_new_location(status: int, archive: PerfsonarArchive,
                                                           make: Callable[..., PerfsonarSink]) -> None:
    archive.redirect("https://archive.example.org/logstash", status=status)
    outcome = send(make(), gridftp_retr())
    assert isinstance(outcome, Misconfigured)
    assert "(the archive redirects to https://archive.example.org/logstash: set url to the final address)" \
        in outcome.reason


def test_a_403_and_a_wrong_path_stop_the_sink(archive: PerfsonarArchive, make: Callable[..., PerfsonarSink]) -> None:
    archive.fail_next(1, 403)
    outcome = send(make(), gridftp_retr())
    assert isinstance(outcome, Misconfigured) and "does not admit this host" in outcome.reason
    outcome = send(make(url=archive.url.replace("/logstash", "/esmond")), gridftp_retr())
    assert isinstance(outcome, Misconfigured) and outcome.reason.startswith("HTTP 404: 404 Not Found")
    assert "check url" in outcome.reason


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_busy_and_unavailable_answers_are_retried_honouring_retry_after(
        status: int, archive: PerfsonarArchive, make: Callable[..., PerfsonarSink]) -> None:
    archive.fail_next(1, status, retry_after="17")
    outcome = send(make(), gridftp_retr())
    assert isinstance(outcome, Retry) and outcome.after == 17.0 and outcome.reason.startswith(f"HTTP {status}")
    assert send(make(), gridftp_retr()) == Delivered()


def test_a_result_the_pipeline_would_lose_is_rejected_for_bisection(archive: PerfsonarArchive,
                                                                    make: Callable[..., PerfsonarSink]) -> None:
    archive.mappings["pscheduler_disk-to-disk"] = {"result.throughput": "long"}  # an index pScheduler made first
    outcome = send(make(), gridftp_retr())
    assert isinstance(outcome, Reject) and outcome.record_ids is None
    assert "result.throughput = 93923380.35881314 goes into a long field, which truncates it" in outcome.reason


def test_a_413_is_rejected_for_bisection_with_what_to_change(make: Callable[..., PerfsonarSink]) -> None:
    small = PerfsonarArchive(users={"perfsonar": PASSWORD}, max_body=2000)
    try:
        outcome = send(make(url=small.url), gridftp_retr(), gridftp_stor(), bwctl_tcp())
        assert isinstance(outcome, Reject) and outcome.record_ids is None
        assert outcome.reason.startswith("HTTP 413: 413 Request Entity Too Large")
        assert "consider a lower batch_records" in outcome.reason
    finally:
        small.stop()


def test_no_answer_in_time_and_a_closed_port_are_retried(archive: PerfsonarArchive,
                                                         make: Callable[..., PerfsonarSink]) -> None:
    archive.hang_next(1, 1.0)
    outcome = send(make(timeout="200ms"), gridftp_retr())
    assert isinstance(outcome, Retry) and outcome.reason.startswith("no answer within 0.2s")
    archive.stop()
    outcome = send(make(), gridftp_retr())
    assert isinstance(outcome, Retry) and outcome.reason.startswith("cannot connect")


def test_an_unreadable_ca_file_stops_the_sink(tmp_path: Path, archive: PerfsonarArchive,
                                              make: Callable[..., PerfsonarSink]) -> None:
    outcome = send(make(ca_file=str(tmp_path / "missing.pem")), gridftp_retr())
    assert isinstance(outcome, Misconfigured) and outcome.reason.startswith("cannot load ca_file")


# ---- under the drain ------------------------------------------------------------------
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


def transfers(n: int) -> list[dict[str, Any]]:
    return [gridftp(f"gridftp-transfer:3f2a9c1d:{280 * i}:{i:08x}", nbytes=1000 * (i + 1), duration=8.0)
            for i in range(n)]


def drained(tmp_path: Path, conf: Config, records: list[dict[str, Any]],
            backoff: Optional[Backoff] = None) -> tuple[Spool, Drain]:
    spool = Spool(tmp_path / "spool.db")
    with spool.transaction() as db:
        chunks.enqueue(db, "transfers", b"".join(line(r) for r in records), len(records), ["ps"])
    sink = PerfsonarSink(conf)
    d = Drain(conf, sink, spool, threading.Event(), backoff=backoff or MendingBackoff())
    for _ in range(500):
        if not d.step():
            break
    sink.close()
    return spool, d


def sent_ids(archive: PerfsonarArchive) -> list[str]:
    return [doc["reference"]["logspool"]["record-id"] for _, doc in archive.documents]


def test_a_413_bisects_until_the_pieces_fit_and_everything_arrives_once(tmp_path: Path) -> None:
    small = PerfsonarArchive(users={"perfsonar": PASSWORD}, max_body=3000)
    try:
        records = transfers(12)
        spool, _ = drained(tmp_path, config(small), records)
        assert sent_ids(small) == [r["id"] for r in records]
        assert small.statuses[413] >= 1 and dead_letters.select(spool.db) == []
        spool.close()
    finally:
        small.stop()


def test_a_refused_record_lands_in_dead_letters_and_the_rest_arrive(tmp_path: Path,
                                                                    archive: PerfsonarArchive) -> None:
    archive.mappings["pscheduler_disk-to-disk"] = {"result.throughput": "long"}  # integral rates fit, 8000/3 not
    records = transfers(9)
    records[4]["data"]["nbytes"] = 1000
    records[4]["data"]["duration"] = 3.0
    spool, _ = drained(tmp_path, config(archive), records)
    assert sent_ids(archive) == [r["id"] for i, r in enumerate(records) if i != 4]
    [dead] = dead_letters.select(spool.db)
    assert dead.record_id == records[4]["id"]
    spool.close()


def test_an_outage_costs_time_and_loses_or_repeats_nothing(tmp_path: Path, archive: PerfsonarArchive) -> None:
    archive.outage(503)
    records = transfers(250)
    backoff = MendingBackoff(archive.mend, after=3)
    spool, _ = drained(tmp_path, config(archive), records, backoff)
    assert backoff.failures == 3
    assert sent_ids(archive) == [r["id"] for r in records] and archive.statuses[200] == 3
    spool.close()
