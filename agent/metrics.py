"""Prometheus text exposition (format 0.0.4) at http://`metrics_listen`/metrics.

Every figure is read from the spool at scrape time, like `status`: the totals from the
`counters` table (bumped by whichever process did the work: the daemon, its drain,
`prerotate`, `backfill`), the gauges from checkpoints, deliveries and the files on disk.
So a scrape costs nothing between scrapes, the counters survive restarts, and the
exporter cannot disagree with `logspool status`. The server is a thread of `run` with
its own read-only connection per request: a scrape never takes the write lock.
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional

from agent import status as status_mod
from agent.config import Config
from agent.listen import Listen
from agent.logs import RateLimit
from spool import Spool, SpoolError, counters

log = logging.getLogger("logspool.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# (name, type, help); a source's or sink's samples are labelled source="…" / sink="…".
_SOURCE = [
    ("logspool_source_records_read_total", "counter", "Records read and spooled."),
    ("logspool_source_parse_errors_total", "counter",
     "Lines that could not be read as records (did not parse, or too long), kept as dead letters."),
    ("logspool_source_bytes_behind", "gauge", "Bytes of the source's files not yet read."),
    ("logspool_source_files", "gauge", "Files the source tracks."),
]
_SINK = [
    ("logspool_sink_records_delivered_total", "counter", "Records the endpoint accepted."),
    ("logspool_sink_records_dead_lettered_total", "counter", "Records the endpoint refused for good, kept as dead letters."),
    ("logspool_sink_retries_total", "counter", "Failed delivery attempts that will be retried."),
    ("logspool_sink_backlog_records", "gauge", "Records spooled and not yet delivered."),
    ("logspool_sink_backlog_bytes", "gauge", "Bytes of the records not yet delivered."),
    ("logspool_sink_oldest_undelivered_age_seconds", "gauge",
     "Age of the oldest undelivered record's chunk; 0 when nothing waits."),
    ("logspool_sink_last_success_timestamp_seconds", "gauge",
     "Unix time of the last accepted batch; 0 if none yet."),
    ("logspool_sink_stopped", "gauge", "1 when the sink stopped because it is misconfigured (see status)."),
]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render(config: Config, spool: Spool, version: str, now: Optional[float] = None) -> str:
    """The whole exposition, from one read of the spool."""
    now = time.time() if now is None else now
    st = status_mod.collect(config, spool)
    totals = counters.read(spool.db)

    def total(scope: str, name: str, counter: str) -> float:
        return totals.get((scope, name, counter), 0.0)

    out: list[str] = []

    def family(name: str, kind: str, text: str, samples: list[tuple[str, float]]) -> None:
        out.append(f"# HELP {name} {text}")
        out.append(f"# TYPE {name} {kind}")
        out.extend(f"{name}{labels} {_number(value)}" for labels, value in samples)

    source_values: dict[str, list[tuple[str, float]]] = {name: [] for name, _, _ in _SOURCE}
    for src in st["sources"]:
        label = f'{{source="{_escape(src["name"])}"}}'
        values = [total("source", src["name"], "records"), total("source", src["name"], "dead_lettered"),
                  sum(f["behind"] for f in src["files"]), len(src["files"])]
        for (name, _, _), value in zip(_SOURCE, values):
            source_values[name].append((label, value))
    for name, kind, text in _SOURCE:
        family(name, kind, text, source_values[name])

    sink_values: dict[str, list[tuple[str, float]]] = {name: [] for name, _, _ in _SINK}
    for s in st["sinks"]:
        label = f'{{sink="{_escape(s["name"])}"}}'
        dead = total("sink", s["name"], "dead_lettered")
        values = [max(0.0, total("sink", s["name"], "handled") - dead), dead, total("sink", s["name"], "retries"),
                  s["backlog_records"], s["backlog_bytes"], s["oldest_age_s"] or 0.0,
                  total("sink", s["name"], "last_success"), 1.0 if s["state"] not in ("idle", "sending", "retrying") else 0.0]
        for (name, _, _), value in zip(_SINK, values):
            sink_values[name].append((label, value))
    for name, kind, text in _SINK:
        family(name, kind, text, sink_values[name])

    family("logspool_spool_bytes", "gauge", "Bytes of the spool file in use (what spool_max_bytes caps).",
           [("", st["spool_bytes"])])
    family("logspool_spool_max_bytes", "gauge", "The spool's size cap (spool_max_bytes).",
           [("", config.agent.spool_max_bytes)])
    family("logspool_reading_paused", "gauge", "1 while reading is paused (spool at its cap, or its disk full).",
           [("", 1.0 if st["paused"] else 0.0)])
    family("logspool_dead_letters", "gauge", "Dead letters held in the spool now (all sinks and sources).",
           [("", st["dead_letters"])])
    family("logspool_build_info", "gauge", "The running version.", [(f'{{version="{_escape(version)}"}}', 1.0)])
    return "\n".join(out) + "\n"


class _Server(ThreadingHTTPServer):
    # Request threads are joined by server_close(), so that `stop` returns with no
    # thread of ours left (the daemon forks its drain process right after).
    daemon_threads = False
    block_on_close = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class MetricsServer:
    """`/metrics` on one address, served by a daemon thread until `stop`."""

    def __init__(self, listen: Listen, config: Config, version: str) -> None:
        self.listen = listen
        self.config = config
        self._version = version
        self._quiet = RateLimit(60.0)
        kind = _Server6 if ":" in listen.host else _Server
        self._server = kind((listen.host, listen.port), self._handler(), bind_and_activate=False)
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        """Bind and serve; OSError (address in use, not ours) goes to the caller."""
        try:
            self._server.server_bind()
            self._server.server_activate()
        except OSError:
            self._server.server_close()
            raise
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,), name="metrics", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5.0)
        self._server.server_close()

    def _page(self) -> tuple[int, bytes]:
        config = self.config
        try:
            spool = Spool(config.agent.spool, readonly=True)
        except SpoolError as exc:
            return 503, f"cannot read the spool: {exc}\n".encode()
        try:
            return 200, render(config, spool, self._version).encode()
        except SpoolError as exc:
            return 503, f"cannot read the spool: {exc}\n".encode()
        finally:
            spool.close()

    def _handler(self) -> Callable[..., BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "logspool"
            timeout = 5.0   # a client that connects and says nothing cannot hold `stop` up longer

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    try:
                        code, body = server._page()
                    except Exception:   # a bug must not kill the thread or the daemon
                        if server._quiet.allow("bug"):
                            log.exception("Metrics page failed.")
                        code, body = 500, b"internal error; see the agent's log\n"
                    if code != 200 and server._quiet.allow("page"):
                        log.warning("Metrics page failed.", extra={"error": body.decode().strip()})
                    kind = CONTENT_TYPE if code == 200 else "text/plain; charset=utf-8"
                elif path == "/":
                    code, body, kind = 200, b"logspool: metrics at /metrics\n", "text/plain; charset=utf-8"
                else:
                    code, body, kind = 404, b"not found; metrics are at /metrics\n", "text/plain; charset=utf-8"
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
                pass   # a scrape every 15 s is not news

        return Handler
