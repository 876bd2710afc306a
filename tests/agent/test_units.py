"""Durations and sizes as operators write them, and sizes as people read them."""
from __future__ import annotations

from typing import Any

import pytest

from agent.units import format_size, parse_duration, parse_size

DURATION_ERROR = 'expected a duration such as "250ms", "30s", "5m", "1h"'
SIZE_ERROR = 'expected a size such as "512KiB", "1MiB", "2GiB"'


@pytest.mark.parametrize(("text", "seconds"), [
    ("250ms", 0.25), ("30s", 30.0), ("5m", 300.0), ("2h", 7200.0), ("7d", 604800.0), ("1.5s", 1.5),
    (" 5 m ", 300.0), ("0s", 0.0), (30, 30.0), (0.5, 0.5),
])
def test_parse_duration_reads_a_number_with_its_unit(text: Any, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(("value", "message"), [
    ("5 minutes", DURATION_ERROR), ("5", DURATION_ERROR), ("5M", DURATION_ERROR), ("-1s", DURATION_ERROR),
    ("", DURATION_ERROR), (True, DURATION_ERROR), (None, DURATION_ERROR), ([1], DURATION_ERROR),
    (-1, "expected a duration ≥ 0"),
])
def test_parse_duration_refuses_other_spellings_saying_what_was_expected(value: Any, message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_duration(value)
    assert str(err.value) == message


@pytest.mark.parametrize(("text", "size"), [
    ("512KiB", 512 << 10), ("1MiB", 1 << 20), ("2GiB", 2 << 30), ("1TiB", 1 << 40), ("1.5KiB", 1536),
    ("100MB", 100_000_000), ("1kB", 1000), ("1KB", 1000), ("2GB", 2_000_000_000), ("10B", 10), ("10", 10),
    (" 4 MiB ", 4 << 20), (4096, 4096), (0, 0),
])
def test_parse_size_reads_a_number_with_its_unit(text: Any, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(("value", "message"), [
    ("2 gigs", SIZE_ERROR), ("1mib", SIZE_ERROR), ("1M", SIZE_ERROR), ("-1KiB", SIZE_ERROR), ("", SIZE_ERROR),
    (True, SIZE_ERROR), (1.5, SIZE_ERROR), (None, SIZE_ERROR), (-1, "expected a size ≥ 0"),
])
def test_parse_size_refuses_other_spellings_saying_what_was_expected(value: Any, message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_size(value)
    assert str(err.value) == message


@pytest.mark.parametrize(("size", "text"), [
    (0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"), (1 << 20, "1.0 MiB"),
    (2 << 30, "2.0 GiB"), (1 << 40, "1024.0 GiB"),
])
def test_format_size_reads_as_binary_units(size: int, text: str) -> None:
    assert format_size(size) == text
