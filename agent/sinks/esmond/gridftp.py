"""GridFTP transfers (formats gridftp and gridftp-json) as esmond measurements (pure).

As esmond-ps-load-gridftp mapped them (research/esmond.md §1.2, §1.3), without its bugs:

- only RETR and STOR are archived (`measure` returns None for the others: delivered,
  not dead-lettered). RETR: this host sent, so source = the measurement agent's address,
  destination = DEST, input-source = HOST, input-destination = DEST; STOR the reverse.
  tool-name "gridftp". DEST must be an IP address (esmond stores addresses); the agent's
  address is looked up in DEST's family, as the old loader did;
- ts = START in whole seconds (START is when the transfer began; DATE is its end);
- CODE 226: `throughput` = int(8 · NBYTES / duration) in bit/s, the value esmond's integer
  validator would keep. A transfer whose duration is 0 (START = DATE to the microsecond)
  has no throughput point: the rate is undefined, and the old loader skipped it too
  (ZeroDivisionError). `streams-packet-retransmits` = the per-stream `retrans=` list,
  when the server wrote one;
- any other CODE: one `failures` point {"error": "<code> <FTP reply text>"} (FTP_REPLIES);
- the metadata registers throughput, streams-packet-retransmits and failures for every
  transfer, so successes and failures of one endpoint pair share one metadata;
- gridftp-json (RAMSES) records also carry iostat, mpstat, getrusage and per-stream
  TCP_INFO: sent as `iostat`, `mpstat`, `rusage` and `streams-tcpinfo`, and registered
  (the old loader sent them unregistered, so esmond dropped every one). RAMSES writes
  ret_code 226 always, so it never gives a failures point.

Metadata keys beyond the subject: bw-parallel-streams, bw-stripes, gridftp-program,
gridftp-block-size and tcp-window-size, which describe how an endpoint pair is set up
and take few values; never NBYTES (the old loader's gridftp-bytes-transferred, which made
a metadata object per transfer). The privacy-gated fields, each off by default:

- `send_volume` -> `gridftp-volume` in the metadata: a server has a handful of volumes,
  so it splits an endpoint pair's series by filesystem, which is what one queries it for;
- `send_user` -> `gridftp-user` in the metadata: bounded by the site's users, it gives
  each user's series between two endpoints and keeps the old loader's query
  (`?gridftp-user=alice`) working;
- `send_file` -> NOT metadata: file names are unbounded, and as a metadata key every
  file would get its own metadata object, the explosion the old loader caused. The path
  goes into a per-transfer `pscheduler-raw` point {"gridftp-file": FILE} (esmond's
  generic json type for a measurement's raw facts; its list of event types is fixed, so
  there is no "gridftp-file" type), registered only when send_file is on. Like every json
  point it is overwritten by another transfer of the same metadata in the same second.
"""
from __future__ import annotations

import calendar
import functools
import socket
from datetime import date
from typing import Any, Optional

from .measurement import Lookup, Measurement, Options, Unusable, count, ip_version, is_ip, number, text

TRANSFERS = ("RETR", "STOR")
EVENT_TYPES = ("throughput", "streams-packet-retransmits", "failures")
RAMSES_EVENT_TYPES = ("iostat", "mpstat", "rusage", "streams-tcpinfo")
FILE_EVENT_TYPE = "pscheduler-raw"
#: RFC 959 §4.2 reply texts for the codes a GridFTP server ends a transfer with (the
#: `Transfer stats` CODE): esmond-ps-load-gridftp's FTP_CODES table, its "Cant" put right.
FTP_REPLIES = {
    226: "Closing data connection.",
    421: "Service not available, closing control connection.",
    425: "Can't open data connection.",
    426: "Connection closed; transfer aborted.",
    450: "Requested file action not taken.",
    451: "Requested action aborted: local error in processing.",
    452: "Requested action not taken.",
    500: "Syntax error, command unrecognized.",
    501: "Syntax error in parameters or arguments.",
    502: "Command not implemented.",
    503: "Bad sequence of commands.",
    504: "Command not implemented for that parameter.",
    530: "Not logged in.",
    532: "Need account for storing files.",
    550: "Requested action not taken.",
    551: "Requested action aborted: page type unknown.",
    552: "Requested file action aborted.",
    553: "Requested action not taken.",
}


def failure_text(code: int) -> str:
    """What a `failures` point says about a transfer that ended with `code`."""
    reply = FTP_REPLIES.get(code)
    return f"{code} {reply}" if reply else f"{code} (not an FTP reply code of RFC 959)"


