"""An `iperf3 -J` result document as the record that the `iperf3` and `bwctl-iperf3` formats share.

Both formats end in the same iperf3 JSON object (esmond.md §2), so the mapping from that object to
the record lives here once; the format modules only find the object and say where it came from
(`Context`). The mapping follows what esmond-ps-pipe sent, read defensively:

- `throughput` is `end.sum_received.bits_per_second` for TCP, `end.sum.bits_per_second` for UDP;
  `retransmits` is `end.sum_sent.retransmits` (TCP; absent on platforms without TCP_INFO, e.g.
  macOS, so None); `packets`, `lost_packets`, `jitter_ms` come from `end.sum` (UDP only).
- `intervals` and `stream_results` carry the per-interval and per-stream values esmond's
  `*-subintervals` and `streams-*` event types are built from, with the stream `id` = iperf3's
  `socket`, so a sink can group them either way (by interval, as esmond-ps-pipe did, or by stream,
  as pScheduler does).
- `source`/`destination` are `start.connected[0].local_host`/`remote_host` when the iperf3 that
  wrote the document was the sending side, and swapped when it was the receiving side (the
  receiver of a bwctl local run, a server, or a `-R` client): `source` is always the sender. The
  side is read from the `sender` flag iperf3 >= 3.1 puts on each interval stream, else from
  `start.accepted_connection` (present on the server) and `test_start.reverse`.
- `start_time` is `start.timestamp.timesecs`, or the `time` string (`Thu, 28 Sep 2023 10:24:21
  UTC`; iperf3 writes `%Z`, which is `GMT` or `UTC` by platform) when timesecs is missing;
  `end_time` is start_time + the `end` of the summary the throughput comes from.

A document with an `error` key is a `failure`: its other fields are read section by section and a
section iperf3 did not write (it stops early) is None or empty rather than an error. Any other
document must have every field above: a missing or mistyped one raises `ParseError` naming its
JSON path (`end.sum_received.bits_per_second`, `intervals[3].streams[0].socket`), never KeyError.
"""
from __future__ import annotations

from datetime import datetime, timezone
import re
from typing import Any, Callable, NamedTuple, Optional, TypeVar, Union

import orjson

from .record import ParseError, Parsed

TOOL = "iperf3"
THROUGHPUT, FAILURE = "throughput", "failure"
PROTOCOLS = ("tcp", "udp")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_TIME = re.compile(r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{1,2}) (%s) (\d{4}) (\d\d):(\d\d):(\d\d) (?:GMT|UTC)"
                   % "|".join(_MONTHS))
_EXACT = 2.0**53
_MISSING: Any = object()
_T = TypeVar("_T")
_D = TypeVar("_D")


class Context(NamedTuple):
    """What the document's wrapper knew about the test (all None for plain iperf3 output)."""

    input_source: Optional[str] = None
    input_destination: Optional[str] = None
    local_sender: Optional[str] = None
    local_receiver: Optional[str] = None
    bwctl: Optional[dict[str, Optional[float]]] = None


def load_object(data: bytes, base: int = 0) -> dict[str, Any]:
    """The JSON object in `data`: from its first `{` to its last `}`, so that text a terminal or a
    wrapper printed around it (a warning line, an escape sequence) does not cost the result.

    Raises `ParseError` with the byte offset (counted from `base`) where the JSON broke.
    """
    first, last = data.find(b"{"), data.rfind(b"}")
    if first < 0 or last < first:
        raise ParseError("no JSON object: iperf3 must run with -J (bwctl: --parsable)", field="iperf3 JSON",
                         offset=base)
    text = data[first:last + 1]
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        try:
            at = len(text.decode("utf-8")[:exc.pos].encode("utf-8"))
        except UnicodeDecodeError as bad:
            raise ParseError("invalid UTF-8 in the iperf3 JSON", field="iperf3 JSON",
                             offset=base + first + bad.start) from None
        raise ParseError(f"not valid JSON: {exc.msg}", field="iperf3 JSON", offset=base + first + at) from None
    if not isinstance(obj, dict):
        raise ParseError("expected a JSON object", field="iperf3 JSON", offset=base + first)
    return obj


