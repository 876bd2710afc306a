"""An Lmod tracking-line writer and hypothesis strategies for lines it can write.

`write(data, how)` formats an `lmod` data dict the way Lmod's hook and a syslog daemon do: the
prefix (RFC 3164 with the day padded or not, ISO-8601, a proper RFC 5424 header, or none, `<pri>`
or not), the tag with or without `[pid]`, then the pairs in the order `how` gives, each value
plain or double-quoted (`\\` and `"` escaped, as Lua's %q does). A value is quoted whenever plain
text would not come back: it starts with `"`, holds ` key=` (`, key=` for TACC's comma lines) or
ends in whitespace. `lines()` draws (data, line) pairs that must parse back to data: values with
spaces, `=`, quotes, backslashes and non-ASCII text, jobid absent, `nil` or empty, unknown keys,
both variants. `usual()` writes what the hook and rsyslog write, for the speed measure.
What the format cannot carry is left out: no line break in a value, no value ending in whitespace
written plain, no syslog host that is the tag itself or ends with `:`.
"""
from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple, Optional

from hypothesis import strategies as st

from parsers.lmod import FIELD_OF, KEY_VALUE, TACC_CSV, TAG

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
PREFIXES = ("rfc3164", "rfc3164-pri", "iso", "rfc5424", "none")
_PLAIN_UNSAFE = {KEY_VALUE: re.compile(r" [A-Za-z_][A-Za-z0-9_]*="),
                 TACC_CSV: re.compile(r", +[A-Za-z_][A-Za-z0-9_]*=")}
_SEP = {KEY_VALUE: " ", TACC_CSV: ", "}


class How(NamedTuple):
    """How a record is written: prefix style, the message's keys in order, the keys whose value
    is quoted even when plain text would do, and how a None jobid is spelt (None: left out)."""

    prefix: str
    order: tuple[str, ...]
    quoted: frozenset[str] = frozenset()
    no_jobid: Optional[str] = None


def record(user: str, module: str, path: str, host: str, time: Optional[float], jobid: Optional[str] = None,
           syslog_host: Optional[str] = None, syslog_time: Optional[str] = None, pid: Optional[int] = None,
           variant: str = KEY_VALUE, extra: Optional[dict[str, str]] = None) -> dict[str, Any]:
    """The data dict parse() gives, keys in its order (package/version split as lmod_tracking does)."""
    package, slash, version = module.partition("/")
    return {"user": user, "module": module, "package": package, "version": version if slash else None,
            "path": path, "host": host, "time": time, "jobid": jobid, "syslog_host": syslog_host,
            "syslog_time": syslog_time, "pid": pid, "variant": variant, "extra": dict(extra or {})}


