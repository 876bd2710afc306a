"""The fields of one GridFTP transfer record: `KEY=value` text read by its known key sequence.

`parsers.gridftp` cuts a unit down to the record text (from `DATE=`) and reads it in one of three
ways, each giving exactly what the next one would. `usual()` is the hot path for what servers
write: ASCII, values other than FILE without spaces, 6-digit microseconds, integers of 1-18 digits
without a sign, then TASKID and retrans at most. `typical()` also reads the old unpadded
microseconds, signed integers and unknown keys, and `careful()` reads any other text, naming the
field and byte offset of whatever it refuses. The hypothesis tests in
tests/parsers/test_gridftp.py hold all three to the same records: its writer draws records of
each kind (spaces outside FILE and 19-digit integers take the careful way).

Each value runs to the next key's ` KEY=` marker; FILE runs to the LAST ` BUFFER=`, so a path
holding ` BUFFER=` survives too. After CODE, `KEY=value` words are TASKID, retrans or unknown keys
(`extra`); a word without `=` continues the value before it. DATE and START are UTC
`YYYYmmddHHMMSS.uuuuuu`; a fraction of fewer than 6 digits comes from the old `.%d` writer and is
read as integer microseconds (`.2102` = 2102 µs), flagged `usec_unpadded`.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Optional

import orjson

from .record import ParseError, Parsed

MISSING = "missing"
#: (data key, the marker that starts the next value) before and after FILE.
_HEAD = (("date", " HOST="), ("host", " PROG="), ("prog", " NL.EVNT="), ("nl_evnt", " START="),
         ("start", " USER="), ("user", " FILE="))
_MIDDLE = (("buffer", " BLOCK="), ("block", " NBYTES="), ("nbytes", " VOLUME="),
           ("volume", " STREAMS="), ("streams", " STRIPES="), ("stripes", " DEST="),
           ("dest", " TYPE="), ("type", " CODE="))
_STRING_KEYS = ("host", "prog", "nl_evnt", "user", "file", "volume", "dest", "type", "taskid", "log_time")
_N = "(-?[0-9]{1,18})"  # an integer that fits 64 bits whatever its digits
_W = "([^ ]*)"  # a value without spaces: each such group can match in one way only, no backtracking
_HEAD_MATCH: Callable[[str, int, int], Optional[re.Match[str]]] = re.compile(
    rf"DATE=([0-9]{{12}})([0-5][0-9])\.([0-9]{{1,6}}) HOST={_W} PROG={_W} NL\.EVNT={_W} "
    rf"START=([0-9]{{12}})([0-5][0-9])\.([0-9]{{1,6}}) USER={_W}").fullmatch
_TAIL_MATCH: Callable[[str, int], Optional[re.Match[str]]] = re.compile(
    rf"BUFFER={_N} BLOCK={_N} NBYTES={_N} VOLUME={_W} STREAMS={_N} STRIPES={_N} DEST={_W} TYPE=([^ ]+) "
    rf"CODE={_N}(?: (.*))?").fullmatch
_COUNTS: Callable[[str], object] = re.compile(r"(?:-?[0-9]{1,18}(?:,-?[0-9]{1,18})*)?").fullmatch
_SHOWN = 40
_I64 = 2**63
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

#: "YYYYmmddHHMM" -> (epoch microseconds of that minute, "YYYY-mm-ddTHH:MM:"). A cache, not state:
#: records come in time order, so most share a minute with the one before, and the calendar
#: arithmetic is the slowest step of a record. Cleared when full, so it stays small.
_MINUTES: dict[str, tuple[int, str]] = {}
_MINUTES_MAX = 65536
_KEYS = ("date", "start", "duration", "host", "prog", "nl_evnt", "user", "file", "buffer", "block", "nbytes",
         "volume", "streams", "stripes", "dest", "type", "code", "taskid", "retrans", "usec_unpadded", "extra",
         "pid", "log_time")
_U = "(?:0|[1-9][0-9]{0,17}+)"  # a count orjson reads as int() does: no sign, no leading zero
#: The usual record, with the values a transfer's settings give (HOST PROG NL.EVNT, BUFFER BLOCK,
#: VOLUME .. CODE) as three groups of words, each checked once by `_SETTINGS` (see `_template`).
#: FILE is a word or, failing that, the fewest words that leave the rest of the record: it ends
#: at the last ` BUFFER=`, since no value after that marker holds a space. The other values are
#: possessive: each is read one way only, so a record that does not fit fails fast.
_USUAL: Callable[[str], Optional[re.Match[str]]] = re.compile(
    r"DATE=([0-9]{12})([0-5][0-9])\.([0-9]{6}) HOST=([^ ]*+ [^ ]*+ [^ ]*+) "
    r"START=([0-9]{12})([0-5][0-9])\.([0-9]{6}) USER=([^ ]*+) FILE=([^ ]*+|(?:[^ ]*+ )*?[^ ]*+) "
    r"BUFFER=([^ ]*+ [^ ]*+) NBYTES=([0-9]{1,18}+) VOLUME=([^ ]*+ [^ ]*+ [^ ]*+ [^ ]*+ [^ ]*+ [^ ]*+)"
    rf"(?: TASKID=([^ \t\r\n]*+)|)(?: retrans=((?:{_U}(?:,{_U})*+)?)|)(?: (.*)|)").fullmatch
_SETTINGS: Callable[[str], Optional[re.Match[str]]] = re.compile(
    r"([^ ]*+) PROG=([^ ]*+) NL\.EVNT=([^ ]*+) ([0-9]{1,18}+) BLOCK=([0-9]{1,18}+) ([^ ]*+) "
    r"STREAMS=([0-9]{1,18}+) STRIPES=([0-9]{1,18}+) DEST=\[?+([^ \]]*+)\]?+ TYPE=([^ ]++) "
    r"CODE=([0-9]{1,18}+)").fullmatch
#: (HOST.., BUFFER.., VOLUME.. groups) -> (copy of the data dict those values fill, TYPE). A cache
#: like _MINUTES: a server's transfers to one peer share their settings.
_TEMPLATES: dict[tuple[str, str, str], tuple[Callable[[], dict[str, Any]], str]] = {}
_TEMPLATES_MAX = 4096
_loads = orjson.loads
_new = tuple.__new__


def usual(s: str) -> Optional[Parsed]:
    """The record in `s` (a whole ASCII unit from `DATE=`, not 4095 bytes long) as parse() gives
    it, or None when `typical` or `careful` must read it.

    The hot path: one regex, the minutes and settings looked up, and the data dict a copy of the
    settings' template with the transfer's own values put in (so its keys keep their order).
    """
    m = _USUAL(s)
    if m is None:
        return None
    (date_minute, date_second, date_fraction, head, start_minute, start_second, start_fraction, user, file,
     sizes, nbytes, tail, taskid, retrans, rest) = m.groups()
    if rest is not None:
        return None
    settings = (head, sizes, tail)
    try:
        end_us, date_text = _MINUTES[date_minute]
        start_us, start_text = _MINUTES[start_minute]
        copy, kind = _TEMPLATES[settings]
    except KeyError:
        date = _MINUTES.get(date_minute) or _minute(date_minute)
        start = _MINUTES.get(start_minute) or _minute(start_minute)
        template = _TEMPLATES.get(settings) or _template(settings)
        if date is None or start is None or template is None:
            return None
        (end_us, date_text), (start_us, start_text), (copy, kind) = date, start, template
    end_us += int(date_second + date_fraction)  # "SSuuuuuu" is seconds * 10**6 + microseconds
    start_us += int(start_second + start_fraction)
    data = copy()
    data["date"] = f"{date_text}{date_second}.{date_fraction}Z"
    data["start"] = f"{start_text}{start_second}.{start_fraction}Z"
    data["duration"] = (end_us - start_us) / 1_000_000
    data["user"] = user
    data["file"] = file
    data["nbytes"] = int(nbytes)
    if taskid is not None:
        data["taskid"] = taskid
    if retrans is not None:
        data["retrans"] = _loads(f"[{retrans}]")
    data["extra"] = {}
    return _new(Parsed, (kind, end_us / 1_000_000, data))  # Parsed(...) without its Python __new__


def _template(settings: tuple[str, str, str]) -> Optional[tuple[Callable[[], dict[str, Any]], str]]:
    m = _SETTINGS(" ".join(settings))
    if m is None:
        return None
    host, prog, nl_evnt, buffer, block, volume, streams, stripes, dest, kind, code = m.groups()
    data = dict.fromkeys(_KEYS)
    data.update(host=host, prog=prog, nl_evnt=nl_evnt, buffer=int(buffer), block=int(block), volume=volume,
                streams=int(streams), stripes=int(stripes), dest=dest, type=kind, code=int(code),
                usec_unpadded=False)
    if len(_TEMPLATES) >= _TEMPLATES_MAX:
        _TEMPLATES.clear()
    entry = _TEMPLATES[settings] = (data.copy, kind)
    return entry


def typical(s: str) -> Optional[tuple[dict[str, Any], float]]:
    """The record in `s` (text from `DATE=`), or None when `careful` must decide.

    For what `usual` declines: FILE is cut out first (from the first ` FILE=` to the last
    ` BUFFER=`), and the values before and after it must hold no spaces, as nearly all do. Each
    regex group is then `[^ ]*` or digits between fixed markers, which match in one way only.
    It must give exactly what `careful` gives, so it declines whatever `careful` reads otherwise.
    """
    file_at = s.find(" FILE=")
    buffer_at = s.rfind(" BUFFER=")
    if file_at < 0 or buffer_at < file_at + 6:
        return None
    head = _HEAD_MATCH(s, 0, file_at)
    rest = _TAIL_MATCH(s, buffer_at + 1)
    if head is None or rest is None:
        return None
    file = s[file_at + 6:buffer_at]
    date_minute, date_second, date_fraction, host, prog, nl_evnt, start_minute, start_second, start_fraction, user = head.groups()
    buffer, block, nbytes, volume, streams, stripes, dest, kind, code, tail = rest.groups()
    date = _MINUTES.get(date_minute) or _minute(date_minute)
    start = _MINUTES.get(start_minute) or _minute(start_minute)
    if date is None or start is None:
        return None
    unpadded = len(date_fraction) < 6 or len(start_fraction) < 6
    if unpadded:
        end_us = date[0] + int(date_second) * 1_000_000 + int(date_fraction)
        start_us = start[0] + int(start_second) * 1_000_000 + int(start_fraction)
        date_text = f"{date[1]}{date_second}.{int(date_fraction):06d}Z"
        start_text = f"{start[1]}{start_second}.{int(start_fraction):06d}Z"
    else:  # "SSuuuuuu" read as one integer is seconds * 10**6 + microseconds
        end_us = date[0] + int(date_second + date_fraction)
        start_us = start[0] + int(start_second + start_fraction)
        date_text = f"{date[1]}{date_second}.{date_fraction}Z"
        start_text = f"{start[1]}{start_second}.{start_fraction}Z"
    taskid = retrans_text = None
    retrans: Optional[list[int]] = None
    extra: dict[str, str] = {}
    if tail is not None:
        lead, taskid, retrans_text, extra = _tail(tail)
        if lead is not None:
            return None
        if retrans_text is not None:
            if not _COUNTS(retrans_text):
                return None
            retrans = list(map(int, retrans_text.split(","))) if retrans_text else []
    if dest[:1] == "[":
        dest = dest[1:]
    if dest[-1:] == "]":
        dest = dest[:-1]
    data = {
        "date": date_text, "start": start_text,
        "duration": (end_us - start_us) / 1_000_000,
        "host": host, "prog": prog, "nl_evnt": nl_evnt, "user": user, "file": file,
        "buffer": int(buffer), "block": int(block), "nbytes": int(nbytes), "volume": volume,
        "streams": int(streams), "stripes": int(stripes), "dest": dest, "type": kind, "code": int(code),
        "taskid": taskid, "retrans": retrans, "usec_unpadded": unpadded, "extra": extra,
    }
    return data, end_us / 1_000_000


def careful(s: str, base: Optional[int], at: int) -> tuple[dict[str, Any], float]:
    """The record in `s` (text from `DATE=`) as the `data` dict, and its end time (Parsed.time).

    `base` is the byte offset of `s` in the unit when `s` is ASCII, so that an index is an offset;
    None when it is not, and `at` is then where `s` starts (see `_offset`).
    """
    starts = [5]
    i = 5
    for name, marker in _HEAD:
        j = s.find(marker, i)
        if j < 0:
            raise ParseError(f"{MISSING}: no{marker[:-1]}= after {name.upper()}",
                             field=marker[1:-1].lower().replace(".", "_"), offset=_offset(s, base, at, len(s)))
        i = j + len(marker)
        starts.append(j)
        starts.append(i)
    j = s.rfind(" BUFFER=", i)
    if j < 0:
        raise ParseError(f"{MISSING}: no BUFFER= after FILE", field="buffer", offset=_offset(s, base, at, len(s)))
    i = j + 8
    starts.append(j)
    starts.append(i)
    for name, marker in _MIDDLE:
        j = s.find(marker, i)
        if j < 0:
            raise ParseError(f"{MISSING}: no{marker[:-1]}= after {name.upper()}",
                             field=marker[1:-1].lower(), offset=_offset(s, base, at, len(s)))
        i = j + len(marker)
        starts.append(j)
        starts.append(i)
    space = s.find(" ", i)
    starts.append(len(s) if space < 0 else space)
    # starts: value start, value end, value start, ... for the 16 values DATE .. CODE
    (date, host, prog, nl_evnt, start, user, file, buffer, block, nbytes, volume, streams,
     stripes, dest, kind, code) = [s[starts[k]:starts[k + 1]] for k in range(0, 32, 2)]
    taskid: Optional[str] = None
    retrans: Optional[str] = None
    extra: dict[str, str] = {}
    if space >= 0:
        lead, taskid, retrans, extra = _tail(s[space + 1:])
        if lead is not None:
            code = f"{code} {lead}"

    end_us, date_iso, date_short = _stamp(date, "date", s, base, at, 5)
    start_us, start_iso, start_short = _stamp(start, "start", s, base, at, starts[8])
    if not kind:
        raise ParseError("TYPE is empty", field="type", offset=_offset(s, base, at, starts[28]))
    if dest[:1] == "[":
        dest = dest[1:]
    if dest[-1:] == "]":
        dest = dest[:-1]
    ints = []
    for value, name, k in zip((buffer, block, nbytes, streams, stripes, code),
                              ("buffer", "block", "nbytes", "streams", "stripes", "code"), (14, 16, 18, 22, 24, 30)):
        number = _integer(value)
        if number is None:
            raise _not_integer(value, name, _offset(s, base, at, starts[k]))
        ints.append(number)
    counts = None if retrans is None else _retrans(retrans)
    if retrans is not None and counts is None:
        raise _not_integer(retrans, "retrans", _offset(s, base, at, s.rfind("retrans=") + 8))
    data = {
        "date": date_iso, "start": start_iso, "duration": (end_us - start_us) / 1_000_000,
        "host": host, "prog": prog, "nl_evnt": nl_evnt, "user": user, "file": file,
        "buffer": ints[0], "block": ints[1], "nbytes": ints[2], "volume": volume,
        "streams": ints[3], "stripes": ints[4], "dest": dest, "type": kind, "code": ints[5],
        "taskid": taskid,
        "retrans": counts,
        "usec_unpadded": date_short or start_short, "extra": extra,
    }
    return data, end_us / 1_000_000


def _offset(s: str, base: Optional[int], at: int, index: int) -> int:
    """The byte offset in the unit of index `index` of `s`: UTF-8 text is re-encoded to count."""
    if base is not None:
        return base + index
    return at + len(s[:index].encode("utf-8", "surrogateescape"))


def _tail(tail: str) -> tuple[Optional[str], Optional[str], Optional[str], dict[str, str]]:
    """(lead, taskid, retrans text, extra) from the words after CODE's value.

    A word holding `=` after its first character starts a key; any other word continues the
    value before it (values may hold spaces). Words before the first key are returned as `lead`
    (None when there are none): they would continue CODE, which then is not an integer.
    """
    pairs: list[list[str]] = []
    lead: Optional[str] = None
    for word in tail.split(" "):
        eq = word.find("=")
        if eq > 0:
            pairs.append([word[:eq], word[eq + 1:]])
        elif pairs:
            pairs[-1][1] += " " + word
        else:
            lead = word if lead is None else f"{lead} {word}"
    taskid = retrans = None
    extra: dict[str, str] = {}
    for key, value in pairs:
        if key == "TASKID":
            taskid = value
        elif key == "retrans":
            retrans = value
        else:
            extra[key] = value
    return lead, taskid, retrans, extra


def _stamp(v: str, field: str, s: str, base: Optional[int], at: int, index: int) -> tuple[int, str, bool]:
    """(epoch microseconds, ISO 8601 UTC text, fraction unpadded) of `YYYYmmddHHMMSS.u+`."""
    n = len(v)
    if 16 <= n <= 21 and v[14] == "." and v.isascii():
        second, fraction = v[12:14], v[15:]
        if second.isdigit() and fraction.isdigit() and second < "60":
            minute = _MINUTES.get(v[:12]) or _minute(v[:12])
            if minute is not None:
                usec = int(fraction)
                us = minute[0] + int(second) * 1_000_000 + usec
                if n == 21:
                    return us, f"{minute[1]}{second}.{fraction}Z", False
                return us, f"{minute[1]}{second}.{usec:06d}Z", True
    raise ParseError(f"expected a UTC time YYYYmmddHHMMSS.microseconds, got {_shown(v)}",
                     field=field, offset=_offset(s, base, at, index))


def _minute(text: str) -> Optional[tuple[int, str]]:
    if not text.isdigit():
        return None
    try:
        moment = datetime(int(text[:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]),
                          int(text[10:12]), tzinfo=timezone.utc)
    except ValueError:
        return None
    if len(_MINUTES) >= _MINUTES_MAX:
        _MINUTES.clear()
    entry = _MINUTES[text] = (int(moment.timestamp()) * 1_000_000,
                              f"{text[:4]}-{text[4:6]}-{text[6:8]}T{text[8:10]}:{text[10:12]}:")
    return entry


def _integer(v: str) -> Optional[int]:
    """A signed decimal integer in the 64-bit range (so that the record encodes as JSON), or None."""
    digits = v[1:] if v[:1] == "-" else v
    if digits.isdigit() and digits.isascii() and -_I64 <= (number := int(v)) < _I64:
        return number
    return None


def _not_integer(v: str, field: str, offset: int) -> ParseError:
    return ParseError(f"expected a 64-bit integer, got {_shown(v)}", field=field, offset=offset)


def _retrans(v: str) -> Optional[list[int]]:
    """Per-stream retransmit counts, `36,17,27` (an empty value is an empty list), or None."""
    counts = [_integer(count) for count in v.split(",")] if v else []
    return None if None in counts else counts  # type: ignore[return-value]


def iso_utc(us: int) -> Optional[str]:
    """`YYYY-mm-ddTHH:MM:SS.uuuuuuZ` of epoch microseconds `us`, or None outside years 1-9999."""
    try:
        t = _EPOCH + timedelta(microseconds=us)
    except OverflowError:
        return None
    return (f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
            f".{t.microsecond:06d}Z")


def last_field(data: dict[str, Any]) -> str:
    """The key of the last value of a record: the one a cut at the buffer's end may have shortened."""
    if data["retrans"] is not None:
        return "retrans"
    if data["extra"]:
        key: str = list(data["extra"])[-1]
        return key
    return "taskid" if data["taskid"] is not None else "code"


def replace_bad_utf8(data: dict[str, Any]) -> None:
    """Bytes that were not UTF-8 (kept as surrogates while parsing) become U+FFFD: JSON cannot
    carry the raw bytes, and a stray byte in a path must not cost the transfer's record."""
    def fix(text: str) -> str:
        return text if text.isascii() else text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")

    for key in _STRING_KEYS:
        if isinstance(data[key], str):
            data[key] = fix(data[key])
    data["extra"] = {fix(k): fix(v) for k, v in data["extra"].items()}


def _shown(value: str) -> str:
    return repr(value if len(value) <= _SHOWN else value[:_SHOWN] + "...")
