"""A perfSONAR 5 archive double on 127.0.0.1: Apache's /logstash proxy, Logstash's http input and pipeline.

Read from the perfSONAR archive, Logstash pipeline, pScheduler and logstash-plugins files listed,
with their commits, in perfsonar_samples/README.md (copies of the pipeline files are there too).
What it keeps, and how faithfully:

- Apache: `<prefix>` and everything under it is proxied (ProxyPass), anything else is Apache's
  404 page; Basic auth against `users` comes first: none or wrong -> 401 with
  `WWW-Authenticate: Basic realm="Logstash Pass"`; a body over `max_body` -> 413 (LimitRequestBody,
  or the http input's max_content_length, 100 MiB by default).
- The http input answers any method; `application/json` goes through the json codec (an array
  is one event per element, an object one event, anything else one `_jsonparsefailure` event
  holding `message`), any other type through the plain codec (`message` = the body), which
  pscheduler_proxy_normalize.rb parses as one object. Answer: 200 "ok", text/plain.
- The pipeline, as data: 02's renames, the href dissect into pscheduler.task_id/run_id and the
  x-ps-observer header; 03's endpoint parsing (URLs, host:port, brackets) but NO DNS: a name
  fills meta.*.hostname, an address meta.*.ip; 06-result_throughput's duration conversion (whole
  seconds, fractions dropped as the ruby does) and renames; 99's output to `pscheduler_<test.type>`
  with action=create and no document id: nothing is deduplicated, a replay is a second document.
  Not imitated: the test checksum, geoip, and the result filters of test types no sink sends.
- OpenSearch's dynamic mapping under that template: the first value of a field fixes its type
  (long, float, boolean, text, date by date detection, ip for fields named `ip`; `json` and
  `histogram` objects are not indexed); a later value of another type fails the document
  (mapper_parsing_exception: Logstash logs it and drops the event), and a fraction sent to a
  long field is truncated.

The real archive answers 200 before any of this runs, so what it drops is lost silently. In
`strict` mode (the default) the double turns each drop or mis-index (no test.type, a mapping
conflict, a truncated number, no run id, a duration the pipeline cannot convert) into a 400 whose
body says why, and stores nothing of that request, so a sink's tests see it and its bisection
finds the record; `strict=False` answers as the real archive does and counts the drop.

Fault injection: `fail_next(n, status)`, `outage(status)` / `mend()`, `hang_next(n, seconds)`
(stored, then answered late, as Logstash queues before answering), `redirect(location)`,
`stop()` / `start()` on the same port.
"""
from __future__ import annotations

import base64
import copy
import ipaddress
import json
import re
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import urlsplit

PAGE = '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n<title>{0}</title>\n</head><body>\n<h1>{1}</h1>\n<p>{2}</p>\n</body></html>\n'
PAGES = {401: ("Unauthorized", "This server could not verify that you are authorized to access the document "
                                "requested."),
         404: ("Not Found", "The requested URL was not found on this server."),
         413: ("Request Entity Too Large", "The requested resource does not allow request data with PUT requests, "
                                           "or the amount of data provided in the request exceeds the capacity limit."),
         503: ("Service Unavailable", "The server is temporarily unable to service your request.")}
#: 02-pscheduler_common.conf's renames, in its order.
RENAMES = [("task.schedule", "schedule"), ("run.added", "pscheduler.added"), ("run.start-time", "pscheduler.start_time"),
           ("run.end-time", "pscheduler.end_time"), ("participants", "pscheduler.participants"),
           ("tool.name", "pscheduler.tool"), ("task.detail.duration", "pscheduler.duration"),
           ("task.href", "pscheduler.task_href"), ("run.href", "pscheduler.run_href")]
#: 06-result_throughput.conf's renames into [@metadata][result], then `result`.
THROUGHPUT = [("succeeded", "succeeded"), ("error", "error"), ("summary.summary.throughput-bits", "throughput"),
              ("summary.summary.sent", "packets_sent"), ("summary.summary.lost", "packets_lost"),
              ("summary.summary.jitter", "jitter"), ("summary.summary.rtt", "rtt"),
              ("summary.summary.retransmits", "retransmits"), ("summary.summary.tcp_window_size", "tcp_window_size"),
              ("mss", "mss"), ("mtu", "mtu"), ("intervals", "intervals.json")]
DURATION = re.compile(r"^(R\d*)?P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:T\d{2}(?::\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$")
INDEX_BAD = re.compile(r'[A-Z\\/*?"<>| ,#:]|^[-_+]|^\.\.?$')


class Dropped(Exception):
    """The pipeline or OpenSearch would not keep this event (the message says why)."""


