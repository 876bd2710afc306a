"""Turning a block of file bytes into spool chunks: split complete lines, parse, encode.

Pure (no I/O): the tailer, `prerotate` and `backfill` share it, which is what makes a
line's record id the same whichever of them read it. Only complete lines are
consumed; the bytes after the last newline stay in the file for the next step.

This loop runs once per line, so it is written for speed: one split per block,
ids formatted inline (same text as `envelope.file_record_id`), and for formats in
`parsers.TEXT_RECORDS` one bytes format per record instead of a dict and four encodes.
"""
from __future__ import annotations

import zlib
from itertools import accumulate

import orjson
from dataclasses import dataclass, field
from typing import Optional

from agent.envelope import EnvelopeEncoder
from parsers import ParseError, Parser
from parsers.framing import Framer

CHUNK_BYTES = 1 << 20
CHUNK_RECORDS = 2000
_plus_one = (1).__add__


@dataclass
class Block:
    """What one block gave: encoded chunks, dead letters, and how far it consumed."""

    chunks: list[tuple[bytes, int]] = field(default_factory=list)   # (payload, records)
    dead: list[tuple[str, bytes, str]] = field(default_factory=list)  # (record id, raw, reason)
    consumed: int = 0
    records: int = 0
    skipped: int = 0
    parse_errors: int = 0


def encode_block(data: bytes, offset: int, fingerprint: str, source: str, parser: Parser,
                 encoder: EnvelopeEncoder, max_line_bytes: int, where: str, final: bool = False,
                 text: Optional[tuple[str, str]] = None, framer: Optional[Framer] = None) -> Block:
    """Parse and encode the complete lines of `data`, which starts at byte `offset` of the file.

    `final` treats trailing bytes without a newline as a last line (a file that will
    never grow again). Over-long lines and parse errors become dead letters that name
    `where` (the path) and the byte offset. `text` is the format's TEXT_RECORDS entry;
    `framer` the format's FRAMERS entry, for records that are not one line each (a
    pretty-printed JSON object, GridFTP's run-on truncated record): its units take the
    place of lines.
    """
    block = Block()
    if framer is not None:
        spans, end = framer(data, final)
        lines = [data[s:e] for s, e in spans]
        starts = [offset + s for s, _ in spans]
        has_cr = False  # a framer decides what ends its units
    else:
        end = len(data) if final else data.rfind(b"\n") + 1
        if end <= 0:
            return block
        lines = data[:end].split(b"\n")
        if data[end - 1:end] == b"\n":
            lines.pop()  # the empty piece after the last newline
        # Where each line starts, computed in C: offset, then + len(line) + 1 per line.
        starts = list(accumulate(map(_plus_one, map(len, lines)), initial=offset))
        has_cr = b"\r" in data
    crc = zlib.crc32
    id_prefix = f"{source}:{fingerprint}:"
    encode = encoder.encode
    if text is not None:
        head, middle, end_bytes = encoder.text_template(id_prefix, *text)
        dumps = orjson.dumps
    parts: list[bytes] = []
    size = 0
    for pos, raw in zip(starts, lines):
        line = raw[:-1] if has_cr and raw[-1:] == b"\r" else raw
        if len(line) > max_line_bytes:
            block.dead.append((f"{id_prefix}{pos}:{crc(line):08x}", line[:max_line_bytes],
                               f"{where}: byte {pos}: line of {len(line)} bytes is longer than "
                               f"max_line_bytes ({max_line_bytes})"))
            continue
        if text is not None:
            enc = b"%s%d:%08x%s%s%s" % (head, pos, crc(line), middle, dumps(line.decode("utf-8", "replace")),
                                       end_bytes)
        else:
            rid = f"{id_prefix}{pos}:{crc(line):08x}"
            try:
                parsed = parser(line)
            except ParseError as exc:
                block.parse_errors += 1
                block.dead.append((rid, line, f"{where}: byte {pos}: {exc}"))
                continue
            if parsed is None:
                block.skipped += 1
                continue
            enc = encode(rid, parsed)
        parts.append(enc)
        size += len(enc)
        if len(parts) >= CHUNK_RECORDS or size >= CHUNK_BYTES:
            block.chunks.append((b"".join(parts), len(parts)))
            block.records += len(parts)
            parts, size = [], 0
    if parts:
        block.chunks.append((b"".join(parts), len(parts)))
        block.records += len(parts)
    block.consumed = end
    return block


def skip_to_newline(data: bytes) -> Optional[int]:
    """Bytes to drop to leave an over-long line: up to and including its newline, or None if none yet."""
    nl = data.find(b"\n")
    return nl + 1 if nl >= 0 else None


def after_newlines(data: bytes, n: int) -> int:
    """The length of `data`'s first `n` lines (with their newlines); all of it if it has fewer."""
    end = 0
    for _ in range(n):
        nl = data.find(b"\n", end)
        if nl < 0:
            return len(data)
        end = nl + 1
    return end
