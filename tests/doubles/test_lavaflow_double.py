"""The LavaFlow double against the real server's views (lavaFlow/views.py, models.py; scheduler.md §1.3, §1.7).

Every rejection the real views make is made here with the same status and body, and
the stored rows follow `get_or_create` as the server's database does. Valid records
come from the sink's encoder (so a key it forgot would show up here as a 500), the
invalid ones are those records with one thing broken.
"""
from __future__ import annotations

import copy
import gc
import importlib.util
from pathlib import Path
from typing import Any, Iterator

import httpx
import orjson
import pytest

from agent.sinks.lavaflow.encode import encode_lines, openlava_record
from agent.sinks.lavaflow.gridengine import gridengine_record, univa82_record
from tests.agent.sinks.lavaflow_records import envelope, job_finish, job_new, rusage, sge_row, uge_row
from tests.doubles.lavaflow import LavaFlowServer

KEY = "test-key"
OK = b'{\n   "data": null, \n   "message": "Import Successful", \n   "status": "OK"\n}'


@pytest.fixture
def server() -> Iterator[LavaFlowServer]:
    s = LavaFlowServer(keys=[KEY])
    yield s
    s.stop()


def post(server: LavaFlowServer, payload: Any, kind: str = "openlava", cluster: str = "hpc1",
         key: Any = KEY) -> httpx.Response:
    body = orjson.dumps({"key": key, "payload": payload})
    return httpx.post(f"{server.url}/clusters/{cluster}/import/{kind}", content=body)


def finish(job_id: int = 1, **changes: Any) -> dict[str, Any]:
    return openlava_record("JOB_FINISH", job_finish(job_id, **changes))


def new(job_id: int = 1, **changes: Any) -> dict[str, Any]:
    return openlava_record("JOB_NEW", job_new(job_id, **changes))


def test_get_token_answers_the_csrf_document_the_old_clients_wait_for(server: LavaFlowServer) -> None:
    r = httpx.get(f"{server.url}/get_token")
    assert r.status_code == 200 and r.json() == {"data": {"cookie": "double-csrf-token"}, "message": "",
                                                 "status": "OK"}


def test_an_import_answers_create_js_success_byte_for_byte(server: LavaFlowServer) -> None:
    r = post(server, [finish(1)])
    assert (r.status_code, r.content, r.headers["Content-Type"]) == (200, OK, "application/json")
    assert (server.job_count(), server.attempt_count(), server.accepted) == (1, 1, 1)


@pytest.mark.parametrize("body, status, text", [
    (b"{not json", 400, b"Invalid JSON data"),
    (b"", 400, b"Invalid JSON data"),
    (b'{"payload": []}', 400, b"key not specified"),
    (b'[1, 2]', 400, b"key not specified"),
    (b'{"key": "wrong", "payload": []}', 403, b"Invalid key specified"),
    (b'{"key": null, "payload": []}', 403, b"Invalid key specified"),
    (b'{"key": "test-key"}', 500, b"<h1>Server Error (500)</h1>"),  # data['payload']: KeyError
    (b'{"key": "test-key", "payload": [null]}', 500, b"<h1>Server Error (500)</h1>"),
    (b'{"key": "test-key", "payload": [{"version": "22"}]}', 500, b"<h1>Server Error (500)</h1>"),  # no type
    (b'5', 500, b"<h1>Server Error (500)</h1>"),  # 'key' in 5: TypeError
])
def test_the_views_refusals_have_the_real_status_and_body(server: LavaFlowServer, body: bytes, status: int,
                                                          text: bytes) -> None:
    r = httpx.post(f"{server.url}/clusters/hpc1/import/openlava", content=body)
    assert (r.status_code, r.content) == (status, text)


def test_an_empty_payload_is_imported_without_touching_a_record(server: LavaFlowServer) -> None:
    assert (post(server, []).status_code, server.probes, server.clusters) == (200, 1, {"hpc1"})


def test_garbage_collection_is_held_off_while_a_request_is_imported_then_left_as_it_was(
        server: LavaFlowServer, monkeypatch: pytest.MonkeyPatch) -> None:
    during: list[bool] = []
    view = server._openlava

    def watched(cluster: str, record: Any) -> None:
        during.append(gc.isenabled())
        view(cluster, record)
    monkeypatch.setattr(server, "_openlava", watched)
    body = orjson.dumps({"key": KEY, "payload": [finish(1)]})
    assert server.handle("POST", "/lavaflow/clusters/hpc1/import/openlava", body)[0] == 200
    assert (during, gc.isenabled()) == ([False], True)
    gc.disable()
    try:
        assert server.handle("POST", "/lavaflow/clusters/hpc1/import/openlava", body)[0] == 200
        assert gc.isenabled() is False
    finally:
        gc.enable()


