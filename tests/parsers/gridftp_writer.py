"""GridFTP transfer-record writers and hypothesis strategies for records they can write.

`write()` formats a `gridftp` data dict the way globus_i_gfs_log_transfer does (the key order,
`DEST=[...]`, `TASKID` then `retrans` after CODE; `.%06d` microseconds, or the old `.%d`), with
the main log's `[pid] <ctime> :: Transfer stats: ` header when the dict has a pid. `records()`
draws dicts that must parse back to themselves: FILE with spaces, `=`, ` BUFFER=` and non-ASCII
text, values with `=`, optional TASKID/retrans/unknown keys, every transfer TYPE. What the format
cannot carry is left out: no newline anywhere, no space in a value other than FILE (the space
ends a value), no unknown key named BUFFER after CODE (FILE ends at the last ` BUFFER=`).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
FIRST_US = (datetime(1, 1, 1, tzinfo=timezone.utc) - EPOCH) // timedelta(microseconds=1)
LAST_US = (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc) - EPOCH) // timedelta(microseconds=1)
TYPES = ("RETR", "STOR", "LIST", "NLST", "MLSD", "ESTO", "ERET")


def iso(us: int) -> str:
    t = EPOCH + timedelta(microseconds=us)
    return f"{t:%m-%dT%H:%M:%S}".join((f"{t.year:04d}-", f".{t.microsecond:06d}Z"))


def us_of(iso_text: str) -> int:
    """Epoch microseconds of `YYYY-mm-ddTHH:MM:SS.uuuuuuZ` (the inverse of iso())."""
    y, mo, d, h, mi, s, us = (int(iso_text[a:b]) for a, b in ((0, 4), (5, 7), (8, 10), (11, 13), (14, 16), (17, 19), (20, 26)))
    return (datetime(y, mo, d, h, mi, s, us, tzinfo=timezone.utc) - EPOCH) // timedelta(microseconds=1)


def stamp(iso_text: str, unpadded: bool) -> str:
    """`YYYYmmddHHMMSS.uuuuuu` (or `.%d` when unpadded) of an ISO time."""
    digits = "".join((iso_text[0:4], iso_text[5:7], iso_text[8:10], iso_text[11:13], iso_text[14:16], iso_text[17:19]))
    usec = iso_text[20:26]
    return f"{digits}.{int(usec) if unpadded else usec}"


def event_time(data: dict[str, Any]) -> float:
    return us_of(data["date"]) / 1_000_000


def write(data: dict[str, Any]) -> bytes:
    """One record (without its newline) holding `data`."""
    short = data["usec_unpadded"]
    line = (f"DATE={stamp(data['date'], short)} HOST={data['host']} PROG={data['prog']} "
            f"NL.EVNT={data['nl_evnt']} START={stamp(data['start'], short)} USER={data['user']} "
            f"FILE={data['file']} BUFFER={data['buffer']} BLOCK={data['block']} NBYTES={data['nbytes']} "
            f"VOLUME={data['volume']} STREAMS={data['streams']} STRIPES={data['stripes']} "
            f"DEST=[{data['dest']}] TYPE={data['type']} CODE={data['code']}")
    if data["taskid"] is not None:
        line += f" TASKID={data['taskid']}"
    if data["retrans"] is not None:
        line += " retrans=" + ",".join(map(str, data["retrans"]))
    for key, value in data["extra"].items():
        line += f" {key}={value}"
    if data["pid"] is not None:
        line = f"[{data['pid']}] {data['log_time']} :: Transfer stats: {line}"
    return line.encode()


def ctime(t: datetime) -> str:
    """The main log's header time, as ctime() writes it (`Thu Jul 27 12:59:42 2023`, `Jan  5`)."""
    return f"{t:%a %b} {t.day:2d} {t:%H:%M:%S} {t.year}"


_no_space = st.characters(codec="utf-8", exclude_characters=" \n")
_word = st.text(_no_space, max_size=10)
#: A value that ends the line: the parser strips trailing tabs and carriage returns there.
_last_word = st.text(st.characters(codec="utf-8", exclude_characters=" \n\t\r"), min_size=1, max_size=10)
_fragments = st.sampled_from([" ", "=", " BUFFER=1", " FILE=", "Transfer stats: ", "DATE=", "[1] ", "é",
                              "/data/wrf1hr=d03_2015 05-03_00:00:00", "/x y/z", "\t", "\r"])
_file = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_characters="\n"), max_size=16),
    st.lists(st.one_of(_fragments, _word), max_size=6).map("".join),
)
_int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_count = st.one_of(st.integers(0, 64), _int64)
_usec = st.one_of(st.integers(0, 999_999), st.integers(0, 99_999))
_key = st.from_regex(r"[A-Za-z][A-Za-z0-9_.]{0,8}", fullmatch=True).filter(
    lambda k: k not in ("TASKID", "retrans", "BUFFER"))


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """A `data` dict as parse() gives it for a record written by write()."""
    end_s = draw(st.integers(FIRST_US // 1_000_000, LAST_US // 1_000_000))
    start_s = draw(st.one_of(st.integers(FIRST_US // 1_000_000, LAST_US // 1_000_000),
                             st.integers(max(FIRST_US // 1_000_000, end_s - 7200), end_s)))
    end_usec, start_usec = draw(_usec), draw(_usec)
    end_us, start_us = end_s * 1_000_000 + end_usec, start_s * 1_000_000 + start_usec
    unpadded = draw(st.booleans()) and (end_usec < 100_000 or start_usec < 100_000)
    main_log = draw(st.booleans())
    logged = draw(st.datetimes(datetime(1970, 1, 1), datetime(2100, 1, 1)))
    return {
        "date": iso(end_us), "start": iso(start_us), "duration": (end_us - start_us) / 1_000_000,
        "host": draw(_word), "prog": draw(st.sampled_from(["globus-gridftp-server", ""]) | _word),
        "nl_evnt": draw(st.just("FTP_INFO") | _word), "user": draw(_word), "file": draw(_file),
        "buffer": draw(_count), "block": draw(_count), "nbytes": draw(_int64), "volume": draw(_word),
        "streams": draw(_count), "stripes": draw(_count), "dest": draw(_word),
        "type": draw(st.sampled_from(TYPES) | _word.filter(bool)), "code": draw(st.sampled_from([226, 426, 451, 500]) | _int64),
        "taskid": draw(st.none() | st.just("none") | st.uuids().map(str) | _last_word),
        "retrans": draw(st.none() | st.lists(_count, max_size=8)),
        "usec_unpadded": unpadded,
        "pid": draw(st.integers(0, 2**31)) if main_log else None,
        "log_time": ctime(logged) if main_log else None,
        "extra": draw(st.dictionaries(_key, _last_word, max_size=3)),
    }
