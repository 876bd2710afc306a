"""The `stdout` sink: writes records as NDJSON to the agent's standard output.

For trying a config out, or for running under a supervisor that collects stdout
(`logspool run | jq .`). The bytes written are the spooled lines unchanged.
"""
from __future__ import annotations

import errno
import sys
from typing import BinaryIO, Literal, Optional

from pydantic import Field

from .base import Batch, Delivered, Misconfigured, Outcome, Retry, Sink, SinkConfig


class Config(SinkConfig):
    """`[[sinks]]` keys of `type = "stdout"`: only the common ones.

    Example:

        [[sinks]]
        name = "console"
        type = "stdout"
    """

    type: Literal["stdout"] = Field(description='the sink kind: "stdout" writes NDJSON to standard output')


class StdoutSink:
    """Writes each batch to a binary stream and flushes it, so a reader sees whole batches.

    `stream` is the seam for tests; by default `sys.stdout.buffer` is looked up at each
    send, so a replaced `sys.stdout` (pytest capture, a daemon redirect) is honoured.
    """

    def __init__(self, stream: Optional[BinaryIO] = None) -> None:
        self._stream = stream

    def encode(self, batch: Batch) -> bytes:
        """The batch exactly as spooled (NDJSON, one record per line)."""
        return batch.ndjson()

    def send(self, payload: object) -> Outcome:
        """Write and flush; a closed reader is Misconfigured (nobody will read us again)."""
        assert isinstance(payload, bytes)
        stream = self._stream if self._stream is not None else sys.stdout.buffer
        try:
            stream.write(payload)
            stream.flush()
        except BrokenPipeError:
            return Misconfigured("cannot write to stdout: the reading end of the pipe is closed")
        except (OSError, ValueError) as exc:
            # ValueError: the stream was closed under us (write to a closed file).
            if isinstance(exc, OSError) and exc.errno in (errno.EAGAIN, errno.EINTR, errno.ENOSPC, errno.EIO):
                return Retry(f"cannot write to stdout: {exc}")
            return Misconfigured(f"cannot write to stdout: {exc}")
        return Delivered()

    def close(self) -> None:
        """Standard output belongs to the process, not to the sink: leave it open."""


def open(config: SinkConfig) -> Sink:
    """A stdout sink for a validated `Config`."""
    assert isinstance(config, Config)
    return StdoutSink()