def build(doc: dict[str, Any], context: Context = Context()) -> Parsed:
    """The record for one iperf3 document (see the module docstring for every field)."""
    error = doc.get("error", _MISSING)
    if error is not _MISSING and not isinstance(error, str):
        raise ParseError(f"expected a string, got {_kind(error)}", field="error")
    failed = error is not _MISSING
    section = _lenient if failed else _strict
    source, destination = section(lambda: _endpoints(doc), (None, None))
    protocol, duration, streams, omit = section(lambda: _test_start(doc), (None, None, None, None))
    start_time = section(lambda: _start_time(doc), None)
    summary = section(lambda: _summary(doc, protocol, start_time), (None,) * 6)
    throughput, end_time, retransmits, packets, lost, jitter = summary
    no_intervals: list[dict[str, Any]] = []
    no_streams: list[dict[str, Any]] = []
    intervals = section(lambda: _intervals(doc, protocol), no_intervals)
    stream_results = section(lambda: _stream_results(doc, protocol), no_streams)
    data: dict[str, Any] = {
        "tool": TOOL, "input_source": context.input_source, "input_destination": context.input_destination,
        "local_sender": context.local_sender, "local_receiver": context.local_receiver,
        "source": source, "destination": destination, "protocol": protocol, "duration": duration,
        "streams": streams, "omit": omit, "start_time": start_time, "end_time": end_time,
        "throughput": throughput, "retransmits": retransmits, "packets": packets,
        "lost_packets": lost, "jitter_ms": jitter, "intervals": intervals,
        "stream_results": stream_results, "error": error if failed else None, "bwctl": context.bwctl,
    }
    time = float(start_time) if start_time is not None else None
    if time is None and context.bwctl is not None:
        time = context.bwctl.get("start_tool")
    return Parsed(FAILURE if failed else THROUGHPUT, time, data)


def _strict(read: Callable[[], _T], default: _D) -> Union[_T, _D]:
    """A result document's section: every field must be there, so its ParseError propagates."""
    return read()


def _lenient(read: Callable[[], _T], default: _D) -> Union[_T, _D]:
    """A failure document's section: what iperf3 wrote before it stopped, else the default."""
    try:
        return read()
    except ParseError:
        return default


def _endpoints(doc: dict[str, Any]) -> tuple[str, str]:
    connected = _list(_obj(doc, "start", "start"), "connected", "start.connected")
    if not connected:
        raise ParseError("no connected stream", field="start.connected[0]")
    first = _item(connected, 0, "start.connected[0]")
    local = _text(first, "local_host", "start.connected[0].local_host")
    remote = _text(first, "remote_host", "start.connected[0].remote_host")
    return (local, remote) if _reporter_sends(doc) else (remote, local)


def _reporter_sends(doc: dict[str, Any]) -> bool:
    """Whether the iperf3 that wrote `doc` sent the data (module docstring). Never raises."""
    intervals = doc.get("intervals")
    if isinstance(intervals, list) and intervals and isinstance(intervals[0], dict):
        streams = intervals[0].get("streams")
        if isinstance(streams, list) and streams and isinstance(streams[0], dict):
            flag = streams[0].get("sender")
            if isinstance(flag, bool):
                return flag
    start = doc.get("start")
    start = start if isinstance(start, dict) else {}
    test_start = start.get("test_start")
    reverse = test_start.get("reverse") if isinstance(test_start, dict) else None
    is_server = "accepted_connection" in start
    return is_server == bool(reverse if isinstance(reverse, (bool, int, float)) else False)


def _test_start(doc: dict[str, Any]) -> tuple[str, int, int, Optional[int]]:
    test_start = _obj(_obj(doc, "start", "start"), "test_start", "start.test_start")
    written = _text(test_start, "protocol", "start.test_start.protocol")
    protocol = written.lower()
    if protocol not in PROTOCOLS:
        raise ParseError(f"unsupported protocol {written!r} (expected TCP or UDP)", field="start.test_start.protocol")
    return (protocol, _int(test_start, "duration", "start.test_start.duration"),
            _int(test_start, "num_streams", "start.test_start.num_streams"),
            _int(test_start, "omit", "start.test_start.omit", required=False))


def _start_time(doc: dict[str, Any]) -> int:
    stamp = _obj(_obj(doc, "start", "start"), "timestamp", "start.timestamp")
    secs: Optional[int] = _int(stamp, "timesecs", "start.timestamp.timesecs", required=False)
    if secs is not None:
        return secs
    written = _text(stamp, "time", "start.timestamp.time", required=False)
    if written is None:
        raise ParseError("missing (and no time string either)", field="start.timestamp.timesecs")
    match = _TIME.fullmatch(written.strip())
    try:
        if match is None:
            raise ValueError(written)
        day, month, year, hour, minute, second = match.groups()
        moment = datetime(int(year), _MONTHS.index(month) + 1, int(day), int(hour), int(minute), int(second),
                          tzinfo=timezone.utc)
    except ValueError:
        raise ParseError(f"expected a time like 'Thu, 28 Sep 2023 10:24:21 UTC' (GMT or UTC), got {written[:40]!r}",
                         field="start.timestamp.time") from None
    return int(moment.timestamp())


def _summary(doc: dict[str, Any], protocol: Optional[str], start_time: Optional[int]) -> tuple[
        float, Optional[float], Optional[int], Optional[int], Optional[int], Optional[float]]:
    end = _obj(doc, "end", "end")
    path = "end.sum" if protocol == "udp" else "end.sum_received"
    summary = _obj(end, path[4:], path)
    throughput = _float(summary, "bits_per_second", path + ".bits_per_second")
    finished = _float(summary, "end", path + ".end")
    end_time = start_time + finished if start_time is not None else None
    if protocol == "udp":
        return (throughput, end_time, None, _int(summary, "packets", "end.sum.packets"),
                _int(summary, "lost_packets", "end.sum.lost_packets"), _float(summary, "jitter_ms", "end.sum.jitter_ms"))
    sent = _obj(end, "sum_sent", "end.sum_sent", required=False)
    retransmits = _int(sent, "retransmits", "end.sum_sent.retransmits", required=False) if sent else None
    return throughput, end_time, retransmits, None, None, None


