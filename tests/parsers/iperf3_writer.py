"""An `iperf3 -J` and bwctl writer, and hypothesis strategies for runs with known records.

A `Run` is one generated test: the iperf3 JSON document, laid out as iperf3 writes it (TCP or
UDP, 1-8 streams, any number of intervals, written by the sending or the receiving side, with or
without the per-stream `sender` flags of iperf3 >= 3.1, timesecs or only the `GMT`/`UTC` time
string, retransmits or none as on macOS), or a failed test (`"error"`), together with the record
`data` the parsers must give for it. `bwctl_documents` wraps a run in bwctl's lines (third-party,
local sender or local receiver; exec_line before start_tool or after it as BWCTL 2 writes it;
stderr header lines above, below or inside the JSON; stop_tool present or not; LF or CRLF) and
returns the bytes with the record data the wrapper adds.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
import json
from typing import Any, Optional

from hypothesis import strategies as st

JAN_1970 = 0x83AA7E80
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_WHERE = [("remote", "remote"), ("local", "remote"), ("remote", "local")]  # (sender, receiver)


@dataclass(frozen=True)
class Run:
    """One test: the iperf3 document, and the `Parsed` type, time and data expected of plain iperf3."""

    doc: dict[str, Any]
    type: str
    time: Optional[float]
    data: dict[str, Any]


def write_iperf3(doc: dict[str, Any], tabs: bool = True) -> bytes:
    """The document as iperf3 prints it (cJSON: tab indents, `":\t"`), or two-space indented."""
    if tabs:
        return json.dumps(doc, indent="\t", separators=(",", ":\t")).encode() + b"\n"
    return json.dumps(doc, indent=2).encode() + b"\n"


def time_string(secs: int, zone: str) -> str:
    """iperf3's `%a, %d %b %Y %H:%M:%S %Z` in the C locale, for `zone` GMT or UTC."""
    moment = datetime.fromtimestamp(secs, tz=timezone.utc)
    return (f"{_DAYS[moment.weekday()]}, {moment.day:02d} {_MONTHS[moment.month - 1]} {moment.year} "
            f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} {zone}")


def ntp(micros: int) -> str:
    """bwctl's `%f` of NTP-era seconds for a Unix time given in integer microseconds."""
    total = micros + JAN_1970 * 10**6
    return f"{total // 10**6}.{total % 10**6:06d}"


_floats = st.floats(min_value=0, max_value=1e11, allow_nan=False, allow_infinity=False)
_counts = st.integers(min_value=0, max_value=2**40)
_hosts = st.ip_addresses().map(str)


@st.composite
def _stream_values(draw: st.DrawFn, protocol: str, retransmits: bool) -> dict[str, Any]:
    values = {"start": draw(_floats), "seconds": draw(_floats), "bits_per_second": draw(_floats)}
    if protocol == "tcp" and retransmits:
        values["retransmits"] = draw(_counts)
    return values


def _expected_values(values: dict[str, Any], socket: Optional[int] = None) -> dict[str, Any]:
    expected: dict[str, Any] = {} if socket is None else {"id": socket}
    expected.update(start=values["start"], duration=values["seconds"], throughput=values["bits_per_second"],
                    retransmits=values.get("retransmits"))
    return expected


@st.composite
def results(draw: st.DrawFn) -> Run:
    """A successful test, its document and its record."""
    protocol = draw(st.sampled_from(["tcp", "udp"]))
    count = draw(st.integers(min_value=1, max_value=8))
    sockets = draw(st.lists(st.integers(min_value=3, max_value=65535), min_size=count, max_size=count, unique=True))
    local, remote = draw(_hosts), draw(_hosts)
    is_server, reverse, flags = draw(st.booleans()), draw(st.booleans()), draw(st.booleans())
    sends = is_server == reverse
    retransmits = draw(st.booleans())  # macOS has no TCP_INFO retransmits
    secs = draw(st.integers(min_value=10**9, max_value=4 * 10**9))
    stamp: dict[str, Any] = {"time": time_string(secs, draw(st.sampled_from(["GMT", "UTC"])))}
    if draw(st.booleans()):
        stamp["timesecs"] = secs
    duration, omit = draw(st.integers(0, 86400)), draw(st.one_of(st.none(), st.integers(0, 60)))
    test_start = {"protocol": protocol.upper(), "num_streams": count, "blksize": 131072, "duration": duration,
                  "bytes": 0, "blocks": 0, "reverse": int(reverse)}
    if omit is not None:
        test_start["omit"] = omit
    peer = {"host": remote, "port": 5201}
    start = {"connected": [{"socket": s, "local_host": local, "local_port": 40000 + i, "remote_host": remote,
                            "remote_port": 5201} for i, s in enumerate(sockets)],
             "version": "iperf 3.9", "system_info": "Linux generated 5.4.0 x86_64", "timestamp": stamp,
             ("accepted_connection" if is_server else "connecting_to"): peer, "test_start": test_start}
    intervals, expected_intervals = [], []
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        streams = [dict(draw(_stream_values(protocol, retransmits)), socket=s) for s in sockets]
        total = draw(_stream_values(protocol, retransmits))
        for item in [*streams, total]:
            item["omitted"] = False
            if flags:
                item["sender"] = sends
        intervals.append({"streams": streams, "sum": total})
        expected_intervals.append(dict(_expected_values(total), streams=[_expected_values(v, v["socket"])
                                                                         for v in streams]))
    finished, throughput = draw(_floats), draw(_floats)
    per_stream = [draw(_floats) for _ in sockets]
    data: dict[str, Any] = {"packets": None, "lost_packets": None, "jitter_ms": None, "retransmits": None}
    if protocol == "udp":
        packets, lost, jitter = draw(_counts), draw(_counts), draw(_floats)
        end: dict[str, Any] = {
            "streams": [{"udp": {"socket": s, "bits_per_second": b, "jitter_ms": jitter, "lost_packets": lost,
                                 "packets": packets}} for s, b in zip(sockets, per_stream)],
            "sum": {"start": 0, "end": finished, "seconds": finished, "bits_per_second": throughput,
                    "jitter_ms": jitter, "lost_packets": lost, "packets": packets}}
        data.update(packets=packets, lost_packets=lost, jitter_ms=jitter)
        stream_results = [{"id": s, "throughput": b, "retransmits": None} for s, b in zip(sockets, per_stream)]
    else:
        resent = [draw(_counts) if retransmits else None for _ in sockets]
        total_resent = draw(_counts) if retransmits else None
        sender = [{"socket": s, "bits_per_second": draw(_floats)} for s in sockets]
        for item, r in zip(sender, resent):
            if r is not None:
                item["retransmits"] = r
        end = {"streams": [{"sender": snd, "receiver": {"socket": s, "bits_per_second": b}}
                           for snd, s, b in zip(sender, sockets, per_stream)],
               "sum_sent": {"start": 0, "end": finished, "bits_per_second": draw(_floats)},
               "sum_received": {"start": 0, "end": finished, "seconds": finished, "bits_per_second": throughput}}
        if total_resent is not None:
            end["sum_sent"]["retransmits"] = total_resent
        data["retransmits"] = total_resent
        stream_results = [{"id": s, "throughput": b, "retransmits": r} for s, b, r in zip(sockets, per_stream, resent)]
    data.update(
        tool="iperf3", input_source=None, input_destination=None, local_sender=None, local_receiver=None,
        source=local if sends else remote, destination=remote if sends else local, protocol=protocol,
        duration=duration, streams=count, omit=omit, start_time=secs, end_time=secs + finished,
        throughput=throughput, intervals=expected_intervals, stream_results=stream_results, error=None, bwctl=None)
    return Run({"start": start, "intervals": intervals, "end": end}, "throughput", float(secs), data)


