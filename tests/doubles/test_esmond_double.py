"""The esmond double against the real MA (perfsonar/esmond api_v2.py, validators.py; research/esmond.md §3).

Every refusal the real views make is made here with the same status and `detail`, and
the bodies in esmond's own documentation (esmond_samples/, see its README) go through
the double unchanged: the metadata POST body comes back in the documented response
shape, the bulk PUT bodies are stored, and the documented GET answers are read back
byte for byte from what was PUT.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator, Optional

import httpx
import pytest

from tests.doubles.esmond import EsmondServer

SAMPLES = Path(__file__).parent / "esmond_samples"
TOKEN = {"Authorization": "Token test-token"}
NOW = 1_700_000_000


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


@pytest.fixture
def server() -> Iterator[EsmondServer]:
    s = EsmondServer(tokens={"test-token": "writer", "reader-token": "reader"}, readonly=["reader"],
                     clock=lambda: NOW)
    yield s
    s.stop()


def p2p(**changes: Any) -> dict[str, Any]:
    body = {"subject-type": "point-to-point", "source": "10.1.1.1", "destination": "10.1.1.2",
            "measurement-agent": "10.1.1.1", "tool-name": "gridftp", "input-source": "dtn1.example.org",
            "input-destination": "10.1.1.2", "bw-parallel-streams": "4",
            "event-types": [{"event-type": et} for et in ("throughput", "failures", "packet-loss-rate",
                                                          "throughput-subintervals", "histogram-rtt")]}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def create(server: EsmondServer, body: Optional[dict[str, Any]] = None) -> str:
    r = httpx.post(server.root, json=body or p2p(), headers=TOKEN)
    assert r.status_code == 201, r.text
    return str(r.json()["metadata-key"])


def put(server: EsmondServer, key: str, data: list[dict[str, Any]], **kw: Any) -> httpx.Response:
    return httpx.put(f"{server.root}{key}/", json={"data": data}, headers=kw.pop("headers", TOKEN), **kw)


def point(ts: int, event_type: str, value: Any) -> dict[str, Any]:
    return {"ts": ts, "val": [{"event-type": event_type, "val": value}]}


def test_the_documented_metadata_body_comes_back_in_the_documented_response_shape(server: EsmondServer) -> None:
    r = httpx.post(server.root, json=sample("POST_metadata_body_bwctl-iperf3.json"), headers=TOKEN)
    got, documented = r.json(), sample("POST_archive_metadata_response_201.json")
    key = got["metadata-key"]
    assert r.status_code == 201 and len(key) == 32 and int(key, 16) >= 0
    assert set(documented) <= set(got) and got["uri"] == f"/esmond/perfsonar/archive/{key}/"
    throughput = next(et for et in got["event-types"] if et["event-type"] == "throughput")
    assert throughput == {"base-uri": f"/esmond/perfsonar/archive/{key}/throughput/base", "event-type": "throughput",
                          "time-updated": None, "summaries": [
                              {"uri": f"/esmond/perfsonar/archive/{key}/throughput/averages/86400",
                               "summary-type": "average", "summary-window": "86400", "time-updated": None}]}
    assert (got["bw-parallel-streams"], got["time-duration"]) == ("1", "20")


def test_metadata_is_found_again_by_its_lower_cased_checksum(server: EsmondServer) -> None:
    first = create(server)
    assert create(server, p2p(**{"tool-name": "GridFTP", "bw-parallel-streams": 4})) == first
    assert create(server, p2p(**{"bw-parallel-streams": "8"})) != first
    assert server.archive.created == 2


@pytest.mark.parametrize("body, detail", [
    ({"event-types": []}, "Missing subject-type field in request"),
    (p2p(**{"event-types": None}), "Missing event-types field in request"),
    (p2p(**{"subject-type": "host"}), "Invalid subject type host"),
    (p2p(**{"metadata-key": "abc"}), "metadata-key is not allowed to be specified"),
    (p2p(**{"event-types": {"event-type": "throughput"}}), "event_types must be a list"),
    (p2p(**{"event-types": [{"summaries": []}]}), "No event-type defined"),
    (p2p(**{"event-types": [{"event-type": "gridftp-bytes"}]}), "Invalid event-type gridftp-bytes"),
    (p2p(**{"event-types": [{"event-type": "throughput", "summaries": [{"summary-type": "statistics",
                                                                        "summary-window": "0"}]}]}),
     "Summary type statistics not allowed for event-type throughput"),
    (p2p(**{"event-types": [{"event-type": "throughput", "summaries": [{"summary-type": "average",
                                                                        "summary-window": "day"}]}]}),
     "Summary window must be an integer"),
    (p2p(source="dtn1.example.org"), "source must be an IP address, not 'dtn1.example.org'"),
    (p2p(**{"input-source": None}), "Missing required field input-source"),
])
def test_metadata_the_real_server_refuses_is_refused_with_its_detail(server: EsmondServer, body: dict[str, Any],
                                                                     detail: str) -> None:
    r = httpx.post(server.root, json=body, headers=TOKEN)
    assert (r.status_code, r.json()) == (400, {"detail": detail})


@pytest.mark.parametrize("headers, status, body", [
    ({}, 401, {"detail": "Authentication credentials were not provided."}),
    ({"Authorization": "Token wrong"}, 401, {"detail": "Invalid token."}),
    ({"Authorization": "Token"}, 401, {"detail": "Invalid token header. No credentials provided."}),
    ({"Authorization": "Token reader-token"}, 403, {"detail": "You do not have permission to perform this action."}),
    ({"Authorization": "ApiKey logspool:test-token"}, 401, {"detail": "Authentication credentials were not provided."}),
])
def test_writes_need_a_token_of_a_user_who_may_write(server: EsmondServer, headers: dict[str, str], status: int,
                                                     body: dict[str, str]) -> None:
    r = httpx.post(server.root, json=p2p(), headers=headers)
    assert (r.status_code, r.json()) == (status, body)
    assert server.archive.created == 0


def test_reads_are_anonymous_but_a_wrong_token_is_refused_even_there(server: EsmondServer) -> None:
    assert httpx.get(server.root).status_code == 200
    assert httpx.get(server.root, headers={"Authorization": "Token wrong"}).status_code == 401


def test_the_legacy_apikey_header_is_accepted_only_when_configured() -> None:
    s = EsmondServer(tokens={}, apikeys={"alice": "s3cret"})
    try:
        ok = httpx.post(s.root, json=p2p(), headers={"Authorization": "ApiKey alice:s3cret"})
        wrong = httpx.post(s.root, json=p2p(), headers={"Authorization": "ApiKey alice:guess"})
    finally:
        s.stop()
    assert (ok.status_code, wrong.status_code, wrong.content) == (201, 401, b"")


def test_the_documented_bulk_body_is_stored_and_answered_201_with_drf_empty_string(server: EsmondServer) -> None:
    key = create(server, sample("POST_metadata_body_bwctl-iperf3.json"))
    r = httpx.put(f"{server.root}{key}", json=sample("PUT_bulk_body_bwctl-iperf3.json"), headers=TOKEN)
    assert (r.status_code, r.content) == (201, b'""')
    assert server.points(key, "throughput") == {1397807404: 8446270000}
    assert server.points(key, "packet-retransmits") == {1397807404: 112}
    assert len(server.points(key, "throughput-subintervals")[1397807404]) == 21
    assert server.dropped == {}


def test_the_documented_two_item_body_stores_the_first_and_conflicts_on_the_second(server: EsmondServer) -> None:
    body = p2p(**{"event-types": [{"event-type": "throughput"}, {"event-type": "packet-retransmits"}]})
    key = create(server, body)
    r = httpx.put(f"{server.root}{key}/", json=sample("PUT_bulk_body_throughput_retransmits.json"), headers=TOKEN)
    assert (r.status_code, r.json()) == (409, {"detail": "Time series value already exists with event type "
                                                         "throughput at time 1392238390"})
    assert (server.points(key, "throughput"), server.points(key, "packet-retransmits")) == (
        {1392238390: 1000000000}, {1392238390: 10})


@pytest.mark.parametrize("event_type, value, detail", [
    ("throughput", "1.5", "Value must be an integer"),
    ("throughput", None, "Value must be an integer"),
    ("packet-loss-rate", {"numerator": 1}, "Missing required field 'denominator'"),
    ("packet-loss-rate", {"numerator": 1, "denominator": 0}, "The field 'denominator' must be greater than 0"),
    ("packet-loss-rate", {"numerator": -1, "denominator": 5}, "The field 'numerator' cannot be negative"),
    ("throughput-subintervals", [], "Invalid subintervals provided"),
    ("throughput-subintervals", [{"start": 0, "val": 1}], "Invalid subintervals provided"),
    ("histogram-rtt", {"10": "many"}, "Value of histogram must be an integer"),
])
def test_values_are_validated_per_type(server: EsmondServer, event_type: str, value: Any, detail: str) -> None:
    r = put(server, create(server), [point(100, event_type, value)])
    assert (r.status_code, r.json()) == (400, {"detail": detail})


def test_a_refusal_halfway_keeps_the_items_saved_before_it(server: EsmondServer) -> None:
    key = create(server)
    r = put(server, key, [point(100, "throughput", 5), point(101, "throughput", "x"), point(102, "throughput", 7)])
    assert r.status_code == 400 and server.points(key, "throughput") == {100: 5}


def test_raw_types_are_overwritten_and_counted_types_conflict(server: EsmondServer) -> None:
    key = create(server)
    for value in ({"error": "first"}, {"error": "second"}):
        assert put(server, key, [point(100, "failures", value)]).status_code == 201
    loss = {"numerator": 1, "denominator": 10}
    assert put(server, key, [point(100, "packet-loss-rate", loss)]).status_code == 201
    assert put(server, key, [point(100, "packet-loss-rate", loss)]).status_code == 409
    assert server.points(key, "failures") == {100: {"error": "second"}}


def test_an_event_type_the_metadata_did_not_register_is_dropped_silently_and_counted(server: EsmondServer) -> None:
    key = create(server)
    r = put(server, key, [{"ts": 100, "val": [{"event-type": "packet-retransmits", "val": 3},
                                              {"event-type": "throughput", "val": 9}]}])
    assert r.status_code == 201 and server.dropped == {"packet-retransmits": 1}
    assert server.points(key, "throughput") == {100: 9}


@pytest.mark.parametrize("body, detail", [
    ({"points": []}, "Request must contain 'data' element"),
    ({"data": {}}, "The 'data' element must be an array"),
    ({"data": [{"val": []}]}, "Missing ts field in provided data list at position 1"),
    ({"data": [{"ts": 1, "val": {}}]}, "'val' field must be an array in provided data list at position 1"),
    ({"data": [{"ts": 1, "val": [{"val": 1}]}]}, "Missing event-type field at data item 1 in value 1 "),
])
def test_malformed_bulk_bodies_are_refused(server: EsmondServer, body: dict[str, Any], detail: str) -> None:
    r = httpx.put(f"{server.root}{create(server)}/", json=body, headers=TOKEN)
    assert (r.status_code, r.json()) == (400, {"detail": detail})


def test_an_unknown_metadata_key_is_404(server: EsmondServer) -> None:
    assert put(server, "0" * 32, [point(1, "throughput", 1)]).json() == {"detail": "Not found."}
    assert httpx.get(f"{server.root}{'0' * 32}/").status_code == 404


def test_a_single_point_is_posted_to_base_and_only_to_base(server: EsmondServer) -> None:
    key = create(server)
    base = f"{server.root}{key}/throughput/base"
    assert httpx.post(base, json={"ts": "100", "val": 5}, headers=TOKEN).status_code == 201
    assert httpx.post(base, json={"ts": 100, "val": 6}, headers=TOKEN).status_code == 409
    r = httpx.post(f"{server.root}{key}/throughput/averages/86400", json={"ts": 1, "val": 1}, headers=TOKEN)
    assert r.json() == {"detail": "Only base summary-type allowed for writing. Cannot use averages"}
    assert server.points(key, "throughput") == {100: 5}


def test_the_documented_reads_come_back_as_documented(server: EsmondServer) -> None:
    key = create(server, p2p(**{"event-types": [{"event-type": "throughput"},
                                                {"event-type": "packet-retransmits-subintervals"}]}))
    documented = sample("GET_throughput_base.json")
    subintervals = sample("GET_packet-retransmits-subintervals_base.json")
    assert put(server, key, [point(p["ts"], "throughput", int(p["val"])) for p in reversed(documented)]
               + [point(p["ts"], "packet-retransmits-subintervals", p["val"]) for p in subintervals]).status_code == 201
    assert httpx.get(f"{server.root}{key}/throughput/base").json() == documented
    assert httpx.get(f"{server.root}{key}/packet-retransmits-subintervals/base").json() == subintervals


def test_reads_filter_by_time_and_page_with_a_link_header(server: EsmondServer) -> None:
    server.default_limit = 2
    key = create(server)
    put(server, key, [point(ts, "throughput", ts) for ts in (100, 200, 300, 400, 500)])
    base = f"{server.root}{key}/throughput/base"
    first = httpx.get(f"{base}?time-start=150")
    assert [p["ts"] for p in first.json()] == [200, 300]
    assert first.headers["Link"] == f'<{base}?time-start=150&limit=2&offset=2>; rel="next"'
    assert [p["ts"] for p in httpx.get(f"{base}?time-start=150&limit=2&offset=2").json()] == [400, 500]
    assert "Link" not in httpx.get(f"{base}?limit=2").headers  # the query is cut at limit + offset
    assert httpx.get(f"{base}?time-start=300&time-end=200").json() == {
        "detail": "Requested start time must be less than end time"}


def test_the_metadata_list_filters_and_carries_the_page_counts(server: EsmondServer) -> None:
    key = create(server)
    create(server, p2p(source="10.9.9.9"))
    r = httpx.get(f"{server.root}?event-type=throughput&source=10.1.1.1&bw-parallel-streams=4")
    [found] = r.json()
    assert found["metadata-key"] == key and found["metadata-count-total"] == 1
    assert set(sample("GET_archive_metadata_list.json")[0]) - set(found) == {"ip-transport-protocol", "time-duration"}


def test_injected_faults_answer_before_the_archive(server: EsmondServer) -> None:
    server.fail_next(1, 503, method="PUT")
    key = create(server)
    assert put(server, key, [point(1, "throughput", 1)]).status_code == 503
    server.redirect_to("https://ma.example.org")
    r = httpx.post(server.root, json=p2p(), headers=TOKEN)
    assert (r.status_code, r.headers["Location"]) == (301, "https://ma.example.org/esmond/perfsonar/archive/")
    server.redirect_to(None)
    server.outage(500)
    assert httpx.get(server.root).status_code == 500
    server.mend()
    assert put(server, key, [point(1, "throughput", 1)]).status_code == 201


def test_the_root_without_its_slash_is_redirected_and_a_double_slash_is_not_found(server: EsmondServer) -> None:
    r = httpx.post(f"{server.url}/esmond/perfsonar/archive", json=p2p(), headers=TOKEN)
    assert (r.status_code, r.headers["Location"]) == (301, server.root)
    assert httpx.post(f"{server.url}/esmond//perfsonar/archive/", json=p2p(), headers=TOKEN).status_code == 404


def test_a_put_must_be_json_and_patch_is_not_allowed(server: EsmondServer) -> None:
    key = create(server)
    r = httpx.put(f"{server.root}{key}/", content=b'{"data": []}', headers={**TOKEN, "Content-Type": "text/plain"})
    assert r.json() == {"detail": "Must post content-type: application/json header and json-formatted payload."}
    assert httpx.patch(f"{server.root}{key}/", json={}, headers=TOKEN).status_code == 405


def test_without_an_alias_the_archive_is_at_the_root() -> None:
    s = EsmondServer(alias="/")
    try:
        assert s.root == f"{s.url}/perfsonar/archive/"
        assert httpx.post(s.root, json=p2p(), headers={"Authorization": "Token test-token"}).status_code == 201
    finally:
        s.stop()
