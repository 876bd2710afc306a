"""How a file proves it is the one a checkpoint describes: its first line and the bytes before the offset.

(device, inode) finds the candidate cheaply; these two hashes confirm it. Inode
numbers are reused after a delete (Fluent Bit #1875, Filebeat #1341) and a copy made
by copytruncate has a new inode but the same content, so the inode alone is wrong
both ways. The fingerprint covers the first line only (capped at 1 KiB) because that
is complete the moment the first record can be emitted: record ids that include it
are then the same however small the file was when it was first seen.
"""
from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from spool.checkpoints import Checkpoint

FINGERPRINT_BYTES = 1024
MARKER_BYTES = 32


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def fingerprint_of_head(head: bytes) -> Optional[str]:
    """Fingerprint from the file's first bytes; None while the first line is incomplete and short."""
    nl = head.find(b"\n", 0, FINGERPRINT_BYTES)
    if nl >= 0:
        return _digest(head[:nl + 1])
    if len(head) >= FINGERPRINT_BYTES:
        return _digest(head[:FINGERPRINT_BYTES])
    return None


def fingerprint(fd: int) -> Optional[str]:
    return fingerprint_of_head(os.pread(fd, FINGERPRINT_BYTES, 0))


def marker(fd: int, offset: int) -> Optional[str]:
    """Hash of the (up to) 32 bytes ending at `offset`; None at offset 0."""
    if offset <= 0:
        return None
    start = max(0, offset - MARKER_BYTES)
    data = os.pread(fd, offset - start, start)
    if len(data) != offset - start:
        return "short"
    return _digest(data)


def last_line_end(fd: int, size: int) -> int:
    """The offset just after the last newline before `size` (where `read_from = "end"` starts)."""
    pos = size
    while pos > 0:
        start = max(0, pos - 65536)
        data = os.pread(fd, pos - start, start)
        nl = data.rfind(b"\n")
        if nl >= 0:
            return start + nl + 1
        pos = start
    return 0


def verify(fd: int, row: "Checkpoint", size: int, fp: Optional[str]) -> bool:
    """Whether the open file still holds the content `row` describes: it is at least as long
    as the committed offset, starts with the same first line, and has the same bytes
    just before the offset."""
    if size < row.offset:
        return False
    if row.fingerprint is not None and fp != row.fingerprint:
        return False
    return row.offset == 0 or marker(fd, row.offset) == row.marker
