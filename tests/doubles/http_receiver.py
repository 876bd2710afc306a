"""A recording HTTP/1.1 NDJSON receiver on 127.0.0.1 with injectable faults, for end-to-end tests.

The agent is judged by what arrives at an endpoint, so this double keeps every accepted
record id with how often it came, when each request arrived, and lets a test decide the
answer per request (`plan`) or per record (`reject_ids`, `reject_markers` -> 400), the way
a real archive answers 5xx, 429, resets, hangs or refuses connections (`stop()`/`restart()`
on the same port).
"""
from __future__ import annotations

import gzip
import json
import os
import socket
import struct
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable, Optional, Union

#: What a plan answers: (status, headers), "reset" (close without answering),
#: "sleep:<seconds>" (answer normally, but late), or None (200).
Answer = Union[tuple[int, dict[str, str]], str, None]
Plan = Callable[[int, list[dict[str, Any]]], Answer]


class Request:
    """One request as the receiver saw it."""

    def __init__(self, number: int, at: float, headers: dict[str, str], records: list[dict[str, Any]]) -> None:
        self.number = number
        self.at = at
        self.headers = headers
        self.records = records
        self.status: Optional[int] = None


class HttpReceiver:
    """Accepts POSTed NDJSON and records every record id of every 2xx answer.

    `plan(request_number, records)` decides each answer (request numbers count from 0 and
    include rejected ones). A body holding an id in `reject_ids` or a line containing one
    of `reject_markers` is answered 400 before the plan is asked, as an archive refusing
    one poisoned record would.
    """

    def __init__(self, plan: Optional[Plan] = None, reject_ids: Iterable[str] = (),
                 reject_markers: Iterable[Union[str, bytes]] = ()) -> None:
        self.plan = plan
        self.reject_ids = set(reject_ids)
        self.reject_markers = [m.encode() if isinstance(m, str) else m for m in reject_markers]
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._records: dict[str, dict[str, Any]] = {}
        self._requests: list[Request] = []
        self._conns: set[socket.socket] = set()
        self._server: Optional[ThreadingHTTPServer] = None
        self.port = 0
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ingest"

    # -- what arrived -------------------------------------------------------------
    def unique_ids(self) -> set[str]:
        """Every record id accepted at least once."""
        with self._lock:
            return set(self._counts)

    def id_counts(self) -> Counter[str]:
        """How often each record id was accepted (a 2xx answer to a body holding it)."""
        with self._lock:
            return Counter(self._counts)

    def deliveries(self) -> int:
        """Accepted record deliveries, repeats included."""
        with self._lock:
            return sum(self._counts.values())

    def records(self) -> dict[str, dict[str, Any]]:
        """The first accepted copy of each record, by id."""
        with self._lock:
            return dict(self._records)

    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def request_times(self) -> list[float]:
        """time.monotonic() at the arrival of each request, answered or not."""
        with self._lock:
            return [r.at for r in self._requests]

    # -- lifecycle ----------------------------------------------------------------
    def start(self) -> None:
        """Listen (again) on the same port, or on a fresh one the first time."""
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="http-receiver", daemon=True).start()

    def stop(self) -> None:
        """Stop listening and drop open keep-alive connections: clients now get 'refused'."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server = None
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for c in conns:
            _hang_up(c)

    def restart(self) -> None:
        self.stop()
        self.start()

    # -- the handler --------------------------------------------------------------
    def _answer(self, req: Request, body: bytes) -> Answer:
        if any(m in body for m in self.reject_markers) or any(
                r.get("id") in self.reject_ids for r in req.records):
            return (400, {})
        return self.plan(req.number, req.records) if self.plan else None

    def _accept(self, req: Request) -> None:
        with self._lock:
            for r in req.records:
                rid = str(r.get("id"))
                self._counts[rid] += 1
                self._records.setdefault(rid, r)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with outer._lock:
                    outer._conns.add(self.connection)

            def finish(self) -> None:
                with outer._lock:
                    outer._conns.discard(self.connection)
                try:
                    super().finish()
                except OSError:
                    pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            return data
                        data += self.rfile.read(size)
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def do_POST(self) -> None:
                at = time.monotonic()
                body = self._body()
                if self.headers.get("Content-Encoding", "").lower() == "gzip":
                    body = gzip.decompress(body)
                records = [json.loads(line) for line in body.splitlines() if line.strip()]
                with outer._lock:
                    req = Request(len(outer._requests), at, {k.lower(): v for k, v in self.headers.items()}, records)
                    outer._requests.append(req)
                answer = outer._answer(req, body)
                if answer == "reset":
                    self.close_connection = True
                    _abort(self.connection)
                    return
                if isinstance(answer, str) and answer.startswith("sleep:"):
                    time.sleep(float(answer.split(":", 1)[1]))
                    answer = None
                status, headers = answer if isinstance(answer, tuple) else (200, {})
                req.status = status
                if 200 <= status < 300:
                    outer._accept(req)
                out = json.dumps({"status": status}).encode()
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except OSError:
                    self.close_connection = True  # the client gave up (a timeout the test provoked)

            do_PUT = do_POST

        return Handler


def _abort(conn: socket.socket) -> None:
    """Close at once with RST (SO_LINGER 0), as a crashed server does.

    `detach()` first: a plain close() waits for the handler's file objects to let go.
    """
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        os.close(conn.detach())
    except OSError:
        pass


def _hang_up(conn: socket.socket) -> None:
    """End an idle keep-alive connection; its handler thread wakes on EOF and exits."""
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
