"""An HttpReceiver that misbehaves at random, the way a real archive does on a bad day.

The chaos harness (benchmarks/chaos.py) needs an endpoint whose faults are drawn from a
seed, counted, and switched off for the final drain: 500s, 429 with Retry-After, answers
slower than the sink's timeout, connections reset halfway through the body (before the
server read the whole request, so nothing was accepted), and `hold()`: the next request
is parked until the harness has killed the agent that sent it, then answered or dropped,
which is exactly the crash window between an endpoint's acceptance and the spool's ack.
Connection refused is `stop()`/`start()` of the base class.
"""
from __future__ import annotations

import random
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler
from typing import Any, Optional

from tests.doubles.http_receiver import Answer, HttpReceiver, _abort

#: Fault kinds a request may draw, with their weights.
FAULTS: dict[str, float] = {"500": 3, "429": 2, "slow": 1, "reset": 2}


class ChaosReceiver(HttpReceiver):
    """Answers a request with a random fault at `fault_rate`; counts every fault it injected.

    `slow_seconds` should exceed the sink's timeout; `retry_after` is the Retry-After value
    of a 429 (whole seconds, kept small so trials stay short).
    """

    def __init__(self, seed: int, fault_rate: float = 0.25, slow_seconds: float = 1.5,
                 retry_after: int = 1) -> None:
        self.rnd = random.Random(seed)
        self.fault_rate = fault_rate
        self.slow_seconds = slow_seconds
        self.retry_after = retry_after
        self.faults: Counter[str] = Counter()
        self.faults_on = True
        self._draw_lock = threading.Lock()
        self._hold_wanted = False
        self.held = threading.Event()  # set while a request is parked by hold()
        self._release = threading.Event()
        self._release_answer: Answer = None
        super().__init__(plan=self._plan)

    # -- what the harness controls -----------------------------------------------
    def hold(self) -> None:
        """Park the next request (before answering) until `release()`."""
        with self._draw_lock:
            self.held.clear()
            self._release.clear()
            self._hold_wanted = True

    def release(self, accept: bool) -> None:
        """Let a parked request go: answer 200 (the endpoint stored it) or reset it."""
        with self._draw_lock:
            self._hold_wanted = False
            self._release_answer = None if accept else "reset"
        self._release.set()

    def calm(self) -> None:
        """No more faults (the final drain); a parked request is answered 200."""
        self.faults_on = False
        self.release(accept=True)

    def draw(self) -> Optional[str]:
        """The fault for the next request, or None; counted when injected."""
        with self._draw_lock:
            if not self.faults_on or self.rnd.random() >= self.fault_rate:
                return None
            kind = self.rnd.choices(list(FAULTS), list(FAULTS.values()))[0]
            self.faults[kind] += 1
            return kind

    # -- the answers ----------------------------------------------------------------
    def _plan(self, number: int, records: list[dict[str, Any]]) -> Answer:
        with self._draw_lock:
            hold = self._hold_wanted and not self.held.is_set()
            if hold:
                self.held.set()
                self.faults["held"] += 1
        if hold:
            self._release.wait(30)
            with self._draw_lock:
                return self._release_answer
        kind = self.draw()
        if kind == "500":
            return (500, {})
        if kind == "429":
            return (429, {"Retry-After": str(self.retry_after)})
        if kind == "slow":
            return f"sleep:{self.slow_seconds}"
        if kind == "reset":  # the whole body was read, then RST instead of an answer
            return "reset"
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        base = super()._handler()
        outer = self

        class Handler(base):  # type: ignore[valid-type, misc]
            def handle(self) -> None:
                try:
                    super().handle()
                except OSError:
                    pass  # the agent was killed mid-request, or a reset of ours: not news

            def do_POST(self) -> None:
                """With some chance, read half the body and reset: the request never completed."""
                length = int(self.headers.get("Content-Length") or 0)
                if length > 1 and outer._reset_mid_body():
                    self.rfile.read(length // 2)
                    self.close_connection = True
                    _abort(self.connection)
                    return
                super().do_POST()

            do_PUT = do_POST

        return Handler

    def _reset_mid_body(self) -> bool:
        with self._draw_lock:
            if not self.faults_on or self._hold_wanted or self.rnd.random() >= self.fault_rate / 4:
                return False
            self.faults["reset_mid_body"] += 1
            return True
