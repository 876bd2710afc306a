"""Formats in `parsers.TEXT_RECORDS` are encoded without calling parse(): the result must not differ.

For each entry the agent's fast path (`encode_block(..., text=entry)`) and the generic path
(parse() then `EnvelopeEncoder.encode`) are run on the same block of arbitrary lines, and the
decoded envelopes, dead letters and consumed byte count must be equal.
"""
from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.envelope import EnvelopeEncoder, split_lines
from agent.sources.line_block import Block, encode_block
from parsers import FORMATS, TEXT_RECORDS

awkward = st.sampled_from([b'"', b"\\", b'\\"', b"\r", b"a\r", b"\r\r", b"\xff\xfe", b"\xc3", b"\xed\xa0\x80",
                           b"\x00\x1f\x7f", b"\xe2\x80\xa8", "h\u00e9\u4e2d\U0001f600".encode()])
one_line = st.one_of(st.binary(), awkward, st.lists(awkward | st.binary(max_size=4)).map(b"".join)).map(
    lambda b: b.replace(b"\n", b""))


def _block(name: str, data: bytes, final: bool, text: bool) -> Block:
    encoder = EnvelopeEncoder("transfers", name, "headnode1", "hpc1")
    return encode_block(data, 4096, "9f86d081884c7d65", "transfers", FORMATS[name], encoder, 64,
                        "/var/log/app.log", final=final, text=TEXT_RECORDS[name] if text else None)


def _records(block: Block) -> list[object]:
    return [orjson.loads(line) for payload, _ in block.chunks for line in split_lines(payload)]


@pytest.mark.parametrize("name", sorted(TEXT_RECORDS))
@given(lines=st.lists(one_line, max_size=20), final=st.booleans())
def test_text_record_envelopes_equal_the_parsed_ones(name: str, lines: list[bytes], final: bool) -> None:
    data = b"\n".join(lines)
    fast, generic = _block(name, data, final, text=True), _block(name, data, final, text=False)
    assert _records(fast) == _records(generic)
    assert (fast.dead, fast.consumed, fast.records) == (generic.dead, generic.consumed, generic.records)


@pytest.mark.parametrize("name", sorted(TEXT_RECORDS))
def test_text_record_entry_names_the_type_and_field_parse_gives(name: str) -> None:
    record = FORMATS[name](b"x")
    assert record is not None
    assert (record.type, record.time, record.data) == (TEXT_RECORDS[name][0], None, {TEXT_RECORDS[name][1]: "x"})
