#!/usr/bin/env python3
"""A lean LavaFlow-compatible server for benchmarks: answers as LavaFlow does and counts, without decoding records.

The LavaFlow double (tests/doubles/lavaflow.py) decodes every record and runs the import
views over in-memory tables: faithful, but as costly per record as logspool itself, and
the benchmark runs both on the same two cores. This server gives the same answers on the
same routes (`<prefix>/get_token`, `<prefix>/clusters/<cluster>/import/{openlava,gridengine,
univa82}`, a 404 page elsewhere; 400 for a body that is not JSON or has no key, 403
"Invalid key specified" for a wrong key, 200 with create_js_success's exact bytes) but
only reads the key, then counts with compiled bytes regexes over the body, as
benchmarks/http_sink.py does for the http benchmark:

- received: records in the payloads of requests whose key was accepted (an openlava
  EventRecord is a `{"version":`, a Grid Engine row a `{"qname":`; neither can occur inside
  a JSON string); accepted: the same for requests answered 200 (here: all of them);
- jobs: distinct (jobId, submitTime) of the jobFinishLog records; attempts: distinct
  (jobId, submitTime, idx, startTime, or eventTime for a job that never started), the key
  LavaFlow's Attempt table is unique on (bytes.find from key to key, see finish_keys). A
  record sent twice shows as received > jobs.

It expects logspool's compact JSON (no spaces; jobFinishLog's jobId first). Runs until
SIGTERM, then prints one JSON line: {"jobs", "attempts", "received", "accepted",
"requests", "statuses"}.

    python benchmarks/lavaflow_counter.py --key bench-key   # first stdout line: the base URL
"""
from __future__ import annotations

import argparse
import json
import re
import signal
import socket
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator, Optional
from urllib.parse import unquote

#: create_js_success's bytes (Python 2's json.dumps(indent=3)) and the token document, as the double sends them.
OK = json.dumps({"status": "OK", "data": None, "message": "Import Successful"}, indent=3, sort_keys=True,
                separators=(", ", ": ")).encode()
TOKEN = json.dumps({"status": "OK", "data": {"cookie": "double-csrf-token"}, "message": ""}, indent=3,
                   sort_keys=True, separators=(", ", ": ")).encode()
NOT_FOUND = b"<h1>Not Found</h1><p>The requested URL was not found on this server.</p>"
TEXT = "text/html; charset=utf-8"

#: The key as logspool writes the body: b'{"key":%s,"payload":%s}'.
KEY = re.compile(rb'\{"key":("(?:[^"\\]|\\.)*"),"payload":')
#: Where a JOB_FINISH's jobFinishLog starts: jobId is its first key in both key orders the sink
#: writes (the parser's, and JobFinishLog's for a record built as dicts).
LOG = b'"jobFinishLog":{"jobId":'
RECORD = {"openlava": b'{"version":', "gridengine": b'{"qname":', "univa82": b'{"qname":'}


def finish_keys(body: bytes) -> Iterator[tuple[bytes, bytes, bytes, bytes]]:
    """(jobId, submitTime, idx, startTime or, for a job that never started, eventTime) of each jobFinishLog.

    bytes.find from key to key (a regex over the whole body was four times slower): in
    compact JSON `,"name":` cannot occur inside a string, and the log's only nested
    object, lsfRusage, has no key of these names. A log lacking one of them ends the scan.
    """
    find = body.find
    at = find(LOG)
    while at >= 0:
        job = at + len(LOG)
        job_end = find(b",", job)
        submit = find(b',"submitTime":', job_end) + 14
        submit_end = find(b",", submit)
        start = find(b',"startTime":', submit_end) + 13
        start_end = find(b",", start)
        idx = find(b',"idx":', start_end) + 7
        idx_end = find(b",", idx)
        if min(job_end, submit - 14, submit_end, start - 13, start_end, idx - 7, idx_end) < 0:
            return
        started = body[start:start_end]
        if started == b"0":  # LavaFlow's view: a job killed before it started starts at eventTime
            event = body.rfind(b'"eventTime":', 0, at) + 12
            started = body[event:find(b",", event)]
        yield body[job:job_end], body[submit:submit_end], body[idx:idx_end], started
        at = find(LOG, idx_end)


