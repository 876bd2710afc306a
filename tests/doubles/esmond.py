"""An esmond measurement archive double on 127.0.0.1: the perfSONAR REST API of research/esmond.md §3.

Routes under `<alias>/perfsonar/archive/` (alias "/esmond" by default, "" for none), as
esmond/urls.py and api_v2.py (perfsonar/esmond 424013f) answer them:

    GET  /                                  metadata list (filters, time filters, limit/offset;
                                            the first element carries metadata-count-total and
                                            the previous/next page links)
    POST /                                  metadata find-or-create by checksum: 201 either way
    GET  /<key>/                            one metadata (404 for an unknown key)
    PUT  /<key>/                            bulk points: 201 and the body `""`
    GET  /<key>/<et>/                       the event type's entry, [] if not registered
    POST /<key>/<et>/                       a stub: 201, nothing stored
    GET  /<key>/<et>/base                   points: time filters, limit/offset, `Link` header
    POST /<key>/<et>/base                   one point {"ts", "val"}: 201
    POST /<key>/<et>/<summary>[/<window>]   400 "Only base summary-type allowed for writing"

The trailing slash is optional on everything below the root; the root without its slash
is redirected (Django's APPEND_SLASH), so a client that drops it is found out. Errors are
`{"detail": ...}`; unmatched paths get Django's HTML 404 page. Where the double departs
from 424013f: a PUT or POST to an unknown metadata key is answered 404 here (there, the
points find no event-type rows and vanish behind a 201), and DRF's rendering of
`Response('')` is kept: the 201 body of a PUT is the two bytes `""`, not empty.

Auth (DRF TokenAuthentication + IsAuthenticatedOrReadOnly + model permissions): reads are
anonymous; a write without credentials is 401 "Authentication credentials were not
provided."; a wrong token is 401 "Invalid token." on any method; a known user who may not
write is 403. `apikeys` (user -> key) also accepts the pre-2.0 tastypie header
`ApiKey <user>:<key>` (a wrong one: 401 with an empty body, as tastypie answers); without
it that header is ignored, as esmond >= 2.0 ignores it.

Fault injection: `fail_next(n, status, method=None, detail=None)` (answered before anything else),
`outage(status)` / `mend()`, `hang_next(n, seconds)` (handled, then answered late),
`redirect_to(url)` (every request 301 to the same path under `url`; None ends it), and
`stop()` / `start()` on the same port. Every request is kept in `requests`.
"""
from __future__ import annotations

import re
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable, Optional
from urllib.parse import parse_qsl, unquote, urlencode

import orjson

from tests.doubles.esmond_store import EVENT_TYPES, SUMMARY_URL_NAMES, ApiError, Archive, bad, integer, time_filters

NOT_FOUND_PAGE = b"<h1>Not Found</h1><p>The requested URL was not found on this server.</p>"
SERVER_ERROR_PAGE = b"<h1>Server Error (500)</h1>"
_JSON_BODY = "Must post content-type: application/json header and json-formatted payload."
_SAFE = ("GET", "HEAD", "OPTIONS")

Answer = tuple[int, dict[str, str], bytes, float]


@dataclass(frozen=True)
class Seen:
    """One request as the double received it."""

    method: str
    path: str
    authorization: Optional[str]
    content_type: Optional[str]
    body: bytes


