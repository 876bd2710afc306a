"""The perfSONAR archive double against the real Apache proxy, Logstash input and pipeline.

Every refusal Apache makes is made here with its status and header; what the http input
and the pipeline would drop or mis-index is a 400 in strict mode and a silent drop
otherwise, as the real archive does. The pipeline's field lists are checked against copies
of its files (perfsonar_samples/), so the double cannot drift from what it imitates.
Valid results come from the sink's own mapping (a field it forgot would show up here).
"""
from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any, Iterator

import httpx
import orjson
import pytest

from agent.sinks.perfsonar import result_for
from tests.agent.sinks.test_perfsonar_result import OBSERVER, bwctl_tcp, gridftp_retr
from tests.doubles.perfsonar import RENAMES, THROUGHPUT, PerfsonarArchive

SAMPLES = Path(__file__).parent / "perfsonar_samples"
AUTH = "Basic " + base64.b64encode(b"perfsonar:proxy-pass").decode()


@pytest.fixture
def archive() -> Iterator[PerfsonarArchive]:
    a = PerfsonarArchive()
    yield a
    a.stop()


def put(archive: PerfsonarArchive, body: Any, auth: str = AUTH, path: str = "", ctype: str = "application/json",
        observer: str = OBSERVER) -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    headers = {"Content-Type": ctype, "x-ps-observer": observer, "Authorization": auth}
    return httpx.put(archive.url + path, content=content, headers=headers)


def throughput() -> dict[str, Any]:
    doc = result_for(bwctl_tcp(), OBSERVER)
    assert doc is not None
    return doc


def transfer() -> dict[str, Any]:
    doc = result_for(gridftp_retr(), OBSERVER)
    assert doc is not None
    return doc


def test_without_credentials_apache_asks_for_them_and_logstash_sees_nothing(archive: PerfsonarArchive) -> None:
    r = put(archive, throughput(), auth="")
    assert (r.status_code, r.headers["WWW-Authenticate"]) == (401, 'Basic realm="Logstash Pass"')
    assert "could not verify that you are authorized" in r.text and archive.bodies == []


def test_a_wrong_password_is_a_401_too(archive: PerfsonarArchive) -> None:
    wrong = "Basic " + base64.b64encode(b"perfsonar:guess").decode()
    assert put(archive, throughput(), auth=wrong).status_code == 401
    assert archive.documents == []


def test_the_realm_is_the_one_apache_logstash_conf_sets() -> None:
    conf = (SAMPLES / "apache-logstash.conf").read_text()
    assert re.search(r'Authname "([^"]+)"', conf).group(1) == "Logstash Pass"  # type: ignore[union-attr]
    assert "ProxyPass /logstash http://localhost:11283" in conf


def test_only_the_proxied_path_reaches_logstash(archive: PerfsonarArchive) -> None:
    assert httpx.put(archive.url.replace("/logstash", "/esmond"), content=b"{}",
                     headers={"Authorization": AUTH}).status_code == 404
    assert put(archive, throughput(), path="/anything").status_code == 200  # ProxyPass maps the subtree


def test_a_result_is_answered_ok_and_indexed_as_the_pipeline_leaves_it(archive: PerfsonarArchive) -> None:
    r = put(archive, throughput())
    assert (r.status_code, r.text, r.headers["Content-Type"]) == (200, "ok", "text/plain")
    [(index, doc)] = archive.documents
    assert index == "pscheduler_throughput"
    assert sorted(doc) == ["id", "meta", "pscheduler", "reference", "result", "test"]
    assert doc["pscheduler"]["start_time"] == "2016-08-16T03:39:47Z"
    assert doc["pscheduler"]["tool"] == "bwctl/iperf3"
    assert doc["pscheduler"]["run_id"] == throughput()["id"]
    assert doc["test"]["spec"]["duration"] == 10  # the ISO duration, converted to seconds
    assert doc["result"]["throughput"] == 388736097.120548 and doc["result"]["retransmits"] == 159
    assert doc["meta"]["observer"] == {"hostname": OBSERVER}
    assert archive.observers() == [OBSERVER]


def test_an_array_is_one_document_per_element(archive: PerfsonarArchive) -> None:
    assert put(archive, [throughput(), transfer()]).status_code == 200
    assert [index for index, _ in archive.documents] == ["pscheduler_throughput", "pscheduler_disk-to-disk"]
    assert archive.documents[1][1]["meta"]["destination"] == {"ip": "192.100.78.81", "hostname": "192.100.78.81"}


def test_the_archive_does_not_deduplicate_a_replay(archive: PerfsonarArchive) -> None:
    put(archive, throughput())
    put(archive, throughput())
    assert archive.run_ids() == {throughput()["id"]: 2}


def test_a_body_that_is_not_json_is_lost_by_the_real_archive_and_refused_by_the_strict_one() -> None:
    for strict, status in ((True, 400), (False, 200)):
        archive = PerfsonarArchive(strict=strict)
        try:
            r = put(archive, b"{not json")
            assert r.status_code == status and archive.documents == []
            assert (archive.dropped == []) == strict
        finally:
            archive.stop()


def test_without_application_json_the_plain_codec_path_reads_one_object_but_not_an_array(
        archive: PerfsonarArchive) -> None:
    assert put(archive, throughput(), ctype="text/plain").status_code == 200
    r = put(archive, [throughput()], ctype="text/plain")
    assert r.status_code == 400 and "not a JSON object" in r.text
    assert len(archive.documents) == 1


