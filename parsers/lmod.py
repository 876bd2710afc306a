"""The `lmod` format: Lmod module-usage tracking lines, alone or in a shared syslog file.

Lmod's tracking hook (TACC/Lmod docs "Tracking Module Usage", pitt-crc/lmod_tracking's README)
logs one line per module load through syslog, tag `ModuleUsageTracking` (`[pid]` after it when
luaposix's openlog is used), message `key=value` pairs (research/lmod.md §1.1-§1.3):

    Apr 27 03:22:57 node1 ModuleUsageTracking: user=usr123 module=gcc/5.4.0 path=/modules/gcc/5.4.0.lua host=node1.domain.com time=1682580177.622180

The line is anchored on the tag, not read by position as lmod_tracking does (§2.2): before it an
RFC 3164 prefix (`Apr 27 03:22:57 node1`, `<pri>` allowed), an ISO-8601 one (`2023-04-27T03:22:57
.123+00:00 node1`, rsyslog's high-precision file format), a proper RFC 5424 header (`<14>1 TIME HOST
ModuleUsageTracking PROCID MSGID SD MSG`) or nothing. Keys come in any order; a value is a double-
quoted string (`\\"` and `\\\\` unescaped, other backslashes kept) or runs, spaces and `=` included,
to the next ` key=` (key: `[A-Za-z_][A-Za-z0-9_]*`) or the end. Required: user, module, path,
host, time (user, module and host non-empty); jobid is optional and `nil` or empty gives None;
unknown keys land in `extra` as text. A key given twice is refused rather than guessed.

TACC's `contrib/more_hooks` writes another shape, tag `lmod`: `username=%s, jobid=%s,
userload=yes, module=%s, fn=%s` (pairs separated by `, `). Its load lines (`module=` or
`userload=`, no `error=`) are records with variant `tacc_csv`: user from username, path from fn,
host from the syslog prefix (the message has none), userload and other keys in `extra`. The
message has no time either, so the load's time is the syslog stamp's when that names an instant:
ISO-8601 with a zone (`Z`, `+01:00`, `-0500`), as rsyslog's RSYSLOG_FileFormat and RFC 5424 write
it. An RFC 3164 stamp has no year and no zone, and a zoneless ISO stamp is in some unknown local
time: time is then None (a pure parser cannot guess the year), and a sink that needs a time says
so. Its startup and error messages, and `lmod`-tagged lines not starting with `username=`, give
None.

`Parsed.type` is `module_load`, `Parsed.time` the `time=` value (epoch seconds, UTC, microseconds)
and never the syslog prefix's (a TACC line, which has no `time=`, aside), which is kept as written in
`syslog_time` / `syslog_host`.
`package` and `version` follow lmod_tracking (§2.2): the module split at its first `/`, version
None without a slash (`a/b/c` -> `a`, `b/c`; `gcc/` -> `gcc`, ``). Lines without the tag, and
lines where the tag sits inside another program's message (a prefix word ending in `:`), give
None: a shared syslog file is skipped quietly. Invalid UTF-8 becomes U+FFFD; offsets in
`ParseError` are bytes of the raw line.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Optional

from .record import ParseError, Parsed

NAME = "lmod"
TYPE = "module_load"
TAG = "ModuleUsageTracking"
TACC_TAG = "lmod"
KEY_VALUE, TACC_CSV = "key_value", "tacc_csv"
#: The keys each variant reads into named fields (key -> field); any other key goes to `extra`.
FIELD_OF = {KEY_VALUE: {key: key for key in ("user", "jobid", "module", "path", "host", "time")},
            TACC_CSV: {"username": "user", "jobid": "jobid", "module": "module", "fn": "path"}}
#: Epoch seconds of 0001-01-01 and 10000-01-01: a time outside cannot be a timestamp.
FIRST_TIME, END_TIME = -62135596800.0, 253402300800.0
MAX_PID = 2**31 - 1
_SHOWN = 40

_KEY = r"[A-Za-z_][A-Za-z0-9_]*"


def _pairs_pattern(sep: str) -> "re.Pattern[str]":
    """key=value with `sep` before the next key: a quoted value (group 2) only when the quote
    closes right before a separator or the end, otherwise the plain text (group 3) up to the next
    `sep key=`."""
    ahead = rf"(?={sep}{_KEY}=|\Z)"
    return re.compile(rf'({_KEY})=(?:"((?:[^"\\]|\\.)*)"{ahead}|(.*?){ahead})(?:{sep})?', re.S)


_PAIRS = {KEY_VALUE: _pairs_pattern(" +"), TACC_CSV: _pairs_pattern(", +")}
_UNESCAPE: Callable[..., str] = re.compile(r'\\(["\\])').sub
_TAG_AT: Callable[[str], Optional["re.Match[str]"]] = re.compile(
    rf"(?:^| )(?:({TAG})(?:\[([^\]]*)\])?(?::(?: +|\Z)| +|\Z)|({TACC_TAG})(?:\[([^\]]*)\])?:(?: +|\Z))").search
_RFC5424: Callable[[str], Optional["re.Match[str]"]] = re.compile(
    rf"<[0-9]{{1,3}}>1 (\S+) (\S+) ({TAG}|{TACC_TAG}) (\S+) \S+ (?:-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: \ufeff?|\Z)",
    re.S).match
_TIME_3164 = r"[A-Z][a-z]{2} {1,2}[0-9]{1,2} [0-9]{2}:[0-9]{2}:[0-9]{2}"
_TIME_ISO = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?"
_PREFIX: Callable[[str], Optional["re.Match[str]"]] = re.compile(
    rf"(?:<[0-9]{{1,3}}>)?({_TIME_3164}|{_TIME_ISO})(?: +(.+))?\Z", re.S).match
_ZONED: Callable[[str], Optional["re.Match[str]"]] = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?(Z|[+-][0-9]{2}:?[0-9]{2})").fullmatch
_NUMBER: Callable[[str], object] = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?").fullmatch
#: The usual line as Lmod's hook and rsyslog write it: RFC 3164 or ISO prefix, the keys in the hook's
#: order (jobid optional), plain values without spaces, 11 integer digits of time at most. The hot
#: path reads it with one match; anything else is careful()'s.
_USUAL: Callable[[str], Optional["re.Match[str]"]] = re.compile(
    rf"(?:<[0-9]{{1,3}}>)?({_TIME_3164}|{_TIME_ISO}) ([^ :\[\]]+) {TAG}(?:\[([0-9]{{1,9}})\])?: user=([^ \"][^ ]*)(?: jobid=((?:[^ \"][^ ]*)?))?"
    r' module=([^ "][^ ]*) path=((?:[^ "][^ ]*)?) host=([^ "][^ ]*) time=([0-9]{1,11}(?:\.[0-9]{0,9})?)', re.S).fullmatch


def parse(raw: bytes) -> Optional[Parsed]:
    """Parse one line (with or without its line ending) into a `module_load` record.

    Returns None for a line that is not an Lmod tracking line; raises `ParseError(reason, field,
    offset)` for a tracking line whose keys are missing or malformed, with the byte offset in `raw`.
    """
    if b"ModuleUsageTracking" not in raw and b"lmod" not in raw:
        return None
    try:
        head = _USUAL(raw.decode("ascii").rstrip(" \t\r\n"))
    except UnicodeDecodeError:
        head = None
    if head is not None:
        syslog_time, syslog_host, pid, user, jobid, module, path, host, stamp = head.groups()
        if syslog_host != TAG:
            time = float(stamp)
            package, slash, version = module.partition("/")
            return Parsed(TYPE, time, {
                "user": user, "module": module, "package": package, "version": version if slash else None,
                "path": path, "host": host, "time": time, "jobid": None if jobid == "nil" or not jobid else jobid,
                "syslog_host": syslog_host, "syslog_time": syslog_time,
                "pid": None if pid is None else int(pid), "variant": KEY_VALUE, "extra": {}})
    return careful(raw)


def careful(raw: bytes) -> Optional[Parsed]:
    """parse() of any line: every prefix, quoted values, unknown keys, UTF-8, errors located."""
    text = raw.decode("utf-8", "surrogateescape").rstrip(" \t\r\n")
    header = _header(text, raw)
    if header is None:
        return None
    tag, at, pid, syslog_time, syslog_host = header
    variant = TACC_CSV if tag == TACC_TAG else KEY_VALUE
    if variant == TACC_CSV and not text.startswith("username=", at):
        return None
    pairs = _pairs(text, at, raw, variant)
    if variant == TACC_CSV:
        keys = {key for key, _, _ in pairs}
        if "error" in keys or not ("module" in keys or "userload" in keys):
            return None  # the hook's startup (cmd=, args=) and error messages are not loads
    data = _record(pairs, variant, syslog_host, syslog_time, pid, raw, text)
    if not raw.isascii():
        _replace_bad_utf8(data)
    return Parsed(TYPE, data["time"], data)


def _header(text: str, raw: bytes) -> Optional[tuple[str, int, Optional[int], Optional[str], Optional[str]]]:
    """(tag, where the message starts, pid, syslog_time, syslog_host), or None if `text` is not
    a tracking line: no tag at a word's start, or one inside another program's message."""
    proper = _RFC5424(text) if text[:1] == "<" else None
    if proper is not None:
        stamp, host, tag, procid = proper.group(1, 2, 3, 4)
        pid = None if procid == "-" else _pid(procid, raw, text, proper.start(4))
        return tag, proper.end(), pid, None if stamp == "-" else stamp, None if host == "-" else host
    found = _TAG_AT(text)
    if found is None:
        return None
    prefix = text[:found.start()].strip(" ")
    words = prefix.split()
    if any(word.endswith(":") for word in words):
        return None
    tag_at, pid_text = (3, 4) if found.group(3) else (1, 2)
    pid = None if found.group(pid_text) is None else _pid(found.group(pid_text), raw, text, found.start(pid_text))
    shape = _PREFIX(prefix)
    if shape is not None:
        syslog_time, syslog_host = shape.group(1, 2)
    elif words:  # a template of its own: the word before the tag is the host, as in every one
        syslog_host = words[-1]
        syslog_time = prefix[:prefix.rindex(syslog_host)].strip(" ") or None
    else:
        syslog_time = syslog_host = None
    return found.group(tag_at), found.end(), pid, syslog_time, syslog_host


def _pid(value: str, raw: bytes, text: str, at: int) -> int:
    if value.isascii() and value.isdigit() and len(value) <= 10 and int(value) <= MAX_PID:
        return int(value)
    raise ParseError(f"expected a process id, got {_shown(value)}", field="pid", offset=_byte(raw, text, at))


def _pairs(text: str, at: int, raw: bytes, variant: str) -> list[tuple[str, str, int]]:
    """(key, value, offset of the value in `text`) of each pair of the message at `at`."""
    pairs: list[tuple[str, str, int]] = []
    pos, size = at, len(text)
    match = _PAIRS[variant].match
    while pos < size:
        found = match(text, pos)
        if found is None:
            raise ParseError(f"expected key=value, got {_shown(text[pos:])}", field="user",
                             offset=_byte(raw, text, pos))
        key, quoted, plain = found.groups()
        pairs.append((key, plain if quoted is None else _UNESCAPE(r"\1", quoted), found.end(1) + 1))
        pos = found.end()
    return pairs


def _record(pairs: list[tuple[str, str, int]], variant: str, syslog_host: Optional[str],
            syslog_time: Optional[str], pid: Optional[int], raw: bytes, text: str) -> dict[str, Any]:
    """The `data` dict of a line's pairs, each named field checked."""
    known = FIELD_OF[variant]
    fields: dict[str, tuple[str, int]] = {}
    extra: dict[str, str] = {}
    for key, value, offset in pairs:
        if key in fields or key in extra:
            raise ParseError(f"{key}= given twice", field=known.get(key, "extra"), offset=_byte(raw, text, offset))
        if key in known:
            fields[known[key]] = (value, offset)
        else:
            extra[key] = value

    def value_of(field: str, empty_ok: bool = False) -> str:
        if field not in fields:
            key = next(key for key, name in known.items() if name == field)
            raise ParseError(f"missing: no {key}=", field=field, offset=_byte(raw, text, len(text)))
        value, offset = fields[field]
        if not value and not empty_ok:
            raise ParseError(f"{field} is empty", field=field, offset=_byte(raw, text, offset))
        return value

    user, module, path = value_of("user"), value_of("module"), value_of("path", empty_ok=True)
    time: Optional[float] = None
    if variant == KEY_VALUE:
        host = value_of("host")
        time = _time(value_of("time"), raw, text, fields["time"][1])
    elif syslog_host is None:
        raise ParseError("missing: a TACC line has no host= and its syslog prefix gives none",
                         field="host", offset=0)
    else:
        host = syslog_host
        time = stamp_time(syslog_time)
    jobid = fields["jobid"][0] if "jobid" in fields else None
    package, slash, version = module.partition("/")
    return {"user": user, "module": module, "package": package, "version": version if slash else None,
            "path": path, "host": host, "time": time, "jobid": None if jobid == "nil" or not jobid else jobid,
            "syslog_host": syslog_host, "syslog_time": syslog_time, "pid": pid, "variant": variant,
            "extra": extra}


