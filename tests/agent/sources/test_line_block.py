"""Turning a block of file bytes into spool chunks: which bytes are consumed, ids, dead letters."""
from __future__ import annotations

from typing import Any, Optional

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.envelope import EnvelopeEncoder, split_lines
from agent.sources import line_block
from agent.sources.line_block import Block, encode_block, skip_to_newline
from parsers import FORMATS, TEXT_RECORDS, Parsed, Parser

FP = "9f86d081884c7d65"
paths = pytest.mark.parametrize("fast", [True, False], ids=["text-records", "parse"])


def block_of(data: bytes, offset: int = 0, final: bool = False, max_line_bytes: int = 1 << 20,
             fast: bool = False, fmt: str = "lines", parser: Optional[Parser] = None) -> Block:
    encoder = EnvelopeEncoder("transfers", fmt, "headnode1", None)
    return encode_block(data, offset, FP, "transfers", parser or FORMATS[fmt], encoder, max_line_bytes,
                        "/var/log/app.log", final=final, text=TEXT_RECORDS[fmt] if fast else None)


def records(block: Block) -> list[dict[str, Any]]:
    return [orjson.loads(line) for payload, _ in block.chunks for line in split_lines(payload)]


def messages(block: Block) -> list[str]:
    return [r["data"]["message"] for r in records(block)]


def offsets(block: Block) -> list[int]:
    return [int(r["id"].split(":")[2]) for r in records(block)]


@paths
def test_only_complete_lines_are_consumed_and_the_partial_tail_is_left(fast: bool) -> None:
    block = block_of(b"one\ntwo\nthr", fast=fast)
    assert messages(block) == ["one", "two"]
    assert block.consumed == 8


def test_a_block_without_a_newline_consumes_nothing() -> None:
    block = block_of(b"no newline yet")
    assert (block.chunks, block.consumed, block.records) == ([], 0, 0)


@paths
def test_final_block_includes_the_trailing_partial_line(fast: bool) -> None:
    block = block_of(b"one\ntwo\nthr", final=True, fast=fast)
    assert messages(block) == ["one", "two", "thr"]
    assert block.consumed == 11


def test_final_block_ending_in_a_newline_has_no_empty_last_record() -> None:
    assert messages(block_of(b"one\n\ntwo\n", final=True)) == ["one", "", "two"]


@paths
def test_over_long_line_is_dead_lettered_naming_path_offset_and_limit_and_the_rest_comes_out(fast: bool) -> None:
    block = block_of(b"ok\n" + b"x" * 10 + b"\nafter\n", offset=1000, max_line_bytes=5, fast=fast)
    assert [reason for _, _, reason in block.dead] == [
        "/var/log/app.log: byte 1003: line of 10 bytes is longer than max_line_bytes (5)"]
    assert messages(block) == ["ok", "after"]
    assert (offsets(block), block.consumed) == ([1000, 1014], 20)


@paths
def test_chunks_are_split_at_chunk_records(fast: bool) -> None:
    n = line_block.CHUNK_RECORDS * 2 + 1
    block = block_of(b"x\n" * n, fast=fast)
    assert [count for _, count in block.chunks] == [line_block.CHUNK_RECORDS, line_block.CHUNK_RECORDS, 1]
    assert block.records == n


@paths
def test_crlf_line_ends_are_stripped_but_a_lone_cr_inside_a_line_is_kept(fast: bool) -> None:
    block = block_of(b"a\r\nb\rc\r\n\r\n", fast=fast)
    assert messages(block) == ["a", "b\rc", ""]
    assert offsets(block) == [0, 3, 8]


@paths
@given(lines=st.lists(st.binary().map(lambda b: b.replace(b"\n", b"")), max_size=12), offset=st.integers(0, 2**40))
def test_ids_carry_the_byte_offset_of_each_line_start(fast: bool, lines: list[bytes], offset: int) -> None:
    block = block_of(b"".join(l + b"\n" for l in lines), offset=offset, fast=fast)
    assert offsets(block) == [offset + sum(len(l) + 1 for l in lines[:i]) for i in range(len(lines))]
    assert block.consumed == sum(len(l) + 1 for l in lines)


def test_parse_errors_are_dead_lettered_with_path_offset_and_reason() -> None:
    block = block_of(b'{"a": 1}\n[1]\n{"b": 2}\n', offset=50, fmt="json")
    assert [r["data"] for r in records(block)] == [{"a": 1}, {"b": 2}]
    assert [(raw, reason) for _, raw, reason in block.dead] == [
        (b"[1]", "/var/log/app.log: byte 59: expected a JSON object, got list")]
    assert block.parse_errors == 1


def test_a_line_the_parser_declines_is_skipped_and_counted() -> None:
    def only_keep(raw: bytes) -> Optional[Parsed]:
        return Parsed("line", None, {"message": raw.decode()}) if raw != b"skip" else None

    block = block_of(b"a\nskip\nb\n", parser=only_keep)
    assert (messages(block), offsets(block), block.skipped) == (["a", "b"], [0, 7], 1)


def test_skip_to_newline_leaves_an_over_long_line_once_its_end_arrives() -> None:
    assert (skip_to_newline(b"xxxx\nnext"), skip_to_newline(b"xxxx")) == (5, None)