_messages = st.text(st.characters(codec="utf-8"), max_size=40)


@st.composite
def failures(draw: st.DrawFn) -> Run:
    """A failed test: iperf3's error document (nothing measured), or a run interrupted after results."""
    message = draw(_messages)
    if draw(st.booleans()):
        run = draw(results())
        return replace(run, doc=dict(run.doc, error=message), type="failure", data=dict(run.data, error=message))
    doc = {"start": {"connected": [], "version": "iperf 3.16", "system_info": "Darwin generated 20.6.0 x86_64"},
           "intervals": [], "end": {}, "error": message}
    data: dict[str, Any] = {
        "tool": "iperf3", "input_source": None, "input_destination": None, "local_sender": None,
        "local_receiver": None, "source": None, "destination": None, "protocol": None, "duration": None,
        "streams": None, "omit": None, "start_time": None, "end_time": None, "throughput": None,
        "retransmits": None, "packets": None, "lost_packets": None, "jitter_ms": None, "intervals": [],
        "stream_results": [], "error": message, "bwctl": None}
    return Run(doc, "failure", None, data)


def runs() -> st.SearchStrategy[Run]:
    return st.one_of(results(), failures())


@st.composite
def bwctl_documents(draw: st.DrawFn, run: Run) -> tuple[bytes, Run]:
    """`run` as bwctl prints it, and the run with the record bwctl-iperf3 must give for it."""
    sender_where, receiver_where = draw(st.sampled_from(_WHERE))
    sender, receiver = draw(_hosts), draw(_hosts)
    started = draw(st.integers(min_value=10**15, max_value=4 * 10**15))
    stopped = draw(st.one_of(st.none(), st.integers(min_value=started, max_value=started + 10**9)))
    headers = [draw(st.sampled_from(["bwctl: Using tool: iperf3", "bwctl: run_tool: tester: iperf3"])),
               f"bwctl: Using {sender} as the address for {sender_where} sender",
               f"bwctl: Using {receiver} as the address for {receiver_where} receiver"]
    headers = draw(st.permutations(headers))
    exec_line = f"bwctl: exec_line: iperf3 -c {receiver} -J"
    exec_at = draw(st.sampled_from(["before", "after", "none"]))
    headers_at = draw(st.sampled_from(["top", "inside", "bottom"]))
    json_lines = write_iperf3(run.doc, tabs=draw(st.booleans())).decode().splitlines()
    if headers_at == "inside":
        cut = draw(st.integers(min_value=1, max_value=len(json_lines) - 1))
        json_lines = json_lines[:cut] + headers + json_lines[cut:]
    lines = (headers if headers_at == "top" else []) + ["16 seconds until test results available", "",
                                                        "SENDER START", f"bwctl: run_tool: receiver: {receiver}"]
    lines += [exec_line] if exec_at == "before" else []
    lines += [f"bwctl: start_tool: {ntp(started)}"]
    lines += [exec_line, f"bwctl: run_tool: sender: {sender}"] if exec_at == "after" else []
    lines += json_lines + ([f"bwctl: stop_tool: {ntp(stopped)}"] if stopped is not None else [])
    lines += ["", "SENDER END"] + (headers if headers_at == "bottom" else [])
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    raw = (newline.join(lines) + newline).encode()
    times = {"start_tool": started / 10**6, "stop_tool": None if stopped is None else stopped / 10**6}
    data = dict(run.data, input_source=sender, input_destination=receiver,
                local_sender=sender if sender_where == "local" else None,
                local_receiver=receiver if receiver_where == "local" else None, bwctl=times)
    time = run.time if run.time is not None else times["start_tool"]
    return raw, replace(run, time=time, data=data)
