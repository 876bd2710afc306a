"""Durations and sizes as operators write them ("250ms", "5m", "1MiB", "2GiB"), parsed in one place.

A bare number is accepted too (seconds, bytes), so a generated config that writes
`timeout = 30` still works; every other spelling is an error that says what was expected.
"""
from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_EXPECTED = 'expected a duration such as "250ms", "30s", "5m", "1h"'
_SIZE_EXPECTED = 'expected a size such as "512KiB", "1MiB", "2GiB"'
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB|kB|KB|MB|GB|TB)?\s*$")
_SIZE_UNITS = {
    None: 1, "B": 1,
    "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
    "kB": 1000, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4,
}


def parse_duration(value: Any) -> float:
    """Seconds from "250ms", "1s", "5m", "2h", "1d" or a bare number of seconds."""
    if isinstance(value, bool):
        raise ValueError(_DURATION_EXPECTED)
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("expected a duration ≥ 0")
        return float(value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    raise ValueError(_DURATION_EXPECTED)


def parse_size(value: Any) -> int:
    """Bytes from "512KiB", "1MiB", "2GiB", "100MB" or a bare number of bytes."""
    if isinstance(value, bool):
        raise ValueError(_SIZE_EXPECTED)
    if isinstance(value, int):
        if value < 0:
            raise ValueError("expected a size ≥ 0")
        return value
    if isinstance(value, str):
        m = _SIZE.match(value)
        if m:
            return int(float(m.group(1)) * _SIZE_UNITS[m.group(2)])
    raise ValueError(_SIZE_EXPECTED)


def format_size(n: float) -> str:
    """A byte count for people: 1536 -> "1.5 KiB"."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


Duration = Annotated[float, BeforeValidator(parse_duration)]
ByteSize = Annotated[int, BeforeValidator(parse_size)]