def value(text: str, variant: str, quote: bool = False) -> str:
    """`text` as written after `key=`: plain when it comes back as it is, else quoted."""
    if quote or text[:1] == '"' or text != text.rstrip(" \t\r") or _PLAIN_UNSAFE[variant].search(text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def write(data: dict[str, Any], how: How, time_text: Optional[str] = None) -> bytes:
    """One line (without its newline) holding `data`; `time_text` spells the time (Lmod's %f by default)."""
    variant = data["variant"]
    names = {field: key for key, field in FIELD_OF[variant].items()}
    values: dict[str, str] = {names["user"]: data["user"], names["module"]: data["module"],
                              names["path"]: data["path"], **data["extra"]}
    if variant == KEY_VALUE:
        values["host"] = data["host"]
        values["time"] = time_text if time_text is not None else f"{data['time']:.6f}"
    if data["jobid"] is not None or how.no_jobid is not None:
        values["jobid"] = data["jobid"] if data["jobid"] is not None else str(how.no_jobid)
    assert sorted(how.order) == sorted(values), (how.order, values)
    message = _SEP[variant].join(f"{key}={value(values[key], variant, key in how.quoted)}" for key in how.order)
    tag = TAG if variant == KEY_VALUE else "lmod"
    return (_header(data, how.prefix, tag) + message).encode()


def _header(data: dict[str, Any], prefix: str, tag: str) -> str:
    pid, stamp, host = data["pid"], data["syslog_time"], data["syslog_host"]
    if prefix == "rfc5424":
        procid = "-" if pid is None else str(pid)
        return f"<14>1 {stamp or '-'} {host or '-'} {tag} {procid} - - "
    tagged = f"{tag}[{pid}]: " if pid is not None else f"{tag}: "
    if prefix == "none":
        return tagged
    return f"{'<13>' if prefix == 'rfc3164-pri' else ''}{stamp} {host} {tagged}"


def rfc3164(t: datetime, padded: bool) -> str:
    """`Apr  1 03:20:34` (rsyslog) or `Apr 1 03:20:34` (lmod_tracking's sample)."""
    day = f"{t.day:2d}" if padded else str(t.day)
    return f"{MONTHS[t.month - 1]} {day} {t:%H:%M:%S}"


def instant(t: datetime, fraction: str, zone: str) -> float:
    """Epoch seconds of the stamp iso(t, fraction, zone) writes, zone given: the time a TACC line takes."""
    sign = -1 if zone.startswith("-") else 1
    offset = 0 if zone == "Z" else sign * (int(zone[1:3]) * 3600 + int(zone[-2:]) * 60)
    return float(f"{calendar.timegm(t.timetuple()) - offset}{fraction}")


def iso(t: datetime, fraction: str, zone: str) -> str:
    return f"{t:%Y-%m-%dT%H:%M:%S}{fraction}{zone}"


_text = st.text(st.characters(codec="utf-8", exclude_characters="\n\r"), max_size=12)
_FRAGMENTS = [" ", "=", '"', "\\", ", ", " x=1", ", y=2", "nil", "/", "é", "\t", "  ", 'a"b']
_value = st.one_of(_text, st.lists(st.one_of(st.sampled_from(_FRAGMENTS), _text), max_size=5).map("".join))
_word = st.from_regex(r"[A-Za-z0-9._/+-]{1,16}", fullmatch=True)
_module = st.one_of(_word, st.builds("{}/{}".format, _word, _word), _value.filter(bool))
_hostname = st.from_regex(r"[a-z0-9][a-z0-9.-]{0,20}", fullmatch=True)
_key = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
_times = st.datetimes(datetime(1970, 1, 1), datetime(2100, 1, 1))
_FIRST, _LAST = -62135596800 * 10**6, 253402300798 * 10**6  # a float near the end rounds up


@st.composite
def time_text(draw: st.DrawFn) -> str:
    """`time=` as Lmod writes it (%f: six decimals), or as another writer might."""
    us = draw(st.one_of(st.integers(0, 4102444800 * 10**6), st.integers(_FIRST, _LAST)))
    sign = "-" if us < 0 else ""
    whole, frac = divmod(abs(us), 10**6)
    kind = draw(st.sampled_from(["lmod", "integer", "short", "exponent"]))
    if kind == "integer":
        return f"{sign}{whole}"
    if kind == "short":
        return f"{sign}{whole}.{frac:06d}".rstrip("0")
    if kind == "exponent":
        return f"{sign}{whole}.{frac:06d}e0"
    return f"{sign}{whole}.{frac:06d}"


@st.composite
def lines(draw: st.DrawFn, variants: tuple[str, ...] = (KEY_VALUE, TACC_CSV)) -> tuple[dict[str, Any], bytes]:
    """(data, line): a record and the line write() makes of it, which parse() must read back."""
    variant = draw(st.sampled_from(variants))
    prefix = draw(st.sampled_from(PREFIXES[:4] if variant == TACC_CSV else PREFIXES))
    t = draw(_times)
    if prefix.startswith("rfc3164"):
        stamp: Optional[str] = rfc3164(t, draw(st.booleans()))
    elif prefix == "none":
        stamp = None
    else:
        fraction, zone = draw(st.sampled_from(["", ".123", ".123456"])), draw(st.sampled_from(["", "Z", "+00:00", "-0500"]))
        stamp = iso(t, fraction, zone)
        if prefix == "rfc5424" and variant == KEY_VALUE and draw(st.booleans()):
            stamp = None
    syslog_host = None if prefix == "none" else draw(_hostname)
    if prefix == "rfc5424" and variant == KEY_VALUE and draw(st.booleans()):
        syslog_host = None
    pid = draw(st.none() | st.integers(0, 2**31 - 1))
    jobid = draw(st.none() | st.sampled_from(["1", "4242", "123.master", "77_3"]) | _value.filter(lambda v: v not in ("", "nil")))
    forbidden = set(FIELD_OF[variant]) | {"error"}
    extra = draw(st.dictionaries(_key.filter(lambda k: k not in forbidden), _value, max_size=3))
    if variant == TACC_CSV:
        extra = {"userload": draw(st.sampled_from(["yes", "no"])), **extra}
        stamp_text = None
        zoned = stamp is not None and not prefix.startswith("rfc3164") and zone != ""
        data = record(draw(_value.filter(bool)), draw(_module), draw(_value), str(syslog_host),
                      instant(t, fraction, zone) if zoned else None, jobid, syslog_host, stamp, pid, variant, extra)
    else:
        stamp_text = draw(time_text())
        data = record(draw(_value.filter(bool)), draw(_module), draw(_value), draw(_value.filter(bool)),
                      float(stamp_text), jobid, syslog_host, stamp, pid, variant, extra)
    no_jobid = draw(st.sampled_from([None, "nil", ""])) if jobid is None else None
    names = {field: key for key, field in FIELD_OF[variant].items()}
    keys = [names["user"], names["module"], names["path"], *extra] + (["host", "time"] if variant == KEY_VALUE else [])
    if jobid is not None or no_jobid is not None:
        keys.append("jobid")
    order = draw(st.permutations(keys))
    if variant == TACC_CSV:  # the hook writes username first, and the parser needs it there
        order = ["username"] + [key for key in order if key != "username"]
    data["extra"] = {key: data["extra"][key] for key in order if key in data["extra"]}  # kept in line order
    quoted = frozenset(draw(st.lists(st.sampled_from(keys), max_size=3)))
    return data, write(data, How(prefix, tuple(order), quoted, no_jobid), stamp_text)


def usual(n: int) -> bytes:
    """Line `n` of a file as Lmod's hook and rsyslog write it (RFC 3164, jobid), for benchmarks."""
    t = datetime(2023, 4, 27, tzinfo=timezone.utc) + timedelta(seconds=n // 7)
    data = record(f"usr{n % 997}", f"gcc/12.{n % 5}.0", f"/software/gcc/12.{n % 5}.0.lua", f"node{n % 300}.crc.pitt.edu",
                  t.timestamp() + (n % 1000) / 1000, str(4000000 + n // 50) if n % 4 else None,
                  f"node{n % 300}", rfc3164(t, True))
    return write(data, How("rfc3164", ("user", "jobid", "module", "path", "host", "time"), no_jobid="nil"))
