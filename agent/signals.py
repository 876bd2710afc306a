"""Signals turned into flags, safely: handlers take no lock and the main loop wakes at once.

A Python signal handler runs in the main thread between two bytecodes, possibly while
that thread holds a lock. `threading.Event.set()` in a handler therefore deadlocks when
the handler interrupts another `set()` on the same Event — which is what a second
SIGTERM (systemd's, then the process group's) did to the drain process. Handlers here
only assign attributes; `signal.set_wakeup_fd` writes a byte that ends `sleep()`.
"""
from __future__ import annotations

import os
import select
import signal
from types import FrameType
from typing import Iterable, Optional


class SignalFlags:
    def __init__(self) -> None:
        self.stop = False
        self.reload = False
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)

    def install(self, stop: Iterable[int] = (signal.SIGTERM, signal.SIGINT),
                reload: Iterable[int] = (signal.SIGHUP,), ignore: Iterable[int] = ()) -> None:
        """Route `stop` and `reload` signals to the flags; call from the main thread."""
        signal.set_wakeup_fd(self._w, warn_on_full_buffer=False)
        for sig in stop:
            signal.signal(sig, self._on_stop)
        for sig in reload:
            signal.signal(sig, self._on_reload)
        for sig in ignore:
            signal.signal(sig, signal.SIG_IGN)

    def _on_stop(self, signum: int, frame: Optional[FrameType]) -> None:
        self.stop = True

    def _on_reload(self, signum: int, frame: Optional[FrameType]) -> None:
        self.reload = True

    def request_stop(self) -> None:
        """Stop from code (not a signal), waking a `sleep()` in progress."""
        self.stop = True
        try:
            os.write(self._w, b"\0")
        except (BlockingIOError, OSError):
            pass

    def sleep(self, seconds: float, extra_fds: Iterable[int] = ()) -> list[int]:
        """Wait up to `seconds`, less if a signal arrives or an fd in `extra_fds` is readable.

        Returns the readable extra fds."""
        fds = [self._r, *extra_fds]
        try:
            ready, _, _ = select.select(fds, [], [], max(0.0, seconds))
        except InterruptedError:  # pragma: no cover - PEP 475 retries select itself
            return []
        if self._r in ready:
            try:
                while os.read(self._r, 512):
                    pass
            except BlockingIOError:
                pass
        return [fd for fd in ready if fd != self._r]
