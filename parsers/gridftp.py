"""The `gridftp` format: GridFTP transfer-log records, bare or inside the server's main log.

`globus_i_gfs_log_transfer` (gridcf/gct gridftp/server/src/globus_i_gfs_log.c) writes one record
per finished transfer, `KEY=value` in a fixed order, unescaped (FILE may hold spaces and `=`):

    DATE=<end> HOST= PROG= NL.EVNT= START=<start> USER= FILE= BUFFER= BLOCK= NBYTES= VOLUME=
    STREAMS= STRIPES= DEST=[<ip>] TYPE= CODE= [TASKID=] [retrans=n,n,...]

to the transfer log, and the same text to the main log behind `[pid] <ctime> :: Transfer stats: `.
Both are read here, from the same source; `parsers.gridftp_fields` reads the record's fields.
Every TYPE is a record (RETR, STOR, LIST, NLST, ESTO, ERET, ...): `Parsed.type` says which, so a
sink chooses. Main-log lines other than `Transfer stats: ` records, and blank lines, give None.

The record is formatted into a 4096-byte buffer: a longer one is cut at 4095 bytes and loses its
newline, so the next record runs on in the same line. `frame()` splits such a line where the next
record starts, and `parse()` refuses a record of exactly 4095 bytes, naming the first missing field
(or the last one, which may be cut short): a cut record is dead-lettered and the next one is kept.
"""
from __future__ import annotations

import re
from typing import Callable, Optional

from .gridftp_fields import MISSING, careful, last_field, replace_bad_utf8, typical, usual
from .record import ParseError, Parsed

NAME = "gridftp"
#: The most a record can hold: GridFTP's `char out_buf[4096]` less the terminating NUL.
LOG_BUFFER = 4095
CUT = f"record cut at {LOG_BUFFER} bytes by GridFTP's log buffer"
STATS = b"Transfer stats: "

_MAIN_HEADER: Callable[[bytes, int], object] = re.compile(rb"\[[0-9]{1,10}\] ").match


def parse(raw: bytes) -> Optional[Parsed]:
    """Parse one transfer record (a unit from `frame()`, with or without its newline).

    Returns None for blank lines and main-log lines that are not `Transfer stats: ` records;
    raises `ParseError(reason, field, offset)` with the data key and the byte offset in `raw`.
    """
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return _parse(raw)
    if len(text) != LOG_BUFFER:  # the usual bare record, as a server writes it: the hot path
        parsed = usual(text)
        if parsed is not None:
            return parsed
    return _parse(raw)


def _parse(raw: bytes) -> Optional[Parsed]:
    """parse() of any unit: main-log lines, trailing blanks, cut records, UTF-8, unusual values."""
    size = len(raw)
    if raw[-1:] == b"\n":
        raw = raw[:-1]
    length = len(raw)
    if raw[-1:] in (b" ", b"\t", b"\r"):
        raw = raw.rstrip(b" \t\r")
    if raw[:5] == b"DATE=":
        at, pid, log_time = 0, None, None
    else:
        stats = raw.find(STATS)
        if stats < 0:
            return None
        at = stats + len(STATS)
        pid, log_time = _prefix(raw[:stats])
        if raw[at:at + 5] != b"DATE=":
            raise ParseError(f"{MISSING}: expected DATE= after 'Transfer stats: '", field="date", offset=at)
    body = raw[at:]
    ascii_body = body.isascii()
    text = body.decode("ascii") if ascii_body else body.decode("utf-8", "surrogateescape")
    cut = length - at == LOG_BUFFER
    # parse() tried usual() on the whole unit: again only if a header or blanks hid the record
    quick = usual(text) if ascii_body and not cut and len(body) != size else None
    result = (quick.data, quick.time) if quick is not None else (None if cut else typical(text))
    if result is None:
        try:
            result = careful(text, at if ascii_body else None, at)
        except ParseError as exc:
            if cut and exc.reason.startswith(MISSING):
                raise ParseError(f"{MISSING}: {CUT}", field=exc.field, offset=length) from None
            if b" *** TRUNCATED " in raw:
                raise ParseError(f"{exc.reason} (globus_logging cut this main-log message)",
                                 field=exc.field, offset=exc.offset) from None
            raise
        if cut:
            raise ParseError(f"{CUT}: its last value may be incomplete", field=last_field(result[0]), offset=length)
    data, time = result
    data["pid"] = pid
    data["log_time"] = log_time
    if not ascii_body or (log_time is not None and not log_time.isascii()):
        replace_bad_utf8(data)
    return Parsed(data["type"], time, data)


def frame(data: bytes, final: bool) -> tuple[list[tuple[int, int]], int]:
    """The records in `data` as (start, end) spans without their newline, and the bytes consumed.

    A line is a record; blank lines are consumed and give none. A line longer than GridFTP's
    4095-byte buffer is split where a cut record ran on into the next one: at byte 4095 of a bare
    record when `DATE=` follows, or 4095 bytes after `Transfer stats: ` when a main-log header
    `[pid] ` follows. A split piece is complete as soon as those bytes show the next record, so it
    is delivered even before the rest of the line arrives. An unterminated last line is left
    unconsumed unless `final`, when it is a unit too. Never raises.
    """
    units: list[tuple[int, int]] = []
    size = len(data)
    pos = consumed = 0
    while pos < size:
        newline = data.find(b"\n", pos)
        end = size if newline < 0 else newline
        while end - pos > LOG_BUFFER:
            split = _run_on(data, pos, end)
            if split < 0:
                break
            units.append((pos, split))
            pos = consumed = split
        if newline < 0:
            if final:
                if not _blank(data, pos, size):
                    units.append((pos, size))
                consumed = size
            break
        if not _blank(data, pos, newline):
            units.append((pos, newline))
        pos = consumed = newline + 1
    return units, consumed


def _run_on(data: bytes, pos: int, end: int) -> int:
    """Where the record starting at `pos` was cut and the next one begins, or -1 if it was not."""
    if data.startswith(b"DATE=", pos):
        split = pos + LOG_BUFFER
        return split if data.startswith(b"DATE=", split) else -1
    if data.startswith(b"[", pos):
        stats = data.find(STATS + b"DATE=", pos, min(end, pos + 512))
        if stats >= 0:
            split = stats + len(STATS) + LOG_BUFFER
            if split < end and _MAIN_HEADER(data, split):
                return split
    return -1


def _blank(data: bytes, start: int, end: int) -> bool:
    return start == end or (data[start] in b" \t\r\f\v" and data[start:end].isspace())


def _prefix(head: bytes) -> tuple[Optional[int], Optional[str]]:
    """(pid, log_time) of the main-log header `[pid] <ctime> :: `; log_time is local time, kept
    as written. Another prefix (a syslog header) is kept whole as log_time, with no pid."""
    if head[:1] == b"[" and head[-4:] == b" :: ":
        close = head.find(b"] ")
        if 1 < close <= 11 and head[1:close].isdigit():
            return int(head[1:close]), head[close + 2:-4].decode("utf-8", "surrogateescape")
    text = head.strip().decode("utf-8", "surrogateescape")
    return None, text or None
