"""Log lines as operators grep them: `time level message key=value ...`, on stderr.

Context goes in `extra={...}` and is printed as key=value after the message (Vector's
style: a capitalised sentence, the error under `error`). Nothing here ever sees a
secret: configs hold them as SecretStr, which prints as asterisks.

`logspool --log-format json VERB` writes the same record as one JSON object a line
(`time`, `level`, `message`, then the context keys) for a journal or log shipper that
parses fields; a value that is not JSON (a path, an exception) is written as its text.
"""
from __future__ import annotations

import logging
import sys
import time
from typing import Any, Callable, Optional

import orjson

_STANDARD = set(vars(logging.LogRecord("x", 0, "", 0, "", None, None))) | {"message", "asctime"}


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        parts = [f"{stamp}.{int(record.msecs):03d}Z", record.levelname.lower(), record.getMessage()]
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                text = str(value)
                parts.append(f"{key}={text!r}" if (" " in text or not text) else f"{key}={text}")
        if record.exc_info:
            parts.append("\n" + self.formatException(record.exc_info))
        return " ".join(parts)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line: dict[str, Any] = {"time": f"{stamp}.{int(record.msecs):03d}Z", "level": record.levelname.lower(),
                                "message": record.getMessage()}
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in line:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


FORMATTERS: dict[str, Callable[[], logging.Formatter]] = {"text": KeyValueFormatter, "json": JsonFormatter}
_format = "text"


def set_format(name: str) -> None:
    """Choose the line format (`text` or `json`) before setup(); the CLI's --log-format does."""
    global _format
    _format = name
    for handler in logging.getLogger("logspool").handlers:
        if getattr(handler, "_logspool", False):
            handler.setFormatter(FORMATTERS[name]())


def setup(level: str = "info", path: Optional[str] = None) -> None:
    """Send logspool's logs to stderr, or appended to `path`, at `level` (idempotent, so a reload
    can call it again; the first call's destination stays)."""
    root = logging.getLogger("logspool")
    root.setLevel(level.upper())
    if not any(getattr(h, "_logspool", False) for h in root.handlers):
        handler: logging.Handler = logging.FileHandler(path) if path else logging.StreamHandler(sys.stderr)
        handler.setFormatter(FORMATTERS[_format]())
        handler._logspool = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.propagate = False


class RateLimit:
    """Says whether a repeated message may be logged now: at most once per `every`
    seconds per key (Vector: 10 s; Litestream: 30 s). An unreadable file polled four
    times a second must not write four log lines a second."""

    def __init__(self, every: float = 30.0, clock: Callable[[], float] | None = None) -> None:
        self.every = every
        self.clock = clock or time.monotonic
        self._last: dict[str, float] = {}
        self.suppressed: dict[str, int] = {}

    def allow(self, key: str) -> bool:
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.every:
            self.suppressed[key] = self.suppressed.get(key, 0) + 1
            return False
        self._last[key] = now
        return True
