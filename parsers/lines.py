"""The `lines` format: one raw line, kept as text.

Invalid UTF-8 is kept, with U+FFFD in place of each bad byte, rather than refused:
a log shipper that drops a line for one stray byte loses exactly the lines an
operator is looking for (core dumps, binary garbage after a crash).
"""
from __future__ import annotations

from .record import Parsed

NAME = "lines"
TYPE = "line"
#: Every record is `{"message": <the line as text>}` with no time: the agent may
#: build it without calling parse() (parsers.TEXT_RECORDS; a test holds it equal).
TEXT_FIELD = "message"


def parse(raw: bytes) -> Parsed:
    """Return the line as `{"message": text}`; a line has no event time of its own."""
    return Parsed(TYPE, None, {"message": raw.decode("utf-8", "replace")})
