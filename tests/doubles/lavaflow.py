"""A LavaFlow server double on 127.0.0.1: the import views of irvined1982/lavaflow, answered as it answers.

Read from lavaFlow/views.py, models.py and urls.py (commit 382160b0, the version with
all three import views; scheduler.md §1.3, §1.7). What the double keeps of the real
server, because the sink is judged by it:

- routes `<prefix>/get_token` and `<prefix>/clusters/(.*?)/import/{openlava,gridengine,univa82}`
  on the percent-decoded path, as Django matches them; anything else is a 404 page;
- body not JSON -> 400 "Invalid JSON data"; no "key" -> 400 "key not specified"; a key
  that is not an ImportKey -> 403 "Invalid key specified"; a record the view chokes on
  (null, a key the view reads missing, a GE `failed` or openlava `jStatus` code not in
  the view's table, a value its int()/float() or a model field cannot take, a time
  `utcfromtimestamp` refuses) -> 500 with Django's HTML page;
- Django's autocommit: each get_or_create is committed on its own, so a 500 keeps the
  rows written before the failing statement (a failing JOB_FINISH can leave its Job);
- `get_or_create` semantics: jobs unique on (cluster, job_id, submit_time) but looked up
  with user and submit host too (a mismatch is an IntegrityError -> 500); tasks on
  (cluster, job, user, task_id); attempts on (cluster, job, task, start_time), an
  openlava start_time 0 meaning eventTime; a later univa82 row with a larger end_time
  overwrites the attempt's hosts, projects and usage (not its end_time);
- keys read only on the "created" path are read only there, as the views do;
- a strict database (PostgreSQL): a cluster name over 100 characters, a job name or JOB_NEW
  command over 512 (their CharFields) fail the request.

Fault injection: `fail_next(n, status)` (answered before the view runs, like a
database outage), `outage(status)` / `mend()`, `hang_next(n, seconds)` (imported, then
answered late), `keys` (the accepted ImportKeys), `stop()` / `start()` on the same port.
Fast enough for the 40k records/s benchmark: orjson, dicts, no per-record logging.
"""
from __future__ import annotations

import gc
import json
import re
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterable, Optional
from urllib.parse import unquote

import orjson

from tests.doubles.lavaflow_views import LavaFlowTables

#: Python 2's json.dumps(indent=3) separators: create_js_success's exact bytes.
_OK = json.dumps({"status": "OK", "data": None, "message": "Import Successful"}, indent=3, sort_keys=True,
                 separators=(", ", ": ")).encode()
SERVER_ERROR = b"<h1>Server Error (500)</h1>"
NOT_FOUND = b"<h1>Not Found</h1><p>The requested URL was not found on this server.</p>"