def stamp_time(stamp: Optional[str]) -> Optional[float]:
    """Epoch seconds of an ISO-8601 syslog stamp with a zone; None for any other stamp (see the
    module doc). The fraction is kept as written: `.5` is half a second, `.123456789` rounds."""
    found = _ZONED(stamp) if stamp else None
    if found is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = found.groups()
    if zone == "Z":
        offset = 0
    else:
        offset = (int(zone[1:3]) * 60 + int(zone[-2:])) * (-1 if zone[0] == "-" else 1)
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                          tzinfo=timezone(timedelta(minutes=offset)))
        return float(f"{int(moment.timestamp())}{fraction or ''}")
    except (ValueError, OverflowError):  # no such day or hour, an offset of a day or more
        return None


def _time(value: str, raw: bytes, text: str, offset: int) -> float:
    if _NUMBER(value):
        time = float(value)
        if FIRST_TIME <= time < END_TIME:
            return time
    raise ParseError(f"expected epoch seconds, got {_shown(value)}", field="time", offset=_byte(raw, text, offset))


def _byte(raw: bytes, text: str, at: int) -> int:
    """The byte offset in `raw` of character `at` of `text` (raw decoded with surrogateescape)."""
    return at if raw.isascii() else len(text[:at].encode("utf-8", "surrogateescape"))


def _replace_bad_utf8(data: dict[str, Any]) -> None:
    """Invalid UTF-8 (kept as surrogates to count offsets) becomes U+FFFD, which JSON can carry."""
    def fix(value: str) -> str:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")

    for key, value in data.items():
        if isinstance(value, str):
            data[key] = fix(value)
    data["extra"] = {fix(key): fix(value) for key, value in data["extra"].items()}


def _shown(value: str) -> str:
    return repr(value if len(value) <= _SHOWN else value[:_SHOWN] + "...")