class Counts:
    """What the server saw; updated under one lock (requests may come on several connections)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.jobs: set[tuple[bytes, bytes]] = set()
        self.attempts: set[tuple[bytes, bytes, bytes, bytes]] = set()
        self.received = self.accepted = self.requests = 0
        self.statuses: Counter[int] = Counter()

    def summary(self) -> dict[str, Any]:
        with self.lock:
            return {"jobs": len(self.jobs), "attempts": len(self.attempts), "received": self.received,
                    "accepted": self.accepted, "requests": self.requests, "statuses": dict(self.statuses)}


class LavaFlowCounter:
    """The routes and answers of LavaFlow's import views, counting instead of importing."""

    def __init__(self, keys: set[str], prefix: str) -> None:
        self.keys = keys
        self.prefix = prefix.rstrip("/")
        self.route = re.compile(rf"^{re.escape(self.prefix)}/clusters/(.*?)/import/(openlava|gridengine|univa82)$")
        self.counts = Counts()

    def handle(self, raw_path: str, body: bytes) -> tuple[int, str, bytes]:
        path = unquote(raw_path.split("?", 1)[0])
        if path == f"{self.prefix}/get_token":
            return self._answer(200, "application/json", TOKEN)
        m = self.route.match(path)
        if m is None:
            return self._answer(404, "text/html", NOT_FOUND)
        key = self._key(body)
        if isinstance(key, tuple):
            return self._answer(*key)
        if not (isinstance(key, str) and key in self.keys):
            return self._answer(403, TEXT, b"Invalid key specified")
        records = body.count(RECORD[m.group(2)])
        attempts = list(finish_keys(body)) if m.group(2) == "openlava" else []
        with self.counts.lock:
            self.counts.received += records
            self.counts.accepted += records
            self.counts.jobs.update(a[:2] for a in attempts)
            self.counts.attempts.update(attempts)
        return self._answer(200, "application/json", OK)

    @staticmethod
    def _key(body: bytes) -> Any:
        """The import key; (status, type, body) when LavaFlow would refuse the body before the key."""
        m = KEY.match(body)
        if m is not None:
            return json.loads(m.group(1))
        try:  # not logspool's layout: decode it all, as the view does
            data = json.loads(body)
        except ValueError:
            return 400, TEXT, b"Invalid JSON data"
        if not isinstance(data, dict) or "key" not in data:
            return 400, TEXT, b"key not specified"
        return data["key"]

    def _answer(self, status: int, ctype: str, body: bytes) -> tuple[int, str, bytes]:
        with self.counts.lock:
            self.counts.requests += 1
            self.counts.statuses[status] += 1
        return status, ctype, body


def handler(counter: LavaFlowCounter) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive

        def log_message(self, *args: Any) -> None:
            pass

        def setup(self) -> None:
            super().setup()  # headers and body are two writes: without NODELAY, Nagle holds the second
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _serve(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            status, ctype, out = counter.handle(self.path, body)
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = do_PUT = _serve

    return Handler


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--key", action="append", default=None, help="an accepted import key (repeatable; "
                                                                   "default: bench-key)")
    ap.add_argument("--prefix", default="/lavaflow", help="the path LavaFlow is mounted at")
    ap.add_argument("--port", type=int, default=0, help="127.0.0.1 port (default: a free one)")
    args = ap.parse_args(argv)
    counter = LavaFlowCounter(set(args.key or ["bench-key"]), args.prefix)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(counter))
    server.daemon_threads = True
    print(f"http://127.0.0.1:{server.server_address[1]}{counter.prefix}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    server.shutdown()
    server.server_close()
    print(json.dumps(counter.counts.summary()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