class PerfsonarArchive:
    """The archive over HTTP on 127.0.0.1; `url` is what psConfig's `_url` would be."""

    def __init__(self, users: Optional[dict[str, str]] = None, prefix: str = "/logstash", strict: bool = True,
                 max_body: int = 100 * 1024 * 1024, require_ip: bool = False) -> None:
        self.users = {"perfsonar": "proxy-pass"} if users is None else dict(users)
        self.require_ip = require_ip  # `Require ip 127.0.0.1` beside `Require valid-user` (RequireAny)
        self.prefix, self.strict, self.max_body = prefix.rstrip("/"), strict, max_body
        self.requests = 0
        self.statuses: Counter[int] = Counter()
        self.methods: list[str] = []              # the method of every request that reached Logstash
        self.bodies: list[bytes] = []             # every body that reached Logstash
        self.headers: list[dict[str, str]] = []   # their headers, names lower-cased
        self.events: list[Any] = []               # what the codec made of them, as sent
        self.documents: list[tuple[str, dict[str, Any]]] = []  # (index, document) as OpenSearch holds it
        self.dropped: list[tuple[str, Any]] = []  # (reason, event) lost in the pipeline (strict=False)
        self.mappings: dict[str, dict[str, str]] = {}
        self._fail: list[tuple[int, Optional[str]]] = []
        self._hang: list[float] = []
        self._down: Optional[int] = None
        self._redirect: Optional[tuple[int, str]] = None
        self._lock = threading.Lock()
        self._server: Optional[ThreadingHTTPServer] = None
        self.port = 0
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    def observers(self) -> list[Optional[str]]:
        return [h.get("x-ps-observer") for h in self.headers]

    def run_ids(self) -> Counter[str]:
        """Documents per pscheduler.run_id: more than one is a replay the archive kept twice."""
        return Counter(doc.get("pscheduler", {}).get("run_id") for _, doc in self.documents)

    # ---- fault injection and lifecycle -----------------------------------------
    def fail_next(self, n: int, status: int = 503, retry_after: Optional[str] = None) -> None:
        with self._lock:
            self._fail.extend([(status, retry_after)] * n)

    def hang_next(self, n: int, seconds: float) -> None:
        with self._lock:
            self._hang.extend([seconds] * n)

    def outage(self, status: int = 503) -> None:
        self._down = status

    def mend(self) -> None:
        self._down = None

    def redirect(self, location: Optional[str], status: int = 301) -> None:
        self._redirect = None if location is None else (status, location)

    def start(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="perfsonar", daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # ---- Apache ------------------------------------------------------------------
    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes,
               ) -> tuple[int, dict[str, str], bytes, float]:
        """(status, response headers, body, seconds to wait before answering) for one request."""
        with self._lock:
            self.requests += 1
            if self._redirect is not None:
                return self._answer(self._redirect[0], {"Location": self._redirect[1]}, _page(self._redirect[0]))
            target = urlsplit(path).path
            if target != self.prefix and not target.startswith(self.prefix + "/"):
                return self._answer(404, {}, _page(404))
            if not self.require_ip and not self._authorized(headers.get("authorization")):
                return self._answer(401, {"WWW-Authenticate": 'Basic realm="Logstash Pass"'}, _page(401))
            if len(body) > self.max_body:
                return self._answer(413, {}, _page(413))
            forced = self._fail.pop(0) if self._fail else ((self._down, None) if self._down else None)
            if forced is not None:
                extra = {"Retry-After": forced[1]} if forced[1] else {}
                return self._answer(forced[0], extra, b"" if forced[0] == 429 else _page(forced[0]))
            hang = self._hang.pop(0) if self._hang else 0.0
            self.methods.append(method)
            return self._logstash(headers, body, hang)

    def _authorized(self, value: Optional[str]) -> bool:
        if not value or not value.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(value[6:], validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return user in self.users and self.users[user] == password

    def _answer(self, status: int, headers: dict[str, str], body: bytes, wait: float = 0.0,
                ) -> tuple[int, dict[str, str], bytes, float]:
        self.statuses[status] += 1
        ctype = "text/html; charset=iso-8859-1" if body.startswith(b"<!DOCTYPE") else "text/plain"
        return status, {"Content-Type": ctype, **headers}, body, wait

    # ---- Logstash ----------------------------------------------------------------
    def _logstash(self, headers: dict[str, str], body: bytes, hang: float) -> tuple[int, dict[str, str], bytes, float]:
        self.bodies.append(body)
        self.headers.append(headers)
        events = _codec(headers.get("content-type", ""), body)
        self.events.extend(events)
        saved = copy.deepcopy(self.mappings)
        kept: list[tuple[str, dict[str, Any]]] = []
        for n, event in enumerate(events):
            before = copy.deepcopy(self.mappings)  # a refused document maps nothing
            try:
                kept.append(self._index(*pipeline(event, headers.get("x-ps-observer"))))
            except Dropped as exc:
                self.mappings = saved if self.strict else before
                if self.strict:
                    return self._answer(400, {}, f"event {n}: {exc} (the real archive answers 200 and loses it)"
                                        .encode())
                self.dropped.append((str(exc), event))
        self.documents.extend(kept)
        return self._answer(200, {}, b"ok", hang)

    def _index(self, index: str, doc: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        if INDEX_BAD.search(index) or len(index.encode()) > 255:
            raise Dropped(f"OpenSearch refuses the index name {index!r} (invalid_index_name_exception)")
        _map(self.mappings.setdefault(index, {}), "", doc)
        return index, doc

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
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, extra, out, wait = outer.handle(self.command, self.path, headers, body)
                if wait:
                    time.sleep(wait)
                try:
                    self.send_response(status)
                    for name, value in extra.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except OSError:
                    self.close_connection = True  # the client gave up (a timeout the test provoked)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        return Handler


def _page(status: int) -> bytes:
    title, text = PAGES.get(status, ("Error", "Error."))
    return PAGE.format(f"{status} {title}", title, text).encode()


def _codec(content_type: str, body: bytes) -> list[Any]:
    """The events Logstash's http input makes of a body (json codec for application/json, else plain)."""
    text = body.decode("utf-8", "replace")
    if content_type.split(";")[0].strip().lower() != "application/json":
        return [{"message": text}]
    try:
        decoded = json.loads(text)
    except ValueError:
        return [{"message": text, "tags": ["_jsonparsefailure"]}]
    if isinstance(decoded, list):
        return [item if isinstance(item, dict) else {"message": json.dumps(item), "tags": ["_jsonparsefailure"]}
                for item in decoded]
    return [decoded] if isinstance(decoded, dict) else [{"message": text, "tags": ["_jsonparsefailure"]}]


def pipeline(event: Any, observer: Optional[str]) -> tuple[str, dict[str, Any]]:
    """The pscheduler pipeline for one event: (index, document), or Dropped."""
    doc: dict[str, Any] = copy.deepcopy(event)
    if "message" in doc:  # pscheduler_proxy_normalize.rb: JSON.parse(message).each { |k, v| event.set(k, v) }
        try:
            parsed = json.loads(doc.pop("message"))
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise Dropped("the body is not a JSON object the pipeline can read (_jsonparsefailure or "
                          "_rubyexception), so the event has no test.type")
        doc.update(parsed)
    doc.pop("schedule", None)
    for src, dst in RENAMES:
        if _has(doc, src):
            _set(doc, dst, _pop(doc, src))
    for field in ("run", "task", "tool", "headers"):
        doc.pop(field, None)
    ps = doc.get("pscheduler", {})
    for href, marker, key in (("task_href", "/tasks/", "task_id"), ("run_href", "/runs/", "run_id")):
        if isinstance(ps.get(href), str) and marker in ps[href]:
            ps[key] = ps[href].split(marker, 1)[1]
    test = doc.get("test")
    if not isinstance(test, dict) or not isinstance(test.get("type"), str) or not test["type"]:
        raise Dropped("no test.type: 99-outputs.conf sends nothing else to OpenSearch")
    spec: dict[str, Any] = test["spec"] if isinstance(test.get("spec"), dict) else {}
    _endpoints(doc, spec, observer or _endpoint(ps.get("task_href")))
    if test["type"] == "throughput":
        _throughput(doc, spec)
    if not ps.get("run_id"):
        raise Dropped("no run.href with /runs/<id>: the document has no pscheduler.run_id to be found by")
    if not isinstance(ps.get("start_time"), str) or not DATE.match(ps["start_time"]):
        raise Dropped("no run.start-time date: pscheduler.start_time is the archive's time field")
    if test["type"] == "disk-to-disk":
        result: dict[str, Any] = doc["result"] if isinstance(doc.get("result"), dict) else {}
        if not isinstance(result.get("succeeded"), bool) or not DURATION.match(str(result.get("time"))):
            raise Dropped("a disk-to-disk result needs succeeded (a boolean) and time (an ISO 8601 duration)")
    return f"pscheduler_{test['type']}", doc


def _throughput(doc: dict[str, Any], spec: dict[str, Any]) -> None:
    for key in ("duration", "omit", "interval"):  # pscheduler_iso8601_duration.rb
        if key in spec:
            m = DURATION.match(str(spec[key]))
            if not m or m.group(1) is not None or m.group(2) or m.group(3):
                raise Dropped(f"test.spec.{key} {spec[key]!r} is no ISO 8601 duration the pipeline converts")
            d, h, mi, s = (m.group(i) for i in (4, 5, 6, 7))
            spec[key] = int(d or 0) * 86400 + int(h or 0) * 3600 + int(mi or 0) * 60 + int(float(s or 0))
    if "parallel" in spec and not (isinstance(spec["parallel"], int) and not isinstance(spec["parallel"], bool)):
        raise Dropped(f"test.spec.parallel {spec['parallel']!r} is not an integer (compared with 1)")
    result = doc.pop("result", None)
    result = result if isinstance(result, dict) else {}
    kept: dict[str, Any] = {}
    if isinstance(spec.get("parallel"), int) and spec["parallel"] > 1 and _has(result, "summary.streams"):
        kept["streams"] = {"json": _get(result, "summary.streams")}
    for src, dst in THROUGHPUT:
        if _has(result, src):
            _set(kept, dst, _get(result, src))
    if kept.get("succeeded") is True and not isinstance(kept.get("throughput"), (int, float)):
        raise Dropped("a succeeded throughput result without result.summary.summary.throughput-bits")
    doc["result"] = kept


def _endpoints(doc: dict[str, Any], spec: dict[str, Any], observer: Optional[str]) -> None:
    """pscheduler_normalize_endpoints.rb without DNS: an address is an ip, a name a hostname."""
    meta: dict[str, Any] = {}
    for role, value in (("observer", observer), ("source", _endpoint(spec.get("source"))),
                        ("destination", _endpoint(spec.get("dest")))):
        if value:
            try:
                address = ipaddress.ip_address(value)
                meta[role] = {"ip": str(address), "hostname": str(address)}
                meta.setdefault("ip_version", address.version)
            except ValueError:
                meta[role] = {"hostname": value}
    if meta:
        doc["meta"] = meta


def _endpoint(value: Any) -> Optional[str]:
    """parse_endpoint: a URL's host, a host:port's host, brackets removed."""
    if not isinstance(value, str) or not value:
        return None
    if "://" in value:
        value = urlsplit(value).netloc.rsplit("@", 1)[-1]
        value = value if value.startswith("[") else value.split(":")[0]
    elif value.count(":") == 1:
        value = value.split(":")[0]
    return str(value).replace("[", "").split("]")[0]


def _map(mapping: dict[str, str], prefix: str, value: Any) -> None:
    """OpenSearch's dynamic mapping of one value at `prefix`; raises Dropped on a conflict."""
    if isinstance(value, list):
        for item in value:
            _map(mapping, prefix, item)
        return
    if isinstance(value, dict):
        _fix(mapping, prefix, "object", value)
        for key, item in value.items():
            if key not in ("json", "histogram"):  # the template's enabled: false objects
                _map(mapping, f"{prefix}.{key}" if prefix else key, item)
        return
    if value is None:
        return
    kind = ("boolean" if isinstance(value, bool) else "long" if isinstance(value, int) else
            "float" if isinstance(value, float) else "date" if DATE.match(str(value)) else "text")
    _fix(mapping, prefix, "ip" if prefix.rsplit(".", 1)[-1] == "ip" else kind, value)


def _fix(mapping: dict[str, str], path: str, kind: str, value: Any) -> None:
    have = mapping.setdefault(path, kind) if path else "object"
    if have == kind or have == "text" and kind != "object":
        if kind == "ip":
            try:
                ipaddress.ip_address(str(value))
            except ValueError:
                raise Dropped(f"{path} = {value!r} is not an IP address (mapper_parsing_exception)") from None
        return
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool) or _numeric(value)
    if have == "float" and numeric or have == "date" and isinstance(value, int) and not isinstance(value, bool):
        return
    if have == "long" and numeric:
        if float(value) != int(float(value)):
            raise Dropped(f"{path} = {value!r} goes into a long field, which truncates it (mapped by an "
                          "earlier document with an integer)")
        return
    if have == "boolean" and value in ("true", "false"):
        return
    raise Dropped(f"{path} = {value!r} conflicts with its mapping {have} (mapper_parsing_exception)")


def _numeric(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value.strip()) is not None


def _has(doc: dict[str, Any], path: str) -> bool:
    *head, last = path.split(".")
    parent = _get(doc, ".".join(head)) if head else doc
    return isinstance(parent, dict) and last in parent


def _get(doc: Any, path: str) -> Any:
    for key in path.split("."):
        doc = doc.get(key) if isinstance(doc, dict) else None
    return doc


def _pop(doc: dict[str, Any], path: str) -> Any:
    *head, last = path.split(".")
    return _get(doc, ".".join(head)).pop(last) if head else doc.pop(last)


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    *head, last = path.split(".")
    for key in head:
        doc = doc.setdefault(key, {})
    doc[last] = value
