"""How a format's raw units are cut from a stream of bytes, when a unit is not one line.

Most formats are a record a line, and the agent splits lines itself (fast, in C). A
format whose records span lines (a pretty-printed JSON object) or run into each other
(GridFTP's transfer log cuts a long record at 4095 bytes and loses its newline, so the
next record continues on the same line) registers a framer in `parsers.FRAMERS`. A
document format (one whole input is one record: bwctl's output) is listed in
`parsers.DOCUMENTS` instead; the pipe source hands it the whole input.

A framer is pure and total: it never raises, whatever the bytes.
"""
from __future__ import annotations

from typing import Callable

#: frame(data, final) -> (units as (start, end) spans of `data`, end exclusive and without
#: the newline that ends a unit; bytes consumed). Bytes of an incomplete unit stay
#: unconsumed for the next call unless `final`, when they become a last unit. Blank
#: lines between units are consumed and give no unit.
Framer = Callable[[bytes, bool], tuple[list[tuple[int, int]], int]]

