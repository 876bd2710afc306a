"""A batch as esmond PUT bodies (encode.py): the gridftp fast path against measure(), body for body.

The reference is the sink's original algorithm, written out here: every record through
measure(), grouped by metadata in spool order, a record whose COUNTED (ts, event type) an
earlier one of its metadata took left out, and the body built by `bulk()` in one call.
The encoder must give the same bodies byte for byte and refuse the same records with the
same reasons, including when a setup it has cached comes back with a value of another type.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from agent.sinks import Batch, Delivered
from agent.sinks.esmond import Config, EsmondSink
from agent.sinks.esmond.encode import Encoder, bulk, points_of
from agent.sinks.esmond.measure import measure
from agent.sinks.esmond.measurement import COUNTED, Options, Unusable
from parsers import gridftp as gridftp_parser
from tests.agent.sinks.test_esmond_measure import RUN_TS, gridftp, line, run
from tests.doubles.esmond import EsmondServer

SAMPLES = Path(__file__).resolve().parents[2] / "parsers" / "samples"
OPTIONS = [Options(), Options(send_file=True, send_user=True, send_volume=True),
           Options(measurement_agent="192.0.2.10")]


def reference(envelopes: list[dict[str, Any]], options: Options) -> tuple[dict[Any, bytes], list[tuple[str, str]]]:
    """{memo: PUT body} and the refused records, as the sink computed them before encode.py."""
    groups: dict[Any, tuple[list[Any], set[Any]]] = {}
    refused = []
    for envelope in envelopes:
        try:
            m = measure(envelope, options)
        except Unusable as exc:
            refused.append((envelope["id"], str(exc)))
            continue
        if m is None:
            continue
        points, taken = groups.setdefault((m.fields, m.agent, m.agent_fields, m.event_types), ([], set()))
        counted = {(m.ts, et) for et, _v in m.points if et in COUNTED}
        if counted & taken:
            continue
        taken |= counted
        points.extend((m.ts, et, value, m.record_id) for et, value in m.points)
    return {memo: bulk(points) for memo, (points, _t) in groups.items() if points}, refused


def encoded(envelopes: list[dict[str, Any]], options: Options) -> tuple[dict[Any, bytes], list[tuple[str, str]]]:
    result = Encoder(options).encode([line(e) for e in envelopes])
    assert all(points_of(g.kept) and bulk(points_of(g.kept)) == g.bulk for g in result.groups if g.bulk)
    return {g.memo: g.bulk for g in result.groups if g.bulk}, list(result.refused)


def samples() -> list[dict[str, Any]]:
    envelopes = []
    for path in sorted((SAMPLES / "gridftp").glob("*.log")):
        for n, raw in enumerate(path.read_bytes().splitlines()):
            parsed = gridftp_parser.parse(raw)
            assert parsed is not None
            envelopes.append(orjson.loads(orjson.dumps({
                "id": f"{path.name}:{n}", "source": "s", "format": "gridftp", "time": parsed.time,
                "host": "dtn.example.org", "cluster": None, "type": parsed.type, "data": parsed.data})))
    return envelopes


def transfers() -> list[dict[str, Any]]:
    """One endpoint pair and its neighbours: successes, failures, zero durations, retrans or not, shared seconds."""
    out = []
    for n in range(40):
        second = f"2015-04-07T14:{58 + n // 30:02d}:{(n * 7) % 60:02d}.5Z"
        out.append(gridftp(f"t{n}", start=second, code=(226, 226, 426, 500, 226)[n % 5],
                           duration=(8.517581, 0.0, 3, 1e-3)[n % 4], retrans=(None, [1, 2], [])[n % 3],
                           type=("RETR", "STOR", "RETR", "LIST")[n % 4], dest=("192.100.78.81", "2001:db8::5")[n % 2],
                           host=("lbl-diskpt1.es.net", "10.1.1.1")[n % 7 == 0], user=("alice", "bob")[n % 2]))
    return out


@pytest.mark.parametrize("options", OPTIONS)
def test_gridftp_samples_and_transfers_encode_as_measure_makes_them(options: Options) -> None:
    envelopes = samples() + transfers() + [run("b1"), run("b2", protocol="udp"), gridftp("j1", fmt="gridftp-json")]
    expected, refused = reference(envelopes, options)
    assert expected and refused == []
    assert encoded(envelopes, options) == (expected, refused)


BROKEN = [
    {"streams": 5.0}, {"streams": True}, {"block": "262144"}, {"host": ""}, {"prog": None}, {"dest": "dtn.x"},
    {"code": "226"}, {"code": 226.0}, {"duration": "8"}, {"duration": True}, {"nbytes": 1.5}, {"start": "x"},
    {"start": "2015-04-07T14:59:3"}, {"start": "2015-02-30T14:59:36.5Z"}, {"start": "2015-04-07 14:59:36.5Z"},
    {"start": 1428418776}, {"user": ""}, {"volume": None}, {"file": ""}, {"type": "ESTO"}, {"retrans": 3},
]


@pytest.mark.parametrize("options", OPTIONS[:2])
@pytest.mark.parametrize("change", BROKEN, ids=lambda c: repr(c))
def test_a_record_the_fast_path_is_unsure_of_is_judged_by_measure(options: Options, change: dict[str, Any]) -> None:
    """After a valid record has put its setup in the cache: 5.0 and True equal 5 as dict keys, and must not pass."""
    envelopes = [gridftp("ok"), gridftp("odd", **{"start": "2015-04-07T14:59:37.5Z", **change})]
    assert encoded(envelopes, options) == reference(envelopes, options)


def test_groups_that_resolve_to_one_metadata_are_merged_in_spool_order() -> None:
    """Two names of one host: kept apart by encode, one metadata once resolved; the later run in a taken
    second is a collision, as it would be for one name."""
    server = EsmondServer()
    try:
        config = Config.model_validate({"name": "ma", "type": "esmond", "url": server.url, "key": "test-token"})
        sink = EsmondSink(config, resolve=lambda host, family: "10.9.9.9")
        runs = [run("r0"), run("r1", start_time=RUN_TS + 1), run("r2"), run("r3", start_time=RUN_TS + 2)]
        for r, host in zip(runs, ("ps", "ps.example.org", "ps.example.org", "ps")):
            r["host"] = host
        payload = sink.encode(Batch([line(r) for r in runs]))
        assert len(payload.groups) == 2
        assert sink.send(payload) == Delivered()
        assert [r.method for r in server.requests] == ["POST", "PUT"] and sink.collisions == 1
        kept = [runs[0], runs[1], runs[3]]
        with_agent = {**Options().__dict__, "measurement_agent": "10.9.9.9"}
        expected, _refused = reference(kept, Options(**with_agent))
        assert list(expected.values()) == [server.requests[1].body]
    finally:
        server.stop()
