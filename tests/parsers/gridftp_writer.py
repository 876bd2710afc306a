"""GridFTP transfer-record writers and hypothesis strategies for records they can write.

`write()` formats a `gridftp` data dict the way globus_i_gfs_log_transfer does (the key order,
`DEST=[...]`, `TASKID` then `retrans` after CODE; `.%06d` microseconds, or the old `.%d`), with
the main log's `[pid] <ctime> :: Transfer stats: ` header when the dict has a pid. `records()`
draws dicts that must parse back to themselves: FILE with spaces, `=`, ` BUFFER=` and non-ASCII
text, values with `=` or with spaces, optional TASKID/retrans/unknown keys, every transfer TYPE.
A third of them are ASCII as servers write them, the parser's hot path (`gridftp_fields.usual`);
`usual_reads()` says which of those it must read rather than leave to the slower ways.
What the format cannot carry is left out: no newline anywhere, no value other than FILE holding
both a space and `=` (it could hold the ` KEY=` marker that ends it), no unknown key named BUFFER
after CODE (FILE ends at the last ` BUFFER=`), no whitespace at the end of the line.

`events()` draws RAMSES JSON events (`gridftp-json`) with the field list of research/esmond.md
§1.1, and `transfer_end_data()` gives what the parser must make of a Transfer-End.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Optional

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
#: A value with spaces but no `=`, so that it cannot hold the marker that ends it (` PROG=`): such
#: records go through the parser's careful path, the others mostly through its fast one.
_spaced = st.lists(st.text(st.characters(codec="utf-8", exclude_characters=" \n=\t\r"), min_size=1, max_size=6),
                   min_size=2, max_size=3).map(" ".join)
_value = _word | _spaced
_last_value = _last_word | _spaced
_FRAGMENTS = [" ", "=", " BUFFER=1", " FILE=", "Transfer stats: ", "DATE=", "[1] ",
              "/data/wrf1hr=d03_2015 05-03_00:00:00", "/x y/z", "\t", "\r", " BUFFER=1 BLOCK=2 x", "  "]
_fragments = st.sampled_from(_FRAGMENTS + ["é"])
_file = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_characters="\n"), max_size=16),
    st.lists(st.one_of(_fragments, _word), max_size=6).map("".join),
)
#: Printable ASCII without spaces: the values a server writes, and the hot path reads.
_ascii_word = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=10)
_ascii_last = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=10)
_ascii_file = st.lists(st.one_of(st.sampled_from(_FRAGMENTS), _ascii_word), max_size=6).map("".join)
_int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_count = st.one_of(st.integers(0, 64), _int64)
_usec = st.one_of(st.integers(0, 999_999), st.integers(0, 99_999))
_key = st.from_regex(r"[A-Za-z][A-Za-z0-9_.]{0,8}", fullmatch=True).filter(
    lambda k: k not in ("TASKID", "retrans", "BUFFER"))


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """A `data` dict as parse() gives it for a record written by write(), keys in its order."""
    end_s = draw(st.integers(FIRST_US // 1_000_000, LAST_US // 1_000_000))
    start_s = draw(st.one_of(st.integers(FIRST_US // 1_000_000, LAST_US // 1_000_000),
                             st.integers(max(FIRST_US // 1_000_000, end_s - 7200), end_s)))
    end_usec, start_usec = draw(_usec), draw(_usec)
    end_us, start_us = end_s * 1_000_000 + end_usec, start_s * 1_000_000 + start_usec
    unpadded = draw(st.booleans()) and (end_usec < 100_000 or start_usec < 100_000)
    main_log = draw(st.booleans())
    logged = draw(st.datetimes(datetime(1970, 1, 1), datetime(2100, 1, 1)))
    kind = draw(st.sampled_from(["ascii", "utf-8", "spaced"]))
    if kind == "spaced":  # values with spaces and integers of 19 digits too
        value, last_value, count, int64 = _value, _last_value, _count, _int64
    elif kind == "utf-8":  # what a server writes: every value but FILE without spaces, 18 digits at most
        value, last_value, count, int64 = _word, _last_word, st.integers(0, 64), st.integers(-(10**17), 10**18 - 1)
    else:  # the same in ASCII, no sign, unknown keys seldom: mostly records the hot path reads
        value, last_value, count, int64 = _ascii_word, _ascii_last, st.integers(0, 64), st.integers(0, 10**18 - 1)
    return {
        "date": iso(end_us), "start": iso(start_us), "duration": (end_us - start_us) / 1_000_000,
        "host": draw(value), "prog": draw(st.sampled_from(["globus-gridftp-server", ""]) | value),
        "nl_evnt": draw(st.just("FTP_INFO") | value), "user": draw(value),
        "file": draw(_ascii_file if kind == "ascii" else _file),
        "buffer": draw(count), "block": draw(count), "nbytes": draw(int64), "volume": draw(value),
        "streams": draw(count), "stripes": draw(count), "dest": draw(value),
        "type": draw(st.sampled_from(TYPES) | value.filter(bool)), "code": draw(st.sampled_from([226, 426, 451, 500]) | int64),
        "taskid": draw(st.none() | st.just("none") | st.uuids().map(str) | last_value),
        "retrans": draw(st.none() | st.lists(count, max_size=8)),
        "usec_unpadded": unpadded,
        "extra": draw(st.dictionaries(_key, last_value, max_size=3)) if kind != "ascii" or draw(st.booleans()) else {},
        "pid": draw(st.integers(0, 2**31)) if main_log else None,
        "log_time": ctime(logged) if main_log else None,
    }


def usual_reads(data: dict[str, Any]) -> bool:
    """Whether `gridftp_fields.usual` must read the record text of `data` (written without the
    main-log header): ASCII, values but FILE without spaces, tabs or a `]` in DEST, 6-digit
    microseconds, integers of 18 digits at most without a sign, no unknown keys."""
    words = [data[key] for key in ("host", "prog", "nl_evnt", "user", "volume", "dest", "type")]
    numbers = [data[key] for key in ("buffer", "block", "nbytes", "streams", "stripes", "code")]
    return (all(word.isascii() and word.isprintable() and " " not in word for word in words)
            and data["file"].isascii() and "]" not in data["dest"] and not data["usec_unpadded"]
            and (data["taskid"] is None or (data["taskid"].isascii() and data["taskid"].isprintable()
                                            and " " not in data["taskid"]))
            and all(0 <= n < 10**18 for n in numbers + (data["retrans"] or [])) and not data["extra"])


# --- gridftp-json (RAMSES) ------------------------------------------------------------------


def tenths(us: int) -> str:
    """`"<sec>.<tenths>"` as the fork writes it (`"%ld.%01ld"`, tv_usec / 100000)."""
    return f"{us // 1_000_000}.{us % 1_000_000 // 100_000}"


_tcp_info = st.fixed_dictionaries({
    "rcv_ssthresh": st.integers(0, 2**31), "rtt": st.integers(0, 10**6), "rttvar": st.integers(0, 10**6),
    "snd_ssthresh": st.integers(0, 2**31), "snd_cwnd": st.integers(0, 10**5), "advmss": st.integers(0, 9000),
    "reordering": st.integers(0, 300), "rcv_rtt": st.integers(0, 10**6), "rcv_space": st.integers(0, 2**31),
    "total_retrans": st.integers(0, 10**6),
})
_stream = st.builds(lambda stripe, stream, info: {"stripe": stripe, "stream": stream, "TCPinfo": info},
                    st.integers(0, 3), st.integers(0, 15), _tcp_info)
_cpu = st.fixed_dictionaries({"nr_CPU": st.integers(1, 64), "CPU": st.just("all"),
                              "%usr": st.floats(0, 100), "%sys": st.floats(0, 100), "%idle": st.floats(0, 100)})
_json_text = st.text(max_size=12)


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    """A RAMSES JSON event: mostly Transfer-End, with every optional field present or not."""
    end = draw(st.integers(0, 4 * 10**15))
    start = draw(st.integers(max(0, end - 10**10), end))
    event: dict[str, Any] = {
        "event_type": draw(st.sampled_from(["Transfer-End", "Transfer-End", "Perf-Marker", "Range-Marker"])),
        "transferID": draw(st.uuids().map(lambda u: u.hex) | st.integers(1, 2**22)),
        "start_timestamp": tenths(start),
        "end_timestamp": tenths(end),
        "prog": "globus-gridftp-server",
        "user": draw(_json_text), "file": draw(_json_text),
        "tcp_bufsize": draw(st.integers(0, 2**31)), "globus_blocksize": draw(st.integers(0, 2**31)),
        "nbytes": draw(st.integers(0, 2**50)), "nstreams": draw(st.integers(1, 16)),
        "dest": draw(st.ip_addresses().map(str)),
        "cmd_type": draw(st.sampled_from(["RETR", "STOR"])),
        "ret_code": 226,
        "host": " ".join(draw(st.lists(st.ip_addresses().map(str), min_size=1, max_size=3))) + " \n",
        "volume": draw(st.sampled_from(["/", "/data"])),
        "mpstat": draw(_cpu | st.lists(_cpu, max_size=3)),
        "iostat": {"Dev": "sda", "Blk_read/s": 1.5, "Blk_wrtn/s": 20.0},
        "getrusage": {"ru_utime": "1.200000", "ru_stime": "0.300000", "ru_maxrss": 10240, "ru_nivcsw": 12},
        "streams": draw(st.lists(_stream, max_size=4)),
    }
    for optional in draw(st.sets(st.sampled_from(["transferID", "streams", "mpstat", "ret_code", "volume"]))):
        del event[optional]
    return event


def transfer_end_data(event: dict[str, Any]) -> dict[str, Any]:
    """What parse() gives for a Transfer-End event drawn by events()."""
    def us(text: str) -> int:
        seconds, tenth = text.split(".")
        return int(seconds) * 1_000_000 + int(tenth) * 100_000

    streams: Optional[list[dict[str, Any]]] = event.get("streams")
    ips = event["host"].split()
    return {
        "date": iso(us(event["end_timestamp"])), "start": iso(us(event["start_timestamp"])),
        "duration": (us(event["end_timestamp"]) - us(event["start_timestamp"])) / 1_000_000,
        "host": ips[0], "host_ips": ips, "prog": event["prog"], "user": event["user"],
        "file": event["file"], "volume": event.get("volume"), "type": event["cmd_type"],
        "code": event.get("ret_code"), "buffer": event["tcp_bufsize"], "block": event["globus_blocksize"],
        "nbytes": event["nbytes"], "streams": event["nstreams"],
        "stripes": max([s["stripe"] + 1 for s in streams or []] + [1]),
        "retrans": None if streams is None else [s["TCPinfo"]["total_retrans"] for s in streams],
        "dest": event["dest"],
        "taskid": None if "transferID" not in event else str(event["transferID"]),
        "raw": event,
    }
