"""The esmond sink against the protocol-faithful esmond double: every answer class, replays, state.

Batches are built from envelopes in the contract's shapes (test_esmond_measure.py's
builders); the double is the judge of what was stored (`points`), what was created
(`archive.created`), and what esmond would have dropped without a word (`dropped`, which
must stay empty: it proves the sink registers every event type it sends). Host names
resolve through an injected resolver, so no test touches DNS.
"""
from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import httpx
import pytest
from pydantic import ValidationError

from agent.backoff import Backoff
from agent.drain import Drain
from agent.sinks import Batch, Delivered, Misconfigured, Outcome, Reject, Retry
from agent.sinks.esmond import Config, EsmondSink
from agent.sinks.esmond.measure import measure
from agent.sinks.esmond.measurement import Options
from parsers import bwctl_iperf3, gridftp as gridftp_parser, iperf3
from spool import Spool, chunks, dead_letters
from tests.agent.sinks.test_esmond_measure import RUN_TS, START_TS, gridftp, line, run
from tests.doubles.esmond import EsmondServer

SAMPLES = Path(__file__).resolve().parents[2] / "parsers" / "samples"
KEY = "test-token"
HOST_IP = "131.243.2.11"


class DictState:
    """The drain's SinkState, in memory."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    def load(self) -> dict[str, str]:
        return dict(self.data)

    def save(self, key: str, value: str) -> None:
        self.data[key] = value

    def forget(self, key: str) -> None:
        self.data.pop(key, None)


@pytest.fixture
def server() -> Iterator[EsmondServer]:
    s = EsmondServer(tokens={KEY: "logspool", "reader-token": "reader"}, readonly=["reader"])
    yield s
    s.stop()


def config(server: EsmondServer, **keys: Any) -> Config:
    return Config.model_validate({"name": "ma", "type": "esmond", "url": server.url, "key": KEY, "timeout": "2s",
                                  **keys})


def sink(server: EsmondServer, resolve: Optional[Callable[[str, int], str]] = None, **keys: Any) -> EsmondSink:
    return EsmondSink(config(server, **keys), resolve=resolve or (lambda host, family: HOST_IP))


def deliver(s: EsmondSink, *envelopes: dict[str, Any]) -> Outcome:
    return s.send(s.encode(Batch([line(e) for e in envelopes])))


def transfer(n: int, **changes: Any) -> dict[str, Any]:
    """Transfer n of one endpoint pair, starting n seconds after the first."""
    return gridftp(f"g{n}", start=f"2015-04-07T14:59:{36 + n:02d}.596363Z", **changes)


def only_key(server: EsmondServer) -> str:
    [key] = server.metadata_keys()
    return key


def methods(server: EsmondServer) -> list[str]:
    return [r.method for r in server.requests]


def test_transfers_of_one_endpoint_pair_share_one_metadata_created_once(server: EsmondServer) -> None:
    s = sink(server)
    assert deliver(s, transfer(0), transfer(1), transfer(2)) == Delivered()
    assert deliver(s, transfer(3), transfer(4, dest="192.100.78.99")) == Delivered()
    assert methods(server) == ["POST", "PUT", "POST", "PUT", "PUT"] and server.archive.created == 2
    key = next(k for k in server.metadata_keys() if server.points(k, "throughput").keys() >= {START_TS})
    assert sorted(server.points(key, "throughput")) == [START_TS + n for n in range(4)]


def test_a_new_sink_reuses_the_stored_key_after_one_check(server: EsmondServer) -> None:
    state = DictState()
    first = sink(server)
    first.attach_state(state)
    deliver(first, transfer(0))
    second = sink(server)
    second.attach_state(state)
    assert deliver(second, transfer(1)) == deliver(second, transfer(2)) == Delivered()
    assert methods(server) == ["POST", "PUT", "GET", "PUT", "PUT"]
    assert list(state.data.values()) == [only_key(server)]


def test_a_stored_key_the_archive_lost_is_created_again_not_silently_lost(server: EsmondServer) -> None:
    state = DictState()
    first = sink(server)
    first.attach_state(state)
    deliver(first, transfer(0))
    server.archive.metadata.clear()
    server.archive.by_checksum.clear()
    second = sink(server)
    second.attach_state(state)
    assert deliver(second, transfer(1)) == Delivered()
    assert server.points(only_key(server), "throughput") == {START_TS + 1: 93923380}
    assert list(state.data.values()) == [only_key(server)]


def test_a_put_to_a_key_the_archive_lost_is_retried_and_the_key_made_again(server: EsmondServer) -> None:
    state = DictState()
    s = sink(server)
    s.attach_state(state)
    deliver(s, transfer(0))
    server.archive.metadata.clear()
    server.archive.by_checksum.clear()
    outcome = deliver(s, transfer(1))
    assert isinstance(outcome, Retry) and "no longer has it" in outcome.reason and state.data == {}
    assert deliver(s, transfer(1)) == Delivered() and list(server.points(only_key(server), "throughput")) == [
        START_TS + 1]


def test_a_replayed_batch_stores_nothing_twice_and_counts_delivered(server: EsmondServer) -> None:
    s = sink(server)
    batch = [transfer(0), transfer(1), run()]
    deliver(s, *batch)
    stored = server.archive.stored
    assert deliver(s, *batch) == Delivered()
    assert server.archive.stored == stored + 8  # the json and subinterval points, overwritten with themselves
    assert server.points(only_key_of(server, "gridftp"), "throughput") == {START_TS: 93923380, START_TS + 1: 93923380}


def only_key_of(server: EsmondServer, tool: str) -> str:
    [key] = [k for k in server.metadata_keys() if server.archive.metadata[k].subject["tool-name"] == tool]
    return key


def test_a_duplicate_in_the_middle_of_a_batch_loses_nothing_after_it(server: EsmondServer) -> None:
    s = sink(server)
    deliver(s, transfer(1))
    assert deliver(s, transfer(0), transfer(1), transfer(2)) == Delivered()
    key = only_key(server)
    assert sorted(server.points(key, "throughput")) == sorted(server.points(key, "streams-packet-retransmits")) == [
        START_TS, START_TS + 1, START_TS + 2]
    assert s.duplicates == 2  # g1's throughput, and g0's, which the first PUT stored before it stopped at g1


def test_every_event_type_the_sink_sends_is_registered(server: EsmondServer) -> None:
    raw = {"iostat": {"Dev": "sda"}, "mpstat": {"CPU": "all"}, "getrusage": {"ru_maxrss": 1}, "streams": [{}]}
    s = sink(server, send_file=True, send_user=True, send_volume=True)
    records = [transfer(0), transfer(1, code=426), transfer(2, type="STOR"),
               gridftp("j1", fmt="gridftp-json", raw=raw), run("b1"), run("b2", protocol="udp"),
               run("b3", local_receiver="10.0.0.2", error="iperf3 stopped"), run("b4", fmt="iperf3")]
    assert deliver(s, *records) == Delivered()
    options = Options(send_file=True, send_user=True, send_volume=True)
    sent = sum(len(m.points) for m in (measure(r, options) for r in records) if m is not None)
    assert server.dropped == {} and server.archive.stored == sent == 37


def test_a_failed_transfer_is_archived_as_its_ftp_reply(server: EsmondServer) -> None:
    deliver(sink(server), transfer(0, code=451))
    assert server.points(only_key(server), "failures") == {
        START_TS: {"error": "451 Requested action aborted: local error in processing."}}


def test_a_tcp_run_and_a_udp_run_are_stored_with_their_values(server: EsmondServer) -> None:
    deliver(sink(server), run(), run("u", protocol="udp", destination="10.0.0.3"))
    tcp, udp = sorted(server.metadata_keys(), key=lambda k: server.archive.metadata[k].subject["destination"])
    assert server.points(tcp, "streams-packet-retransmits") == {RUN_TS: [1, 2]}
    assert server.points(tcp, "throughput") == {RUN_TS: 9100000000}
    assert server.points(udp, "packet-loss-rate") == {RUN_TS: {"numerator": 3, "denominator": 1000}}
    assert server.points(udp, "packet-retransmits-subintervals") == {}


def test_without_the_privacy_flags_no_file_user_or_volume_leaves_the_host(server: EsmondServer) -> None:
    deliver(sink(server), transfer(0, user="alice-private", file="/home/alice-private/f", volume="/private-vol"))
    assert server.archive.stored == 2
    assert [r for r in server.requests if b"private" in r.body or "private" in r.path] == []


def test_a_wrong_key_stops_the_sink_and_the_reason_does_not_hold_the_key(server: EsmondServer) -> None:
    outcome = deliver(sink(server, key="W1thheld-s3cret"), transfer(0))
    assert isinstance(outcome, Misconfigured) and outcome.reason.startswith("HTTP 401 creating the metadata: "
                                                                            "Invalid token. (the archive refuses")
    assert "W1thheld-s3cret" not in outcome.reason and server.archive.created == 0


def test_a_user_who_may_not_write_stops_the_sink(server: EsmondServer) -> None:
    outcome = deliver(sink(server, key="reader-token"), transfer(0))
    assert isinstance(outcome, Misconfigured) and "HTTP 403" in outcome.reason


def test_a_key_an_endpoint_echoes_is_scrubbed_from_the_reason() -> None:
    client = httpx.Client(transport=httpx.MockTransport(
        lambda r: httpx.Response(401, json={"detail": f"bad {r.headers['Authorization']}"})))
    s = EsmondSink(Config.model_validate({"name": "ma", "type": "esmond", "url": "http://ma.test", "key": "Ech0ed"}),
                   client=client, resolve=lambda host, family: HOST_IP)
    outcome = deliver(s, transfer(0))
    assert isinstance(outcome, Misconfigured) and outcome.reason.startswith("HTTP 401 creating the metadata: bad "
                                                                            "Token ***")


def test_a_redirect_stops_the_sink_naming_the_new_location(server: EsmondServer) -> None:
    server.redirect_to("https://ma.example.org")
    outcome = deliver(sink(server), transfer(0))
    assert isinstance(outcome, Misconfigured)
    assert "redirects to https://ma.example.org/esmond/perfsonar/archive/" in outcome.reason


def test_server_errors_timeouts_and_a_stopped_archive_are_retried(server: EsmondServer) -> None:
    s = sink(server, timeout="0.3s")
    server.fail_next(1, 503, method="PUT")
    assert isinstance(deliver(s, transfer(0)), Retry)
    server.hang_next(1, 1.0)
    outcome = deliver(s, transfer(0))
    assert isinstance(outcome, Retry) and outcome.reason.startswith("no answer within 0.3s")
    server.stop()
    assert isinstance(deliver(s, transfer(0)), Retry)
    server.start()
    assert deliver(s, transfer(0)) == Delivered() and len(server.points(only_key(server), "throughput")) == 1


def test_a_refused_put_rejects_its_one_record_or_leaves_the_batch_to_bisection(server: EsmondServer) -> None:
    s = sink(server)
    server.fail_next(2, 400, method="PUT", detail="Value must be an integer")
    assert deliver(s, transfer(0)) == Reject("HTTP 400 storing the points: Value must be an integer",
                                             frozenset({"g0"}))
    assert deliver(s, transfer(0), transfer(1)) == Reject("HTTP 400 storing the points: Value must be an integer")


def test_a_refused_metadata_rejects_the_records_of_that_metadata(server: EsmondServer) -> None:
    outcome = deliver(sink(server, resolve=lambda host, family: "dtn-name"), transfer(0), transfer(1))
    assert outcome == Reject("HTTP 400 creating the metadata: source must be an IP address, not 'dtn-name'",
                             frozenset({"g0", "g1"}))


def test_dns_failure_is_retried_and_sends_nothing_until_it_resolves(server: EsmondServer) -> None:
    answers: list[Any] = [socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"), HOST_IP]

    def resolve(host: str, family: int) -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return str(answer)
    s = sink(server, resolve=resolve)
    outcome = deliver(s, transfer(0))
    assert isinstance(outcome, Retry) and outcome.reason.startswith(
        "cannot resolve lbl-diskpt1.es.net to an IPv4 address for the measurement agent")
    assert server.requests == []
    assert deliver(s, transfer(0)) == deliver(s, transfer(1)) == Delivered() and answers == []


def test_other_formats_are_rejected_by_id_and_other_transfers_delivered_unsent(server: EsmondServer) -> None:
    s = sink(server)
    other = {"id": "x1", "format": "lsb-events", "type": "JOB_NEW", "data": {}}
    outcome = deliver(s, transfer(0), other)
    assert isinstance(outcome, Reject) and outcome.record_ids == frozenset({"x1"}) and "'lsb-events'" in outcome.reason
    assert deliver(s, transfer(0, type="LIST"), transfer(1, type="NLST")) == Delivered() and server.requests == []


def test_two_transfers_starting_in_one_second_keep_the_first(server: EsmondServer) -> None:
    s = sink(server)
    assert deliver(s, transfer(0), transfer(0, nbytes=8, retrans=None)) == Delivered()
    assert server.points(only_key(server), "throughput") == {START_TS: 93923380} and s.collisions == 1


def test_the_legacy_apikey_header_is_sent_when_asked_for() -> None:
    server = EsmondServer(tokens={}, apikeys={"alice": "s3cret"})
    try:
        s = sink(server, auth="apikey", username="alice", key="s3cret")
        assert deliver(s, transfer(0)) == Delivered()
        assert {r.authorization for r in server.requests} == {"ApiKey alice:s3cret"}
    finally:
        server.stop()


def test_the_key_file_is_read_for_every_batch(server: EsmondServer, tmp_path: Path) -> None:
    key_file = tmp_path / "esmond.key"
    s = EsmondSink(config(server, key=None, key_file=str(key_file)), resolve=lambda host, family: HOST_IP)
    assert isinstance(deliver(s, transfer(0)), Misconfigured)
    key_file.write_text(f"{KEY}\n")
    assert deliver(s, transfer(0)) == Delivered()


@pytest.mark.parametrize("alias, root", [
    ("/esmond/", "/esmond/perfsonar/archive/"), ("esmond", "/esmond/perfsonar/archive/"),
    ("//ma/esmond", "/ma/esmond/perfsonar/archive/"), ("/", "/perfsonar/archive/"), ("", "/perfsonar/archive/"),
])
def test_the_script_alias_is_one_path_whatever_its_slashes(alias: str, root: str) -> None:
    c = Config.model_validate({"name": "ma", "type": "esmond", "url": "https://ma.example.org/", "script_alias": alias})
    assert c.root() == "https://ma.example.org" + root


@pytest.mark.parametrize("keys, message", [
    ({"url": "https://ma.example.org/esmond"}, 'without a path; put "/esmond" in script_alias'),
    ({"auth": "apikey", "key": "k"}, 'auth = "apikey" sends "ApiKey <username>:<key>": set username'),
    ({"key": "k", "key_file": "/k"}, "set key or key_file, not both"),
    ({"key": "two words"}, "the API key must be printable ASCII without spaces"),
    ({"measurement_agent": "dtn.example.org"}, "expected an IPv4 or IPv6 address"),
    ({"script_alias": "/es mond"}, 'expected a URL path such as "/esmond"'),
])
def test_config_mistakes_are_named(keys: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Config.model_validate({"name": "ma", "type": "esmond", "url": "https://ma.example.org", **keys})


def test_a_record_of_an_unexpected_shape_is_rejected_not_raised(server: EsmondServer) -> None:
    odd = run("b9", stream_results=[{"id": None, "throughput": 1.0}, {"id": 3, "throughput": 2.0}])
    outcome = deliver(sink(server), odd)
    assert isinstance(outcome, Reject) and outcome.record_ids == frozenset({"b9"})
    assert outcome.reason.startswith("the record's data has a shape the esmond sink cannot read (TypeError")


def test_under_the_drain_a_refused_record_is_dead_lettered_and_the_others_arrive(server: EsmondServer,
                                                                                 tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    lines = [line(transfer(n, host="bad.example.org" if n == 3 else "lbl-diskpt1.es.net")) for n in range(6)]
    with spool.transaction() as db:
        chunks.enqueue(db, "gridftp", b"".join(lines), len(lines), ["ma"])
    s = sink(server, resolve=lambda host, family: "dtn-name" if host.startswith("bad") else HOST_IP)
    d = Drain(config(server), s, spool, threading.Event(), backoff=Backoff(0.0, 0.0, rand=lambda: 0.0))
    for _ in range(20):
        if not d.step():
            break
    [dead] = dead_letters.select(spool.db)
    assert (dead.record_id, chunks.backlog(spool.db, "ma").records) == ("g3", 0)
    assert sorted(server.points(only_key(server), "throughput")) == [START_TS + n for n in (0, 1, 2, 4, 5)]
    assert "PUT" not in methods(server)[:2] and s.duplicates == 0
    spool.close()


def test_every_gridftp_and_iperf3_sample_is_archived_with_nothing_dropped(server: EsmondServer) -> None:
    envelopes = []
    for path in sorted((SAMPLES / "gridftp").glob("*.log")):
        for n, raw in enumerate(path.read_bytes().splitlines()):
            parsed = gridftp_parser.parse(raw)
            assert parsed is not None
            envelopes.append({"id": f"{path.name}:{n}", "format": "gridftp", "time": parsed.time,
                              "host": "dtn.example.org", "type": parsed.type, "data": parsed.data})
    for fmt, parser, pattern in (("bwctl-iperf3", bwctl_iperf3, "*.txt"), ("iperf3", iperf3, "*.json")):
        for path in sorted((SAMPLES / fmt).glob(pattern)):
            parsed = parser.parse(path.read_bytes())
            assert parsed is not None
            envelopes.append({"id": path.name, "format": fmt, "time": parsed.time, "host": "ps.example.org",
                              "type": parsed.type, "data": parsed.data})
    s = sink(server)
    assert deliver(s, *envelopes) == Delivered()
    assert server.dropped == {} and server.archive.stored > 30
    bwctl = [server.archive.metadata[k].subject for k in server.metadata_keys()
             if server.archive.metadata[k].subject["tool-name"] == "bwctl/iperf3"]
    assert {(m["source"], m["destination"]) for m in bwctl} >= {("198.51.100.10", "203.0.113.20")}