class _GcHeld:
    """Python's garbage collector held off while a request is imported, in every thread (it is per process).

    A payload is thousands of containers that live for one request. Collections during it
    promote them, and the full collections they then set off walk every row of the tables:
    at 200k rows, a quarter of the double's time. Held off, they die by reference count
    first. Nothing but timing changes, and only while a request is imported.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._enable = False

    def __enter__(self) -> None:
        with self._lock:
            if self._depth == 0:
                self._enable = gc.isenabled()
                gc.disable()
            self._depth += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0 and self._enable:
                gc.enable()


_GC_HELD = _GcHeld()


class LavaFlowServer(LavaFlowTables):
    """LavaFlow's import views over HTTP on 127.0.0.1; `url` is the base URL the sink is given."""

    def __init__(self, keys: Iterable[str] = ("test-key",), prefix: str = "/lavaflow",
                 keep_records: bool = False) -> None:
        super().__init__()
        self.keys = set(keys)
        self.prefix = prefix.rstrip("/")
        self.keep_records = keep_records
        self._route = re.compile(rf"^{re.escape(self.prefix)}/clusters/(.*?)/import/(openlava|gridengine|univa82)$")
        self.requests = 0          # every HTTP request
        self.imports = 0           # import requests that reached the view
        self.received = 0          # records in payloads the view looped over (key accepted)
        self.accepted = 0          # records in requests answered 200
        self.probes = 0            # imports with an empty payload
        self.statuses: Counter[int] = Counter()
        self.sizes: list[int] = []  # records per import request that passed the key check
        self.records: list[tuple[str, str, Any]] = []  # (kind, cluster, record) when keep_records
        self.paths: list[str] = []
        self._fail: list[int] = []
        self._hang: list[float] = []
        self._down: Optional[int] = None
        self._server: Optional[ThreadingHTTPServer] = None
        self.port = 0
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    # ---- fault injection and lifecycle -----------------------------------------
    def fail_next(self, n: int, status: int = 500) -> None:
        """The next `n` import requests are answered `status` before the view runs."""
        with self._lock:
            self._fail.extend([status] * n)

    def hang_next(self, n: int, seconds: float) -> None:
        """The next `n` import requests are imported, then answered after `seconds`."""
        with self._lock:
            self._hang.extend([seconds] * n)

    def outage(self, status: int = 500) -> None:
        """Every import request is answered `status` (the database is gone) until `mend()`."""
        self._down = status

    def mend(self) -> None:
        self._down = None

    def start(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="lavaflow", daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def handle(self, method: str, raw_path: str, body: bytes) -> tuple[int, str, bytes, float]:
        """(status, content type, body, seconds to wait before answering) for one request."""
        path = unquote(raw_path.split("?", 1)[0])
        with self._lock:
            self.requests += 1
            self.paths.append(raw_path)
        if path == f"{self.prefix}/get_token":
            token = json.dumps({"status": "OK", "data": {"cookie": "double-csrf-token"}, "message": ""},
                               indent=3, sort_keys=True, separators=(", ", ": ")).encode()
            return self._answer(200, "application/json", token)
        m = self._route.match(path)
        if m is None:
            return self._answer(404, "text/html", NOT_FOUND)
        cluster, kind = m.group(1), m.group(2)
        with self._lock:
            forced = self._fail.pop(0) if self._fail else self._down
            hang = self._hang.pop(0) if self._hang else 0.0
        if forced is not None:
            return self._answer(forced, "text/html", SERVER_ERROR if forced == 500 else b"<h1>Unavailable</h1>")
        with _GC_HELD:
            return self._import(cluster, kind, body, hang)

    def _import(self, cluster: str, kind: str, body: bytes, hang: float) -> tuple[int, str, bytes, float]:
        try:
            data = orjson.loads(body)
        except ValueError:
            return self._answer(400, "text/html; charset=utf-8", b"Invalid JSON data")
        with self._lock:
            self.imports += 1
            try:
                if "key" not in data:  # a list or str answers `in` too, as in Python 2
                    return self._answer(400, "text/html; charset=utf-8", b"key not specified")
                key = data["key"]
                if not (isinstance(key, str) and key in self.keys):
                    return self._answer(403, "text/html; charset=utf-8", b"Invalid key specified")
                self._cluster(cluster)
                payload = data["payload"]
                if isinstance(payload, list):
                    self.received += len(payload)
                    self.sizes.append(len(payload))
                    if not payload:
                        self.probes += 1
                view = {"openlava": self._openlava, "gridengine": self._gridengine, "univa82": self._univa82}[kind]
                for record in payload:
                    view(cluster, record)
            except Exception:  # what Django turns into its 500 page
                return self._answer(500, "text/html", SERVER_ERROR)
            self.accepted += len(payload)
            if self.keep_records:
                self.records.extend((kind, cluster, r) for r in payload)
        return self._answer(200, "application/json", _OK, hang)

    def _answer(self, status: int, ctype: str, body: bytes, wait: float = 0.0) -> tuple[int, str, bytes, float]:
        self.statuses[status] += 1
        return status, ctype, body, wait

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()  # headers and body are two writes: without NODELAY, Nagle holds the second
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _serve(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                status, ctype, out, wait = outer.handle(self.command, self.path, body)
                if wait:
                    time.sleep(wait)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except OSError:
                    self.close_connection = True  # the client gave up (a timeout the test provoked)

            do_GET = do_POST = do_PUT = _serve

        return Handler
