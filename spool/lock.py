"""The single-instance lock: one `logspool run` per spool.

flock on `<spool>.lock` rather than SQLite's own locking: it is released by the kernel
when the process dies (kill -9 included), so a crash never leaves a stale lock, and it
does not block the short transactions `prerotate` and `status` make on the same spool.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Optional

from .errors import SpoolLocked


class InstanceLock:
    def __init__(self, spool: Path) -> None:
        self.path = Path(str(spool) + ".lock")
        self._fd: Optional[int] = None

    def acquire(self) -> None:
        """Take the lock or raise SpoolLocked naming the holder's pid."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise SpoolLocked(f"another logspool run (pid {holder}) holds {self.path}; "
                              "only one daemon may use a spool") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def held_by_other(self) -> bool:
        """True when another process holds the lock right now (a daemon is running)."""
        if self._fd is not None:
            return False
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)
        return False

    def fileno(self) -> int:
        """The locked descriptor (-1 when not held), for a forked child to close."""
        return self._fd if self._fd is not None else -1

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
