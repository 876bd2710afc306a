"""Formats with a framer (records that span lines or run into each other) are read unit by unit.

A toy framer stands in for the real ones (parsers/gridftp.py, parsers/gridftp_json.py,
tested with their formats): a unit is a paragraph, blank lines separate them. What is
checked here is the agent's side: ids at unit starts, incomplete units left for later,
and the parse worker cutting a block only between units.
"""
from __future__ import annotations

import zlib

import orjson
import pytest

from agent.envelope import EnvelopeEncoder
from agent.sources import parse_worker
from agent.sources.line_block import encode_block
from agent.sources.parse_worker import ParseWorker
from parsers import FRAMERS, parser_for


def paragraphs(data: bytes, final: bool) -> tuple[list[tuple[int, int]], int]:
    spans: list[tuple[int, int]] = []
    pos = 0
    while True:
        while data.startswith(b"\n", pos):
            pos += 1
        end = data.find(b"\n\n", pos)
        if end < 0:
            break
        spans.append((pos, end))
        pos = end + 2
    if final and pos < len(data):
        spans.append((pos, len(data)))
        pos = len(data)
    return spans, pos


def records(chunks: list[tuple[bytes, int]]) -> list[tuple[str, str]]:
    return [(r["id"], r["data"]["message"]) for c, _ in chunks for r in map(orjson.loads, c.splitlines())]


ENCODER = EnvelopeEncoder("s", "lines", "h", None)


def _id(offset: int, unit: bytes) -> str:
    return f"s:fp:{offset}:{zlib.crc32(unit):08x}"


def test_units_are_records_with_ids_at_their_start_and_an_unfinished_unit_waits() -> None:
    data = b"a1\na2\n\n\n\nb1\n\nc1\nc2"  # c is not finished: no blank line after it yet
    block = encode_block(data, 1000, "fp", "s", parser_for("lines"), ENCODER, 1 << 20, "/x", framer=paragraphs)
    assert records(block.chunks) == [(_id(1000, b"a1\na2"), "a1\na2"),
                                     (_id(1009, b"b1"), "b1")]
    assert block.consumed == 13
    final = encode_block(data[13:], 1013, "fp", "s", parser_for("lines"), ENCODER, 1 << 20, "/x", final=True,
                         framer=paragraphs)
    assert records(final.chunks) == [(_id(1013, b"c1\nc2"), "c1\nc2")] and final.consumed == len(data) - 13


def test_an_over_long_unit_is_a_dead_letter_naming_its_offset() -> None:
    data = b"short\n\n" + b"x" * 50 + b"\n\nok\n\n"
    block = encode_block(data, 0, "fp", "s", parser_for("lines"), ENCODER, 20, "/x/log", framer=paragraphs)
    assert [text for _, text in records(block.chunks)] == ["short", "ok"]
    assert [(rid, reason) for rid, _, reason in block.dead] == [
        (_id(7, b"x" * 50), "/x/log: byte 7: line of 50 bytes is longer than max_line_bytes (20)")]


def test_the_worker_cuts_a_block_between_units_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(FRAMERS, "lines", paragraphs)
    # Units of 3 lines: a cut at a line end would split one; the records must equal the inline ones.
    data = b"".join(b"rec %d line 1\nrec %d line 2\nrec %d line 3\n\n" % (i, i, i) for i in range(12000))
    assert len(data) > parse_worker.MIN_SPLIT
    worker = ParseWorker("lines", ENCODER, 1 << 20, None)
    try:
        split = worker.encode(data, 0, "fp", "s", "/x", final=False)
        assert worker.pid is not None and not worker.failed
    finally:
        worker.close()
    whole = encode_block(data, 0, "fp", "s", parser_for("lines"), ENCODER, 1 << 20, "/x", framer=paragraphs)
    assert records(split.chunks) == records(whole.chunks)
    assert len(records(whole.chunks)) == 12000 and split.consumed == whole.consumed == len(data)
    assert records(split.chunks)[5000][1] == "rec 5000 line 1\nrec 5000 line 2\nrec 5000 line 3"
