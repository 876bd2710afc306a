"""Errors the spool raises; apsw's own exceptions never leave spool/.

    SpoolError                 base; the message says what the caller should do
    ├── SpoolBusy              another process held the write lock past the busy timeout (retryable)
    ├── SpoolFull              the filesystem or the size cap is full (retryable once space returns)
    ├── SpoolCorrupt           the file failed its integrity check (quarantine and start fresh)
    └── SpoolLocked            another `logspool run` owns this spool (permanent for this process)
"""
from __future__ import annotations


class SpoolError(Exception):
    """Any spool failure. `retryable` tells the caller whether waiting can fix it."""

    retryable = False


class SpoolBusy(SpoolError):
    retryable = True


class SpoolFull(SpoolError):
    retryable = True


class SpoolCorrupt(SpoolError):
    pass


class SpoolLocked(SpoolError):
    pass