class EsmondServer:
    """esmond's perfSONAR archive over HTTP; `url` is what a sink's `url` is set to."""

    def __init__(self, tokens: Optional[dict[str, str]] = None, readonly: Iterable[str] = (),
                 apikeys: Optional[dict[str, str]] = None, alias: str = "/esmond",
                 clock: Callable[[], float] = time.time, default_limit: int = 1000,
                 keep_requests: bool = True) -> None:
        self.tokens = dict(tokens if tokens is not None else {"test-token": "logspool"})  # token -> user
        self.readonly = set(readonly)  # users who are known but may not write (403)
        self.apikeys = apikeys         # user -> key, for "ApiKey user:key"
        self.alias = "/" + alias.strip("/") if alias.strip("/") else ""
        self.clock = clock
        self.default_limit = default_limit
        self.archive = Archive()
        self.requests: list[Seen] = []  # every request, unless keep_requests is off (a benchmark's millions)
        self.keep_requests = keep_requests
        self.request_count = 0
        self.statuses: Counter[int] = Counter()
        self._lock = threading.Lock()
        self._fail: list[tuple[int, Optional[str], Optional[str]]] = []
        self._hang: list[float] = []
        self._down: Optional[int] = None
        self._redirect: Optional[str] = None
        self._route = re.compile(rf"^{re.escape(self.alias)}/perfsonar/archive(/.*)?$")
        self._server: Optional[ThreadingHTTPServer] = None
        self.port = 0
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def root(self) -> str:
        return f"{self.url}{self.alias}/perfsonar/archive/"

    # ---- fault injection and lifecycle -----------------------------------------
    def fail_next(self, n: int, status: int = 500, method: Optional[str] = None, detail: Optional[str] = None) -> None:
        """The next `n` requests (of `method`, if given) are answered `status` before anything else:
        with `{"detail": detail}` when given, else an HTML page."""
        with self._lock:
            self._fail.extend([(status, method, detail)] * n)

    def hang_next(self, n: int, seconds: float) -> None:
        """The next `n` requests are handled, then answered after `seconds`."""
        with self._lock:
            self._hang.extend([seconds] * n)

    def outage(self, status: int = 503) -> None:
        self._down = status

    def mend(self) -> None:
        self._down = None

    def redirect_to(self, url: Optional[str]) -> None:
        """Answer every request 301 to the same path under `url` (an http -> https move)."""
        self._redirect = url.rstrip("/") if url else None

    def start(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="esmond", daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # ---- what tests read -------------------------------------------------------
    def points(self, key: str, event_type: str) -> dict[int, Any]:
        """Stored base points of one series, by ts (as stored, before the read API's rendering)."""
        with self._lock:
            return dict(self.archive.series.get((key, event_type), {}))

    def metadata_keys(self) -> list[str]:
        with self._lock:
            return list(self.archive.metadata)

    @property
    def dropped(self) -> Counter[str]:
        return self.archive.dropped

    # ---- one request -------------------------------------------------------------
    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Answer:
        """(status, headers, body, seconds to wait) for one request."""
        with self._lock:
            self.request_count += 1
            if self.keep_requests:
                self.requests.append(Seen(method, raw_path, headers.get("authorization"),
                                          headers.get("content-type"), body))
            if self._redirect is not None:
                return self._answer(301, b"", {"Location": self._redirect + raw_path})
            forced = next((i for i, (_s, m, _d) in enumerate(self._fail) if m in (None, method)), None)
            status, _m, detail = self._fail.pop(forced) if forced is not None else (self._down, None, None)
            hang = self._hang.pop(0) if self._hang else 0.0
            if detail is not None and status is not None:
                return self._json(status, {"detail": detail})
            if status is not None:
                page = SERVER_ERROR_PAGE if status == 500 else b"<h1>Service Unavailable</h1>"
                return self._answer(status, page, {"Content-Type": "text/html"})
            path, _, query = raw_path.partition("?")
            m = self._route.match(unquote(path))
            if m is None:
                return self._answer(404, NOT_FOUND_PAGE, {"Content-Type": "text/html"})
            if m.group(1) is None:  # APPEND_SLASH
                return self._answer(301, b"", {"Location": f"{self.url}{path}/" + (f"?{query}" if query else "")})
            try:
                user_error = self._authenticate(method, headers.get("authorization"))
                if user_error is not None:
                    return user_error
                status, out, extra = self._route_to(method, m.group(1).strip("/").split("/"), path, query, headers,
                                                    body)
            except ApiError as exc:
                if exc.detail is None:
                    return self._answer(exc.status, SERVER_ERROR_PAGE, {"Content-Type": "text/html"})
                return self._json(exc.status, {"detail": exc.detail})
            answer = self._json(status, out, extra)
            return answer[:3] + (hang,)

    def _authenticate(self, method: str, authorization: Optional[str]) -> Optional[Answer]:
        """None when the request may go on; else the 401/403 answer."""
        user: Optional[str] = None
        scheme, _, credentials = (authorization or "").partition(" ")
        if scheme.lower() == "token":
            parts = credentials.split()
            if not parts:
                return self._unauthorized("Invalid token header. No credentials provided.")
            if len(parts) > 1:
                return self._unauthorized("Invalid token header. Token string should not contain spaces.")
            user = self.tokens.get(parts[0])
            if user is None:
                return self._unauthorized("Invalid token.")
        elif scheme == "ApiKey" and self.apikeys is not None:
            name, _, key = credentials.strip().partition(":")
            if not key or self.apikeys.get(name) != key:
                return self._answer(401, b"", {})
            user = name
        if method in _SAFE:
            return None
        if user is None:
            return self._unauthorized("Authentication credentials were not provided.")
        if user in self.readonly:
            return self._json(403, {"detail": "You do not have permission to perform this action."})
        return None

    def _unauthorized(self, detail: str) -> Answer:
        return self._json(401, {"detail": detail}, {"WWW-Authenticate": "Token"})

    def _route_to(self, method: str, parts: list[str], path: str, query: str, headers: dict[str, str],
                  body: bytes) -> tuple[int, Any, dict[str, str]]:
        params = dict(parse_qsl(query, keep_blank_values=True))
        now = int(self.clock())
        if parts == [""]:
            if method == "GET":
                return self._list(params, path)
            if method == "POST":
                if not (headers.get("content-type") or "").startswith("application/json"):
                    raise ApiError(415, f'Unsupported media type "{headers.get("content-type", "")}" in request.')
                try:
                    data = orjson.loads(body)
                except orjson.JSONDecodeError as exc:
                    raise bad(f"JSON parse error - {exc}") from None
                md, _new = self.archive.create(data)
                return 201, self.archive.represent(md, self.url, self.alias), {}
            raise ApiError(405, f'Method "{method}" not allowed.')
        key = parts[0]
        if len(parts) == 1:
            if method == "GET":
                return 200, self.archive.represent(self.archive.get(key), self.url, self.alias), {}
            if method == "PUT":
                data = self._body(headers, body)
                self.archive.get(key)
                self.archive.bulk(key, data, now)
                return 201, "", {}
            if method == "PATCH":
                raise ApiError(405, "does not support PATCH verb")
            raise ApiError(405, f'Method "{method}" not allowed.')
        event_type = parts[1]
        if len(parts) == 2:
            if method == "GET":
                return 200, self._event_type(key, event_type), {}
            if method == "POST":
                self._body(headers, body)
                return 201, "", {}
            raise ApiError(405, f'Method "{method}" not allowed.')
        if len(parts) > 4 or method not in ("GET", "POST"):
            raise ApiError(404 if len(parts) > 4 else 405, "Not found." if len(parts) > 4 else
                           f'Method "{method}" not allowed.')
        summary = parts[2]
        if method == "POST":
            return self._post_point(key, event_type, summary, headers, body, now)
        return self._read(key, event_type, summary, params, path, now)

    def _body(self, headers: dict[str, str], body: bytes) -> Any:
        if not (headers.get("content-type") or "").startswith("application/json"):
            raise bad(_JSON_BODY)
        if not body:
            raise bad("No data payload POSTed.")
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            raise bad(f"POST data payload could not be decoded to a JSON object - given: "
                      f"{body[:200].decode('utf-8', 'replace')}") from None

    def _post_point(self, key: str, event_type: str, summary: str, headers: dict[str, str], body: bytes,
                    now: int) -> tuple[int, Any, dict[str, str]]:
        data = self._body(headers, body)
        if not isinstance(data, dict) or "ts" not in data:
            raise bad("Required field ts not provided in request")
        try:
            int(data["ts"])
        except (TypeError, ValueError):
            raise bad("Time must be a unix timestamp") from None
        if "val" not in data:
            raise bad("Required field val not provided in request")
        if event_type not in EVENT_TYPES:
            raise bad(f"Invalid event type {event_type}")
        if summary not in SUMMARY_URL_NAMES:
            raise bad(f"Invalid summary type {summary}")
        if summary != "base":
            raise bad(f"Only base summary-type allowed for writing. Cannot use {summary}")
        self.archive.get(key)
        self.archive.save(key, event_type, data["ts"], data["val"], now)
        return 201, "", {}

    def _event_type(self, key: str, event_type: str) -> list[dict[str, Any]]:
        md = self.archive.metadata.get(key)
        if md is None or not md.registered(event_type):
            return []
        whole = self.archive.represent(md, self.url, self.alias)
        return [et for et in whole["event-types"] if et["event-type"] == event_type]

    def _read(self, key: str, event_type: str, summary: str, params: dict[str, str], path: str,
              now: int) -> tuple[int, Any, dict[str, str]]:
        if event_type not in EVENT_TYPES:
            raise bad(f"Unsupported event type '{event_type}' provided")
        if summary not in SUMMARY_URL_NAMES:
            raise bad(f"Invalid summary type '{summary}'")
        begin, end = time_filters(params, now)
        if summary != "base":
            return 200, [], {}  # the double computes no summaries
        points = self.archive.points(key, event_type, begin, end if end is not None else now + 3600)
        if "limit" in params:  # the query itself is cut at limit + offset
            points = points[:integer(params["limit"]) + integer(params.get("offset", "0"))]
        return self._page(points, params, path)

    def _list(self, params: dict[str, str], path: str) -> tuple[int, Any, dict[str, str]]:
        has_time = any(k in params for k in ("time", "time-start", "time-end", "time-range"))
        begin, end = time_filters(params, int(self.clock()))
        found = self.archive.find(params, begin if has_time else None, end)
        status, page, headers = self._page([self.archive.represent(md, self.url, self.alias) for md in found],
                                           params, path)
        if page:
            page[0]["metadata-count-total"] = len(found)
            page[0]["metadata-previous-page"] = self._link(params, path, len(found), -1)
            page[0]["metadata-next-page"] = self._link(params, path, len(found), 1)
        return status, page, headers

    def _page(self, items: list[Any], params: dict[str, str], path: str) -> tuple[int, Any, dict[str, str]]:
        """DRF LimitOffsetPagination + PSPaginator's Link header."""
        limit, offset = self._limit_offset(params)
        links = []
        following = self._link(params, path, len(items), 1)
        previous = self._link(params, path, len(items), -1)
        if following:
            links.append(f'<{following}>; rel="next"')
        if previous:
            links.append(f'<{previous}>; rel="prev"')
        return 200, items[offset:offset + limit], ({"Link": ", ".join(links)} if links else {})

    def _limit_offset(self, params: dict[str, str]) -> tuple[int, int]:
        limit = integer(params["limit"]) if "limit" in params else self.default_limit
        return (limit if limit > 0 else self.default_limit), max(integer(params.get("offset", "0")), 0)

    def _link(self, params: dict[str, str], path: str, count: int, direction: int) -> Optional[str]:
        limit, offset = self._limit_offset(params)
        if direction > 0:
            if offset + limit >= count:
                return None
            moved = {**params, "limit": str(limit), "offset": str(offset + limit)}
        else:
            if offset <= 0:
                return None
            moved = {**params, "limit": str(limit)}
            moved.pop("offset", None)
            if offset - limit > 0:
                moved["offset"] = str(offset - limit)
        return f"{self.url}{path}?{urlencode(moved)}"

    def _json(self, status: int, data: Any, headers: Optional[dict[str, str]] = None) -> Answer:
        return self._answer(status, orjson.dumps(data), {"Content-Type": "application/json", **(headers or {})})

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> Answer:
        self.statuses[status] += 1
        return status, headers, body, 0.0

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

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        return Handler