@pytest.mark.parametrize("change, reason", [
    (lambda d: d.pop("test"), "no test.type"),
    (lambda d: d["run"].pop("href"), "no pscheduler.run_id"),
    (lambda d: d["run"].update({"start-time": "yesterday"}), "pscheduler.start_time"),
    (lambda d: d["test"]["spec"].update(duration="10s"), "test.spec.duration '10s'"),
    (lambda d: d["test"]["spec"].update(parallel="2"), "test.spec.parallel '2' is not an integer"),
    (lambda d: d["result"]["summary"]["summary"].pop("throughput-bits"), "without result.summary.summary"),
    (lambda d: d["test"].update(type="Throughput"), "invalid_index_name_exception"),
])
def test_what_the_pipeline_would_drop_is_a_400_naming_why(archive: PerfsonarArchive, change: Any,
                                                            reason: str) -> None:
    doc = throughput()
    change(doc)
    r = put(archive, doc)
    assert r.status_code == 400 and reason in r.text and archive.documents == []


def test_a_disk_to_disk_result_needs_succeeded_and_an_iso_duration(archive: PerfsonarArchive) -> None:
    doc = transfer()
    doc["result"]["time"] = 8.5
    assert put(archive, doc).status_code == 400


def test_a_value_of_another_type_than_the_mapping_is_refused_as_opensearch_would(archive: PerfsonarArchive) -> None:
    first, second = transfer(), transfer()
    first["result"]["bytes-sent"] = 100
    second["result"]["bytes-sent"] = 100.5
    assert put(archive, first).status_code == 200
    r = put(archive, second)
    assert r.status_code == 400 and "result.bytes-sent = 100.5 goes into a long field, which truncates it" in r.text
    second["result"]["bytes-sent"] = {"n": 1}
    assert "conflicts with its mapping long" in put(archive, second).text


def test_the_real_archive_keeps_the_good_half_of_a_request_and_maps_nothing_of_what_it_drops() -> None:
    archive = PerfsonarArchive(strict=False)
    try:
        good, bad = transfer(), transfer()
        bad["result"]["bytes-sent"] = "lots"
        r = put(archive, [good, bad])
        assert (r.status_code, r.text) == (200, "ok") and len(archive.documents) == 1
        assert archive.dropped[0][0] == "result.bytes-sent = 'lots' conflicts with its mapping long " \
                                        "(mapper_parsing_exception)"
        assert archive.mappings["pscheduler_disk-to-disk"]["result.bytes-sent"] == "long"
    finally:
        archive.stop()


def test_a_strict_refusal_stores_nothing_of_the_request_and_maps_nothing(archive: PerfsonarArchive) -> None:
    bad = transfer()
    bad["result"]["succeeded"] = "yes"
    assert put(archive, [transfer(), bad]).status_code == 400
    assert archive.documents == [] and archive.mappings == {}


def test_a_body_over_the_limit_is_a_413(archive: PerfsonarArchive) -> None:
    small = PerfsonarArchive(max_body=3000)
    try:
        assert put(small, [transfer()] * 10).status_code == 413
        assert put(small, [transfer()]).status_code == 200
    finally:
        small.stop()


def test_failures_outages_and_redirects_are_injected_before_logstash(archive: PerfsonarArchive) -> None:
    archive.fail_next(1, 429, retry_after="7")
    r = put(archive, transfer())
    assert (r.status_code, r.headers["Retry-After"], r.content) == (429, "7", b"")
    archive.outage(503)
    assert put(archive, transfer()).status_code == 503
    archive.mend()
    archive.redirect("https://archive.example.org/logstash")
    r = put(archive, transfer())
    assert (r.status_code, r.headers["Location"]) == (301, "https://archive.example.org/logstash")
    archive.redirect(None)
    assert put(archive, transfer()).status_code == 200 and len(archive.documents) == 1


def test_a_hung_answer_comes_after_the_documents_are_stored(archive: PerfsonarArchive) -> None:
    archive.hang_next(1, 0.5)
    with pytest.raises(httpx.ReadTimeout):
        httpx.put(archive.url, content=orjson.dumps(transfer()), timeout=0.1,
                  headers={"Content-Type": "application/json", "Authorization": AUTH})
    assert len(archive.documents) == 1


def test_stop_and_start_keep_the_port(archive: PerfsonarArchive) -> None:
    port = archive.port
    archive.stop()
    with pytest.raises(httpx.ConnectError):
        put(archive, transfer())
    archive.start()
    assert archive.port == port and put(archive, transfer()).status_code == 200


def test_the_renames_are_those_of_02_pscheduler_common_conf_in_order() -> None:
    conf = (SAMPLES / "02-pscheduler_common.conf").read_text()
    block = conf[conf.index("rename => {"):conf.index('remove_field => ["run", "task", "tool"]')]
    pairs = re.findall(r'"\[(.+?)\]" => "\[(.+?)\]"', block)
    assert [(a.replace("][", "."), b.replace("][", ".")) for a, b in pairs] == RENAMES
    assert '"[headers][x_ps_observer]" => "[@metadata][ps_observer]"' in conf


def test_the_throughput_fields_are_those_06_result_throughput_conf_keeps() -> None:
    conf = (SAMPLES / "06-result_throughput.conf").read_text()
    pairs = re.findall(r'"\[result\]\[(.+?)\]" => "\[@metadata\]\[result\]\[(.+?)\]"', conf)
    expected = [(a.replace("][", "."), b.replace("][", ".")) for a, b in pairs if a != "summary][streams"]
    assert expected == THROUGHPUT


def test_the_output_is_create_into_pscheduler_test_type_without_a_document_id() -> None:
    conf = (SAMPLES / "99-outputs.conf").read_text()
    assert 'action => "create"' in conf and 'index => "pscheduler_%{[test][type]}"' in conf
    assert "document_id" not in conf
