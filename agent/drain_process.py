"""The drains in a child process, so delivery runs on its own core beside the reader.

Python threads share one interpreter lock; on a 2-core head node the reader (parse,
encode) and the drain (lease, send, ack) then take turns instead of running side by
side. Measured on 1M raw lines to HTTP: one process with two threads 171k lines/s;
reader and drains in two processes 2x that order (README, "Performance").

The child is forked before the parent starts any thread or opens the spool, and
opens its own spool connections. A pipe carries wake-ups (one byte after each commit)
and doubles as a lifeline: when the parent dies, even by SIGKILL, the child reads
EOF, stops at the next safe point and exits. Unacknowledged batches are re-sent by
the next run with the same ids.
"""
from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path
from typing import Optional

from agent.config import Config
from agent.pipeline import Drains
from agent.signals import SignalFlags

log = logging.getLogger("logspool.drain")
#: The child's exit code when every sink it drives stopped (misconfigured): not a crash to restart.
ALL_SINKS_STOPPED = 3


class DrainProcess:
    def __init__(self, config: Config, spool_path: Path, names: Optional[list[str]] = None,
                 close_fds: tuple[int, ...] = ()) -> None:
        self.config = config
        self.spool_path = spool_path
        self.names = names
        self.close_fds = close_fds
        self.pid: Optional[int] = None
        self._wake_fd: Optional[int] = None
        self.exit_code: Optional[int] = None

    def start(self) -> None:
        """Fork the child. Call before this process starts threads or opens the spool."""
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            code = 1
            try:
                os.close(w)
                for fd in self.close_fds:  # e.g. the instance lock: its lifetime is the parent's
                    try:
                        os.close(fd)
                    except OSError:
                        pass
                code = _child(self.config, self.spool_path, self.names, r)
            except BaseException:  # pragma: no cover - logged, then the child exits
                log.exception("Drain process failed.")
            finally:
                os._exit(code)
        os.close(r)
        os.set_blocking(w, False)
        self.pid, self._wake_fd = pid, w

    def notify(self) -> None:
        """Tell the child there are new chunks (never blocks; a full pipe already says so)."""
        if self._wake_fd is not None:
            try:
                os.write(self._wake_fd, b"x")
            except (BlockingIOError, BrokenPipeError):
                pass

    def alive(self) -> bool:
        if self.pid is None or self.exit_code is not None:
            return False
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            return True
        self.exit_code = os.waitstatus_to_exitcode(status)
        return False

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the child and wait; SIGKILL it if it does not finish its send in time."""
        if self._wake_fd is not None:
            os.close(self._wake_fd)
            self._wake_fd = None
        if self.pid is None or not self.alive():
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self.alive():
                return
            time.sleep(0.02)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        self.exit_code = -9


def _child(config: Config, spool_path: Path, names: Optional[list[str]], wake_fd: int) -> int:
    flags = SignalFlags()
    # SIGTERM stops; ^C and reloads are the parent's business (it restarts this process).
    flags.install(stop=(signal.SIGTERM,), reload=(), ignore=(signal.SIGINT, signal.SIGHUP))
    drains = Drains(config, spool_path, names)
    drains.start()
    try:
        while not flags.stop:
            if flags.sleep(0.5, [wake_fd]):
                try:
                    data = os.read(wake_fd, 4096)
                except (BlockingIOError, InterruptedError):
                    continue
                if not data:  # the parent is gone
                    break
                drains.notify()
            if drains.all_stopped():
                return ALL_SINKS_STOPPED
    finally:
        drains.shutdown()
    return 0
