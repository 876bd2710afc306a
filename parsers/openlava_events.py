"""The `openlava-events` format: openlava and IBM LSF `lsb.events` (and rotated `lsb.events.N`).

One record per line, `"TYPE" "VERSION" eventTime` then the fields of that event type under
the names of openlava's own structs (`parsers.lsb_events`). `type` is the event type as
written, `time` the eventTime. The `#<offset>` header and any `#` or blank line are skipped.
"""
from __future__ import annotations

import re
from typing import Callable, Optional

from .lsb_events import LAYOUTS, LSF_VERIFIED
from .lsb_record import EventLog
from .record import Parsed

NAME = "openlava-events"
_LOG = EventLog(LAYOUTS, LSF_VERIFIED)
_HEADER = re.compile(rb"#([0-9]+) *")


#: One lsb.events line -> its event; None for the header, comments and blank lines (a bound
#: method: one call less per line).
parse: Callable[[bytes], Optional[Parsed]] = _LOG.parse


def history_offset(first_line: bytes) -> Optional[int]:
    """The byte offset in a switched lsb.events' `#<offset>` header (scheduler.md §2.4).

    mbatchd's switch re-writes the events of jobs still in core at the top of the new file
    and records in the header where the new events begin: `#80` padded with spaces to 80
    columns in a fresh file. Only `#`, digits and trailing spaces count: anything else
    (the `#` + spaces placeholder of a switch in progress, a comment) is not a header.
    Rotated `lsb.events.N` files carry a timestamp there instead; the file source only asks
    about the file that replaced the one it was following.
    """
    m = _HEADER.fullmatch(first_line)
    return int(m.group(1)) if m is not None else None