def _intervals(doc: dict[str, Any], protocol: Optional[str]) -> list[dict[str, Any]]:
    intervals = []
    for i, interval in enumerate(_list(doc, "intervals", "intervals")):
        at = f"intervals[{i}]"
        total = _obj(_item_obj(interval, at), "sum", at + ".sum")
        streams = []
        for j, stream in enumerate(_list(interval, "streams", at + ".streams")):
            streams.append(_interval_values(_item_obj(stream, f"{at}.streams[{j}]"), f"{at}.streams[{j}]", protocol,
                                            with_id=True))
        intervals.append(dict(_interval_values(total, at + ".sum", protocol, with_id=False), streams=streams))
    return intervals


def _interval_values(node: dict[str, Any], at: str, protocol: Optional[str], with_id: bool) -> dict[str, Any]:
    values: dict[str, Any] = {"id": _int(node, "socket", at + ".socket")} if with_id else {}
    values["start"] = _float(node, "start", at + ".start")
    values["duration"] = _float(node, "seconds", at + ".seconds")
    values["throughput"] = _float(node, "bits_per_second", at + ".bits_per_second")
    values["retransmits"] = (None if protocol == "udp"
                             else _int(node, "retransmits", at + ".retransmits", required=False))
    return values


def _stream_results(doc: dict[str, Any], protocol: Optional[str]) -> list[dict[str, Any]]:
    results = []
    for j, stream in enumerate(_list(_obj(doc, "end", "end"), "streams", "end.streams")):
        at = f"end.streams[{j}]"
        stream = _item_obj(stream, at)
        if protocol == "udp":
            udp = _obj(stream, "udp", at + ".udp")
            results.append({"id": _int(udp, "socket", at + ".udp.socket"),
                            "throughput": _float(udp, "bits_per_second", at + ".udp.bits_per_second"),
                            "retransmits": None})
            continue
        receiver = _obj(stream, "receiver", at + ".receiver")
        sender = _obj(stream, "sender", at + ".sender", required=False)
        results.append({"id": _int(receiver, "socket", at + ".receiver.socket"),
                        "throughput": _float(receiver, "bits_per_second", at + ".receiver.bits_per_second"),
                        "retransmits": _int(sender, "retransmits", at + ".sender.retransmits", required=False)
                        if sender else None})
    return results


def _value(node: Any, key: str, at: str, required: bool) -> Any:
    """`node[key]`, or _MISSING when absent or null; raises for a required one."""
    value = node.get(key) if isinstance(node, dict) else None
    if value is None:
        if required:
            raise ParseError("missing", field=at)
        return _MISSING
    return value


def _obj(node: Any, key: str, at: str, required: bool = True) -> Any:
    value = _value(node, key, at, required)
    if value is _MISSING:
        return None
    return _item_obj(value, at)


def _item_obj(value: Any, at: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ParseError(f"expected an object, got {_kind(value)}", field=at)
    return value


def _item(values: list[Any], index: int, at: str) -> dict[str, Any]:
    return _item_obj(values[index], at)


def _list(node: Any, key: str, at: str) -> list[Any]:
    value = _value(node, key, at, True)
    if not isinstance(value, list):
        raise ParseError(f"expected a list, got {_kind(value)}", field=at)
    return value


def _text(node: Any, key: str, at: str, required: bool = True) -> Any:
    value = _value(node, key, at, required)
    if value is _MISSING:
        return None
    if not isinstance(value, str):
        raise ParseError(f"expected a string, got {_kind(value)}", field=at)
    return value


def _float(node: Any, key: str, at: str) -> float:
    value = _value(node, key, at, True)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParseError(f"expected a number, got {_kind(value)}", field=at)
    return float(value)


def _int(node: Any, key: str, at: str, required: bool = True) -> Any:
    value = _value(node, key, at, required)
    if value is _MISSING:
        return None
    if isinstance(value, float) and value.is_integer() and abs(value) <= _EXACT:
        return int(value)  # 5.0 is 5; a float past 2**53 is no longer a count iperf3 made
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParseError(f"expected an integer, got {_kind(value)}", field=at)
    return value


def _kind(value: Any) -> str:
    """A JSON value's type and a short quote of it, for error messages."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    shown = orjson.dumps(value)[:40].decode("utf-8", "replace") if isinstance(value, (str, int, float, bool)) else ""
    return f"{names.get(type(value), type(value).__name__)}{' ' + shown if shown else ''}"
