"""The chaos receiver injects what the harness counts, accepts nothing it faulted, and calms down on demand."""
from __future__ import annotations

import json
import threading
from typing import Iterator

import httpx
import pytest

from tests.doubles.chaos_receiver import ChaosReceiver
from tests.e2e.conftest import wait_until


def body(*ids: str) -> bytes:
    return b"".join(json.dumps({"id": i, "data": {"message": i}}).encode() + b"\n" for i in ids)


@pytest.fixture
def rx() -> Iterator[ChaosReceiver]:
    r = ChaosReceiver(seed=7, fault_rate=1.0, slow_seconds=0.5)
    yield r
    r.calm()
    r.stop()


def post(rx: ChaosReceiver, *ids: str, timeout: float = 5.0) -> str:
    """The status code, or the name of the transport error."""
    try:
        return str(httpx.post(rx.url, content=body(*ids), timeout=timeout).status_code)
    except httpx.HTTPError as e:
        return type(e).__name__


def test_every_answer_is_a_fault_at_rate_one_and_only_slow_answers_store_their_records(rx: ChaosReceiver) -> None:
    answers = [post(rx, f"r{n}", timeout=0.25) for n in range(30)]
    assert "200" not in answers, answers  # slow answers come after the client gave up
    assert sum(rx.faults.values()) == 30, rx.faults
    assert {"500", "429", "slow"} <= set(rx.faults), rx.faults
    # a slow answer is a 200 the client never saw: the endpoint stored it (a duplicate to come)
    assert wait_until(lambda: sum(r.status == 200 for r in rx.requests()) == rx.faults["slow"], 5)
    stored = {rec["id"] for r in rx.requests() if r.status == 200 for rec in r.records}
    assert rx.unique_ids() == stored


def test_a_429_carries_retry_after(rx: ChaosReceiver) -> None:
    rx.rnd.seed(0)
    for _ in range(50):
        try:
            r = httpx.post(rx.url, content=body("x"), timeout=5.0)
        except httpx.HTTPError:
            continue
        if r.status_code == 429:
            assert r.headers["Retry-After"] == "1"
            return
    pytest.fail(f"no 429 in 50 faulted answers: {rx.faults}")


def test_calm_answers_200_and_records_every_id(rx: ChaosReceiver) -> None:
    rx.calm()
    assert post(rx, "a", "b") == "200"
    assert rx.unique_ids() == {"a", "b"}
    assert sum(rx.faults.values()) == 0


def test_reset_mid_body_accepts_nothing_and_is_counted() -> None:
    rx = ChaosReceiver(seed=1, fault_rate=0.0)
    try:
        rx.fault_rate = 4.0  # _reset_mid_body draws at fault_rate / 4: always
        answer = post(rx, *[f"r{n}" for n in range(100)])
        assert answer in {"ReadError", "RemoteProtocolError", "WriteError"}, answer
        assert rx.faults["reset_mid_body"] == 1
        assert rx.requests() == []  # the body was never read to its end: not a request at all
        assert rx.unique_ids() == set()
    finally:
        rx.stop()


@pytest.mark.parametrize("accept", [True, False])
def test_a_held_request_waits_for_release_and_is_stored_only_if_accepted(rx: ChaosReceiver, accept: bool) -> None:
    rx.faults_on = False
    rx.hold()
    answers: list[str] = []
    client = threading.Thread(target=lambda: answers.append(post(rx, "held-1")))
    client.start()
    assert rx.held.wait(5)
    assert rx.unique_ids() == set() and answers == []  # parked: not answered, not stored
    rx.release(accept=accept)
    client.join(10)
    assert len(answers) == 1 and (answers[0] == "200") == accept, answers
    assert rx.unique_ids() == ({"held-1"} if accept else set())
    assert rx.faults["held"] == 1
    assert post(rx, "next") == "200"  # only one request is held
