"""The record envelope every parser feeds and the one error type parsers raise.

A parser sees one raw unit (the bytes of one line or one message) and returns a
`Parsed`: the part of the record that comes from the input itself. The agent adds
what only it knows (id, source, host, cluster) when it builds the envelope, so that
parsers stay pure: no I/O, no clock, no globals, same input -> same output.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional


class Parsed(NamedTuple):
    """What a parser extracts from one raw unit.

    `type` is the record kind within the format (e.g. `line`, `JOB_FINISH`), `time`
    the event time as UTC epoch seconds taken from the record itself (None when the
    record carries no time), `data` the fields under the format's own names.
    """

    type: str
    time: Optional[float]
    data: dict[str, Any]


class ParseError(ValueError):
    """One raw unit could not be parsed.

    Carries the field that failed, the byte offset inside the unit where it failed
    (when known) and the reason, so `logspool parse` can point at file:line:field.
    Parsers raise nothing else: the shared fuzz test holds every format to that.
    """

    def __init__(self, reason: str, field: Optional[str] = None, offset: Optional[int] = None) -> None:
        self.reason = reason
        self.field = field
        self.offset = offset
        where = []
        if field is not None:
            where.append(f"field {field}")
        if offset is not None:
            where.append(f"byte {offset}")
        super().__init__(f"{', '.join(where)}: {reason}" if where else reason)


#: A parser: one raw unit -> one `Parsed`, or None for a unit that is not a record of
#: this format and is skipped quietly (counted, not dead-lettered), or `ParseError`.
Parser = Callable[[bytes], Optional[Parsed]]

#: The envelope keys in the order the spool encodes them (DESIGN.md, "Records").
ENVELOPE_KEYS = ("id", "source", "format", "time", "host", "cluster", "type", "data")