def test_an_unknown_path_is_a_404_page(server: LavaFlowServer) -> None:
    assert httpx.post(f"{server.url}/clusters/hpc1/import/slurm", content=b"{}").status_code == 404
    assert httpx.post(f"http://127.0.0.1:{server.port}/clusters/hpc1/import/openlava", content=b"{}").status_code == 404


@pytest.mark.parametrize("kind, record", [
    ("openlava", lambda: finish(1, userName=None)),                                # NOT NULL
    ("openlava", lambda: _without(finish(1), "eventLog", "jobFinishLog", "queue")),
    ("openlava", lambda: _without(new(1), "eventLog", "jobNewLog", "userPriority")),
    ("openlava", lambda: finish(1, jStatus=3)),                                    # not in OPENLAVA_JOB_STATES
    ("openlava", lambda: finish(1, cwd=None)),                                     # NOT NULL
    ("openlava", lambda: finish(1, hostFactor="fast")),                            # float() of the FloatField
    ("openlava", lambda: finish(1, lsfRusage=dict(rusage(), ru_maxrss=None))),     # NOT NULL
    ("openlava", lambda: finish(1, maxRMem="2 GB")),                               # int() of the IntegerField
    ("openlava", lambda: finish(1, submitTime="soon")),                            # int() of the IntegerField
    ("openlava", lambda: new(1, rLimits=[-1] * 10)),                               # rLimits[10]: IndexError
    ("openlava", lambda: new(1, xf=[{"subFn": "a", "execFn": "b", "options": 0}], options="x")),  # mask & "x"
    ("gridengine", lambda: gridengine_record(sge_row(2, failed=2))),               # states[2]: KeyError
    ("gridengine", lambda: _without(gridengine_record(sge_row(2)), "category")),
    ("gridengine", lambda: dict(gridengine_record(sge_row(2)), start_time=1416358463645)),  # year > 9999
    ("univa82", lambda: dict(univa82_record(uge_row(4)), submission_time="1416358463.256")),  # int("1.5")
    ("univa82", lambda: dict(univa82_record(uge_row(4)), pe_taskid="NONE")),       # IntegerField(null=True)
    ("univa82", lambda: univa82_record(uge_row(4, failed=15))),
    ("openlava", lambda: dict(new(1), eventLog={**new(1)["eventLog"], "jobNewLog": {
        **new(1)["eventLog"]["jobNewLog"], "command": "x" * 513}})),              # CharField(512)
])
def test_a_record_the_view_chokes_on_is_a_500(server: LavaFlowServer, kind: str, record: Any) -> None:
    r = post(server, [record()], kind=kind)
    assert (r.status_code, r.content) == (500, b"<h1>Server Error (500)</h1>")
    assert server.accepted == 0


def test_values_the_model_fields_convert_are_imported(server: LavaFlowServer) -> None:
    """int() and float() take them, as Django's IntegerField and FloatField do."""
    assert post(server, [finish(1, maxRMem=2048.7, hostFactor="1.5", idx=True, lsfRusage=rusage(1, 2))]).status_code == 200
    assert (server.job_count(), server.attempt_count()) == (1, 1)


def _without(record: dict[str, Any], *path: str) -> dict[str, Any]:
    record = copy.deepcopy(record)
    inner = record
    for step in path[:-1]:
        inner = inner[step]
    del inner[path[-1]]
    return record


def test_a_500_keeps_the_rows_written_before_the_failing_statement(server: LavaFlowServer) -> None:
    """Django autocommit: the Job and Task of a JOB_FINISH with an unknown jStatus stay."""
    assert post(server, [finish(1), finish(2, jStatus=3), finish(3)]).status_code == 500
    assert (server.job_count(), server.attempt_count()) == (2, 1)


def test_jobs_and_attempts_follow_get_or_create(server: LavaFlowServer) -> None:
    assert post(server, [new(1), finish(1), finish(1), new(1), finish(2)]).status_code == 200
    assert (server.job_count(), server.attempt_count(), server.submitted_count()) == (2, 2, 1)
    assert post(server, [new(1), finish(1), finish(2)]).status_code == 200  # a replay adds nothing
    assert (server.job_count(), server.attempt_count()) == (2, 2)
    assert post(server, [finish(1)], cluster="other").status_code == 200  # another cluster, another job
    assert (server.job_count("other"), server.job_count()) == (1, 3)


def test_a_job_with_the_same_id_and_submit_time_but_another_user_is_an_integrity_error(
        server: LavaFlowServer) -> None:
    assert post(server, [finish(1)]).status_code == 200
    assert post(server, [finish(1, userName="bob")]).status_code == 500


