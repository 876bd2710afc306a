"""Shared by the security tests: one known secret, an endpoint that echoes it back, and the
places it must never show up (text, files, the command lines of a process tree).

The endpoint answers every request with the request's own headers in its body, as a
careless proxy or debug endpoint does: a sink that quotes an answer into a log line,
`status` or a dead-letter row without scrubbing would leak the credential it sent.
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterable

SECRET = "s3cr3t-" + secrets.token_hex(8)


class EchoServer:
    """`status` decides every answer (200 stores the body); the answer's body echoes the request."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.bodies: list[bytes] = []
        self.header_values: list[str] = []
        self.requests: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.header_values += [str(v) for v in self.headers.values()]
                owner.requests.append(str(self.headers) + body.decode(errors="replace"))
                status = owner.status
                if status == 200:
                    owner.bodies.append(body)
                # Credentials first, then the body's head (LavaFlow's key travels in it), then the rest:
                # a sink cuts a quoted answer short, and the echo must not fall past the cut.
                creds = {k: v for k, v in self.headers.items() if "auth" in k.lower() or "key" in k.lower()}
                echo = json.dumps({"denied": creds, "body": body[:300].decode(errors="replace"),
                                   "headers": dict(self.headers)}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(echo)))
                self.end_headers()
                self.wfile.write(echo)

            do_PUT = do_POST

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def got_secret(self) -> bool:
        """Whether some request carried the secret (so the echoed answers carry it too)."""
        return any(SECRET in r for r in self.requests)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def leaks(texts: Iterable[tuple[str, str]]) -> list[str]:
    """The labels of the texts that hold the secret."""
    return [label for label, text in texts if SECRET in text]


def file_leaks(root: Path, allowed: Iterable[Path]) -> list[str]:
    """Every file under `root` (spool, its -wal and -journal, logs, exports, outputs) holding the
    secret's bytes, except the ones that are meant to (the config, a key file)."""
    keep = {p.resolve() for p in allowed}
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.resolve() not in keep and SECRET.encode() in path.read_bytes():
            found.append(str(path))
    return found


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (from /proc/*/stat parent links)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class ArgvWatch:
    """Samples the command lines of a process tree every 20 ms until stopped."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.seen: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for p in descendants(self.pid):
                line = cmdline(p)
                if line:
                    self.seen[p] = line
            self._stop.wait(0.02)

    def stop(self) -> dict[int, str]:
        self._stop.set()
        self._thread.join()
        return self.seen
