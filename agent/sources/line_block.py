"""Turning a block of file bytes into spool chunks: split complete lines, parse, encode.

Pure (no I/O): the tailer, `prerotate` and `backfill` share it, which is what makes a
line's record id the same whichever of them read it. Only complete lines are
consumed; the bytes after the last newline stay in the file for the next step.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from agent.envelope import EnvelopeEncoder, file_record_id
from parsers import ParseError, Parser

CHUNK_BYTES = 1 << 20
CHUNK_RECORDS = 2000


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
                 encoder: EnvelopeEncoder, max_line_bytes: int, where: str, final: bool = False) -> Block:
    """Parse and encode the complete lines of `data`, which starts at byte `offset` of the file.

    `final` treats trailing bytes without a newline as a last line (a file that will
    never grow again). Over-long lines and parse errors become dead letters that name
    `where` (the path) and the byte offset.
    """
    block = Block()
    end = len(data) if final else data.rfind(b"\n") + 1
    if end <= 0:
        return block
    parts: list[bytes] = []
    size = 0
    pos = 0
    encode = encoder.encode
    while pos < end:
        nl = data.find(b"\n", pos, end)
        stop = nl + 1 if nl >= 0 else end
        raw = data[pos:stop]
        line = raw[:-1] if raw.endswith(b"\n") else raw
        if line.endswith(b"\r"):
            line = line[:-1]
        rid = file_record_id(source, fingerprint, offset + pos, line)
        if len(line) > max_line_bytes:
            block.dead.append((rid, line[:max_line_bytes],
                               f"{where}: byte {offset + pos}: line of {len(line)} bytes is longer than "
                               f"max_line_bytes ({max_line_bytes})"))
        else:
            try:
                parsed = parser(line)
            except ParseError as exc:
                block.parse_errors += 1
                block.dead.append((rid, line, f"{where}: byte {offset + pos}: {exc}"))
                parsed = None
            else:
                if parsed is None:
                    block.skipped += 1
            if parsed is not None:
                enc = encode(rid, parsed)
                parts.append(enc)
                size += len(enc)
                if len(parts) >= CHUNK_RECORDS or size >= CHUNK_BYTES:
                    block.chunks.append((b"".join(parts), len(parts)))
                    block.records += len(parts)
                    parts, size = [], 0
        pos = stop
    if parts:
        block.chunks.append((b"".join(parts), len(parts)))
        block.records += len(parts)
    block.consumed = end
    return block


def skip_to_newline(data: bytes) -> Optional[int]:
    """Bytes to drop to leave an over-long line: up to and including its newline, or None if none yet."""
    nl = data.find(b"\n")
    return nl + 1 if nl >= 0 else None