def test_a_job_killed_while_pending_has_its_attempt_start_at_the_event_time(server: LavaFlowServer) -> None:
    assert post(server, [finish(1, startTime=0, jStatus=32)]).status_code == 200
    [attempt] = server.attempts.values()
    assert (attempt.start_time, attempt.wall_time, attempt.pend_time) == (1615412170, 0, 10)


def test_keys_read_only_for_a_new_attempt_are_not_needed_again(server: LavaFlowServer) -> None:
    assert post(server, [finish(1)]).status_code == 200
    assert post(server, [_without(finish(1), "eventLog", "jobFinishLog", "lsfRusage")]).status_code == 200


def test_a_later_uge_row_with_a_larger_end_time_overwrites_the_attempt(server: LavaFlowServer) -> None:
    first = univa82_record(uge_row(4))
    later = univa82_record(uge_row(4, end_time=1416358480000, hostname="comp05"))
    assert post(server, [first, later, first, later], kind="univa82").status_code == 200
    [attempt] = server.attempts.values()
    # the view never raises the stored end_time, so every later copy overwrites again; the first does not
    assert (server.overwrites, attempt.hosts, attempt.end_time) == (2, ("comp05",), 1416358473)


def test_sge_rows_keep_the_first_row_of_an_attempt(server: LavaFlowServer) -> None:
    rows = [gridengine_record(sge_row(2)), gridengine_record(sge_row(2, end_time=1416358499, hostname="x"))]
    assert post(server, rows, kind="gridengine").status_code == 200
    assert (server.attempt_count(), server.overwrites) == (1, 0)


def test_the_cluster_is_matched_on_the_percent_decoded_path(server: LavaFlowServer) -> None:
    assert post(server, [finish(1)], cluster="my%20cluster%2Fx").status_code == 200
    assert server.job_count("my cluster/x") == 1


def test_faults_can_be_injected_and_keys_changed(server: LavaFlowServer) -> None:
    server.fail_next(2, 503)
    assert [post(server, []).status_code for _ in range(3)] == [503, 503, 200]
    server.outage(500)
    assert [post(server, []).status_code for _ in range(2)] == [500, 500]
    server.mend()
    server.keys = {"new-key"}
    assert (post(server, []).status_code, post(server, [], key="new-key").status_code) == (403, 200)
    server.hang_next(1, 0.5)
    with pytest.raises(httpx.ReadTimeout):
        post_with_timeout(server)
    assert server.probes == 3  # 200 after the 503s, the new key, and the hung request: imported all the same


def post_with_timeout(server: LavaFlowServer) -> None:
    httpx.post(f"{server.url}/clusters/hpc1/import/openlava", timeout=0.1,
               content=orjson.dumps({"key": "new-key", "payload": []}))


def load_counter() -> Any:
    """benchmarks/lavaflow_counter.py (the benchmarks are scripts, not a package)."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "lavaflow_counter.py"
    spec = importlib.util.spec_from_file_location("lavaflow_counter", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmarks_counter_answers_as_the_double_and_counts_what_it_stores(server: LavaFlowServer) -> None:
    counter = load_counter().LavaFlowCounter({KEY}, "/lavaflow")
    spliced = encode_lines([envelope(job_finish(n), offset=n) for n in (1, 2)], "hpc1", None, lambda: "x").parts
    requests = [
        ("/lavaflow/clusters/hpc1/import/openlava", b'{"key":%s,"payload":%s}' % (orjson.dumps(KEY), spliced[0].records)),
        ("/lavaflow/clusters/hpc1/import/openlava", orjson.dumps({"key": KEY, "payload": [
            finish(1), finish(3, startTime=0, jStatus=32), new(4), finish(5, idx=2), finish(5, idx=3)]})),
        ("/lavaflow/clusters/hpc1/import/openlava", orjson.dumps({"key": KEY, "payload": []})),
        ("/lavaflow/clusters/hpc1/import/openlava", orjson.dumps({"key": "wrong", "payload": [finish(9)]})),
        ("/lavaflow/clusters/hpc1/import/openlava", b"{not json"),
        ("/lavaflow/clusters/hpc1/import/openlava", b'{"payload": []}'),
        ("/lavaflow/clusters/hpc1/import/slurm", b"{}"),
        ("/lavaflow/get_token", b""),
    ]
    for path, body in requests:
        status, _, answer, _ = server.handle("POST", path, body)
        assert counter.handle(path, body)[::2] == (status, answer)
    # jobs: the counter's are those of JOB_FINISH records; the double has job 4 from its JOB_NEW too
    assert counter.counts.summary() == {
        "jobs": server.job_count() - 1, "attempts": server.attempt_count(), "received": server.received,
        "accepted": server.accepted, "requests": server.requests, "statuses": dict(server.statuses)}
    assert (server.job_count(), server.attempt_count(), server.received) == (5, 5, 7)