def measure(record_id: str, fmt: str, data: dict[str, Any], options: Options) -> Optional[Measurement]:
    """The measurement of one transfer; None for a transfer that is not RETR or STOR."""
    kind = data.get("type")
    if kind not in TRANSFERS:
        return None
    setup = tuple(data.get(name) for name in _SETUP)
    if not all(type(v) is t and v != "" for v, t in zip(setup, _SETUP_TYPES)):
        for name, t in zip(_SETUP, _SETUP_TYPES):  # raises Unusable naming the field
            (text if t is str else count)(data, name)
    user = text(data, "user") if options.send_user else None
    volume = text(data, "volume") if options.send_volume else None
    fields, agent, agent_fields, event_types = metadata(kind, fmt, setup, user, volume, options)
    points = _points(data, fmt)
    if options.send_file:
        points.append((FILE_EVENT_TYPE, {"gridftp-file": text(data, "file")}))
    return Measurement(record_id, fields, agent, agent_fields, event_types, start_second(data), tuple(points))


#: The fields that make a transfer's metadata, and their types (checked before the cache sees them).
_SETUP = ("host", "dest", "prog", "streams", "stripes", "block", "buffer")
_SETUP_TYPES = (str, str, str, int, int, int, int)


@functools.lru_cache(maxsize=4096)
def metadata(kind: str, fmt: str, setup: tuple[Any, ...], user: Optional[str], volume: Optional[str],
             options: Options) -> tuple[tuple[tuple[str, str], ...], Any, tuple[str, ...], tuple[str, ...]]:
    """(fields, agent, agent fields, event types) of a transfer: the same for every transfer of an endpoint
    pair set up alike, so computed once per such setup (half the cost of a record before)."""
    host, dest, prog, streams, stripes, block, buffer = setup
    version = ip_version(dest)
    if not version:
        raise Unusable("DEST is not an IP address; esmond records the remote end by address")
    family = socket.AF_INET if version == 4 else socket.AF_INET6
    agent: Any = options.measurement_agent or (host if is_ip(host) else Lookup(host, family))
    if kind == "RETR":
        ends = (("destination", dest), ("input-source", host), ("input-destination", dest))
        agent_fields = ("source", "measurement-agent")
    else:
        ends = (("source", dest), ("input-source", dest), ("input-destination", host))
        agent_fields = ("destination", "measurement-agent")
    fields = [("tool-name", "gridftp"), *ends, ("bw-parallel-streams", str(streams)), ("bw-stripes", str(stripes)),
              ("gridftp-program", prog), ("gridftp-block-size", str(block)), ("tcp-window-size", str(buffer))]
    if user is not None:
        fields.append(("gridftp-user", user))
    if volume is not None:
        fields.append(("gridftp-volume", volume))
    event_types = EVENT_TYPES + (RAMSES_EVENT_TYPES if fmt == "gridftp-json" else ())
    if options.send_file:
        event_types += (FILE_EVENT_TYPE,)
    return tuple(fields), agent, agent_fields, event_types


def _points(data: dict[str, Any], fmt: str) -> list[tuple[str, Any]]:
    code = count(data, "code")
    if code != 226:
        return [("failures", {"error": failure_text(code)})]
    points: list[tuple[str, Any]] = []
    duration, nbytes = number(data, "duration"), count(data, "nbytes")
    if duration > 0:
        points.append(("throughput", int(8 * nbytes / duration)))
    retrans = data.get("retrans")
    if isinstance(retrans, list):
        points.append(("streams-packet-retransmits", retrans))
    raw = data.get("raw")
    if fmt == "gridftp-json" and isinstance(raw, dict):
        for event_type, key in (("iostat", "iostat"), ("mpstat", "mpstat"), ("rusage", "getrusage")):
            if raw.get(key) is not None:
                points.append((event_type, raw[key]))
        streams = raw.get("streams")
        if isinstance(streams, list) and streams:
            points.append(("streams-tcpinfo", streams))
    return points


def start_second(data: dict[str, Any]) -> int:
    """START as whole epoch seconds (the parser writes YYYY-MM-DDTHH:MM:SS.ffffffZ, UTC)."""
    start = text(data, "start")
    hour, minute, second = start[11:13], start[14:16], start[17:19]
    if start[10:11] == "T" and start[13:14] == start[16:17] == ":" and (hour + minute + second).isdigit():
        try:
            return _midnight(start[:10]) + int(hour) * 3600 + int(minute) * 60 + int(second)
        except ValueError:
            pass
    raise Unusable("START is not an ISO 8601 time")


@functools.lru_cache(maxsize=1024)
def _midnight(day: str) -> int:
    return calendar.timegm(date.fromisoformat(day).timetuple())
