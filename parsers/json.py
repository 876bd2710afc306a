"""The `json` format: one JSON object per line (NDJSON, JSON Lines).

The event time is taken from a top-level `time`, `timestamp` or `@timestamp` key
when it is a number (epoch seconds) or an ISO-8601 string; otherwise it is None.
The object itself becomes `data`, untouched.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

import orjson

from .record import ParseError, Parsed

NAME = "json"
_TIME_KEYS = ("time", "timestamp", "@timestamp")
_JSON_TYPES = {list: "list", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}


def _event_time(obj: dict[str, Any]) -> Optional[float]:
    for key in _TIME_KEYS:
        value = obj.get(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            if value == value and abs(value) < 1e11:  # seconds; a larger number is not (ms, ns)
                return float(value)
            continue
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=timezone.utc)
            return parsed.timestamp()
    return None


def parse(raw: bytes) -> Parsed:
    """Parse one line holding one JSON object.

    Raises `ParseError` naming the byte where the JSON broke, or saying what the
    line held instead of an object.
    """
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as bad:  # orjson reports byte 0 for these
            raise ParseError("invalid UTF-8", offset=bad.start) from None
        raise ParseError(f"not valid JSON: {exc.msg}", offset=exc.pos) from None
    if not isinstance(obj, dict):
        raise ParseError(f"expected a JSON object, got {_JSON_TYPES.get(type(obj), type(obj).__name__)}")
    return Parsed("object", _event_time(obj), obj)
