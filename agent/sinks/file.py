"""The `file` sink: appends records as NDJSON to a local file.

Meant for a local archive, a shared filesystem a downstream job picks up, or a first
install that wants to see records before pointing them at a real endpoint. The bytes
written are the spooled lines unchanged, so the file is what `http` would POST.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Literal

from pydantic import Field

from agent.config_path import ConfigPath
from agent.units import ByteSize

from .base import Batch, Delivered, Misconfigured, Outcome, Retry, Sink, SinkConfig

#: errnos a person has to fix (permissions, a missing mount, a path through a file);
#: every other OSError is treated as transient (full disk, I/O error, quota).
_MISCONFIGURED = frozenset({errno.EACCES, errno.EPERM, errno.ENOENT, errno.ENOTDIR, errno.EISDIR,
                            errno.EROFS, errno.EEXIST, errno.ELOOP, errno.ENAMETOOLONG})


class Config(SinkConfig):
    """`[[sinks]]` keys of `type = "file"`.

    Example:

        [[sinks]]
        name = "local"
        type = "file"
        path = "/var/log/logspool/records.ndjson"
        fsync = true
    """

    type: Literal["file"] = Field(description='the sink kind: "file" appends NDJSON to a local file')
    batch_records: int = Field(
        10000, ge=1, description="most records in one append; a local file takes large batches, and a batch that "
                                 "holds whole spool chunks is written without splitting them")
    batch_bytes: ByteSize = Field(8 << 20, ge=1, description='most bytes in one append, e.g. "8MiB"')
    path: ConfigPath = Field(
        description="the file records are appended to, one JSON object per line; missing parent "
                    "directories are created; relative to the config file, "
                    'e.g. "/var/log/logspool/records.ndjson"')
    fsync: bool = Field(
        False, description="fsync the file after every batch, so a delivered batch survives a power "
                           "loss (slower); e.g. true")


class FileSink:
    """Appends each batch to `path`, all of it or (as far as the OS lets us) nothing.

    The file is opened per batch, so an operator may rotate or delete it at any time
    and the next batch recreates it. A failed write is cut back to the size the file
    had before, so the retried batch does not follow half a copy of itself.
    """

    def __init__(self, config: Config) -> None:
        self._path = config.path
        self._fsync = config.fsync

    def encode(self, batch: Batch) -> bytes:
        """The batch exactly as spooled (NDJSON, one record per line)."""
        return batch.ndjson()

    def send(self, payload: object) -> Outcome:
        """Append `payload`; Retry on a full disk or I/O error, Misconfigured when the path is unusable."""
        assert isinstance(payload, bytes)
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return _outcome(exc, "cannot create directory", self._path.parent)
        try:
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as exc:
            return _outcome(exc, "cannot open", self._path)
        try:
            start = os.fstat(fd).st_size
            try:
                _write_all(fd, payload)
                if self._fsync:
                    os.fsync(fd)
            except OSError as exc:
                _truncate(fd, start)
                return _outcome(exc, "cannot write", self._path)
        finally:
            os.close(fd)
        return Delivered()

    def close(self) -> None:
        """Nothing is held open between batches."""


def open(config: SinkConfig) -> Sink:
    """A file sink for a validated `Config`."""
    assert isinstance(config, Config)
    return FileSink(config)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _truncate(fd: int, size: int) -> None:
    """Best effort: devices and some network filesystems refuse to truncate."""
    try:
        os.ftruncate(fd, size)
    except OSError:
        pass


def _outcome(exc: OSError, doing: str, path: Path) -> Outcome:
    name = errno.errorcode.get(exc.errno or 0, "OSError")
    where = exc.filename if exc.filename is not None else path
    reason = f"{doing} {where}: {exc.strerror or exc} ({name})"
    if exc.errno in _MISCONFIGURED:
        return Misconfigured(reason)
    return Retry(reason)
