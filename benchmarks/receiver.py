"""The benchmark's HTTP receiver: http_sink.py run as its own process on a free 127.0.0.1 port.

A separate process, not a thread of the runner, so the receiver never competes with the
runner's /proc sampling for one interpreter lock, and its CPU can be read on its own.
The sink collects every DATE value it sees, which is what the exactly-once check uses.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Optional

from process_tree import read_proc

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    """A port nothing listens on right now (the sink binds it a moment later; retried on a clash)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    def __init__(self, workdir: Path, expect: int) -> None:
        self.workdir = workdir
        self.expect = expect
        self.done_file = workdir / "receiver-done.json"
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.port = 0

    def start(self, timeout: float = 15.0) -> "Receiver":
        """Start the sink and wait until it listens; a port taken meanwhile means another try."""
        for _ in range(5):
            self.port = free_port()
            ready = self.workdir / f"receiver-ready-{self.port}"
            log = open(self.workdir / "receiver.log", "ab")
            self.proc = subprocess.Popen(
                [sys.executable, str(HERE / "http_sink.py"), "--port", str(self.port), "--expect", str(self.expect),
                 "--done-file", str(self.done_file), "--ready-file", str(ready)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            log.close()
            end = time.monotonic() + timeout
            while time.monotonic() < end and self.proc.poll() is None and not ready.exists():
                time.sleep(0.02)
            if ready.exists():
                return self
            self.stop()
        raise RuntimeError(f"the receiver did not start; see {self.workdir / 'receiver.log'}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ingest"

    def done(self) -> Optional[dict[str, Any]]:
        """The sink's summary once all `expect` distinct records arrived, else None."""
        if not self.done_file.exists():
            return None
        try:
            return dict(json.loads(self.done_file.read_text()))
        except ValueError:   # written by rename, so this is not expected; try again next poll
            return None

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=10) as r:
            return dict(json.loads(r.read()))

    def cpu_s(self) -> Optional[float]:
        s = read_proc(self.proc.pid) if self.proc else None
        return s.cpu_s if s else None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        try:
            os.unlink(self.done_file)
        except FileNotFoundError:
            pass
