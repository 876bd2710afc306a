"""The sinks logspool can deliver to, by the `type` an operator writes in `[[sinks]]`.

Adding a sink = its module + one line here (STYLE.md §2). Literal imports only:
PyInstaller must see them.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

from . import esmond, file, http, lavaflow, perfsonar, sql, stdout
from .base import (Batch, Delivered, Misconfigured, Outcome, Reject, Retry, RetryPolicy, Sink,
                   SinkConfig)


class SinkKind(NamedTuple):
    """A sink type: its config model and how to open a sink from a validated config."""

    config: type[SinkConfig]
    open: Callable[[SinkConfig], Sink]


SINKS: dict[str, SinkKind] = {
    "file": SinkKind(file.Config, file.open),
    "stdout": SinkKind(stdout.Config, stdout.open),
    "http": SinkKind(http.Config, http.open),
    "lavaflow": SinkKind(lavaflow.Config, lavaflow.open),
    "esmond": SinkKind(esmond.Config, esmond.open),
    "perfsonar": SinkKind(perfsonar.Config, perfsonar.open),
    "sql": SinkKind(sql.Config, sql.open),
}

__all__ = ["SINKS", "Batch", "Delivered", "Misconfigured", "Outcome", "Reject", "Retry",
           "RetryPolicy", "Sink", "SinkConfig", "SinkKind"]
