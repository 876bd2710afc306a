"""bwctl/iperf3 and plain iperf3 results as esmond measurements (pure).

Metadata as esmond-ps-pipe built it (research/esmond.md §2): point-to-point; source and
destination the sender and receiver, input-source and input-destination the addresses
bwctl's "Using X as the address for ..." header lines name (for plain iperf3, which has no
header, the addresses iperf3 reports); tool-name "bwctl/iperf3" ("iperf3" for plain iperf3
output), ip-transport-protocol, time-duration, bw-parallel-streams and the omitted
seconds. ts = start.timestamp.timesecs. Points, all at that ts:

    throughput                       int(bits/s): sum_received (TCP) or sum (UDP)
    throughput-subintervals          [{start, duration, val: bits/s}] per interval
    packet-retransmits               TCP: sum_sent.retransmits
    packet-retransmits-subintervals  TCP: [{start, duration, val: retransmits}]
    packet-count-lost, -sent         UDP: lost_packets, packets
    packet-loss-rate                 UDP: {numerator: lost, denominator: sent}, when sent > 0
    streams-throughput               more than one stream: receiver bits/s per stream, by id
    streams-throughput-subintervals  per stream (by id): [{start, duration, val: bits/s}]
    streams-packet-retransmits       TCP, more than one stream: retransmits per stream
    streams-packet-retransmits-subintervals  TCP: per stream [{start, duration, val}]
    failures                         a failed run: {"error": <iperf3's or bwctl's message>}

Where this departs from esmond-ps-pipe, and why:

- source and destination are bwctl's endpoint addresses when the header gives them, and
  iperf3's connection addresses (start.connected[0]) only without a header: in a
  third-party run the iperf3 output comes from one of the two hosts, whose connection
  addresses may be private, NATed or loopback (the bwctl-iperf3 samples show 127.0.0.1
  at both ends), which would file every such pair under one meaningless metadata; the
  perfsonar sink makes the same choice;
- the streams-* subintervals are grouped by stream with the key `val`, as pScheduler's
  esmond archiver writes them (§4), not by interval with keys `throughput`/`retransmits`:
  the perfSONAR tools that read esmond read pScheduler's layout;
- no packet-retransmits-subintervals for UDP (esmond-ps-pipe stored a list of nulls) and
  no retransmit value that iperf3 did not measure (None on hosts without TCP_INFO);
- `failures` is registered and a failed run is archived as a failures point, as
  pScheduler does; esmond-ps-pipe exited and the failure was lost;
- the omitted seconds are `bw-ignore-first-seconds` (pScheduler's key), not
  `bw_ignore_first_seconds`; ip-transport-protocol is lower case, as pScheduler writes it
  (esmond's checksum lower-cases it, so it matches esmond-ps-pipe's "TCP" anyway);
- the measurement agent is bwctl's local end when the header names one (a local run,
  which esmond-ps-pipe could not read at all), else the configured measurement_agent,
  else this host's name resolved; not the address of a UDP socket aimed at port 80;
- throughput goes as the integer esmond keeps; UDP jitter is not sent: esmond has no
  event type for it.
"""
from __future__ import annotations

import socket
from typing import Any, Optional

from .measurement import Lookup, Measurement, Options, Unusable, is_ip

TOOL_NAMES = {"bwctl-iperf3": "bwctl/iperf3", "iperf3": "iperf3"}


def measure(record_id: str, fmt: str, host: Any, time: Any, data: dict[str, Any],
            options: Options) -> Measurement:
    """The measurement of one iperf3 run (a `throughput` or a `failure` record)."""
    failed = data.get("error") is not None
    source, destination = _address(data, "input_source", "source"), _address(data, "input_destination", "destination")
    if source is None or destination is None:
        raise Unusable("the run has no sender or receiver address (iperf3 stopped before it connected); esmond "
                       "records both ends by address")
    protocol = data.get("protocol") if data.get("protocol") in ("tcp", "udp") else None
    streams = data.get("streams") if isinstance(data.get("streams"), int) else None
    fields = [("tool-name", TOOL_NAMES[fmt]), ("source", source), ("destination", destination),
              ("input-source", _text(data.get("input_source")) or source),
              ("input-destination", _text(data.get("input_destination")) or destination)]
    for key, name in (("protocol", "ip-transport-protocol"), ("duration", "time-duration"),
                      ("streams", "bw-parallel-streams"), ("omit", "bw-ignore-first-seconds")):
        if data.get(key) is not None:
            fields.append((name, str(data[key])))
    local = _text(data.get("local_sender")) or _text(data.get("local_receiver"))
    agent: Any = local if local and is_ip(local) else options.measurement_agent
    if agent is None:
        if not isinstance(host, str) or not host:
            raise Unusable("the record has no host to take the measurement agent's address from; "
                           "set measurement_agent")
        agent = Lookup(host, socket.AF_UNSPEC)
    ts = data.get("start_time")
    if not isinstance(ts, (int, float)) or isinstance(ts, bool):
        if not failed or not isinstance(time, (int, float)):
            raise Unusable("the run has no start time")
        ts = time
    points = [("failures", {"error": str(data["error"])})] if failed else _points(data, protocol, streams)
    return Measurement(record_id, tuple(fields), agent, ("measurement-agent",), event_types(protocol, streams),
                       int(ts), tuple(points))


def event_types(protocol: Optional[str], streams: Optional[int]) -> tuple[str, ...]:
    """What a metadata registers: the same for a run and a failed run of the same test."""
    types = ["failures", "throughput", "throughput-subintervals"]
    if protocol == "tcp":
        types += ["packet-retransmits", "packet-retransmits-subintervals"]
    elif protocol == "udp":
        types += ["packet-count-lost", "packet-count-sent", "packet-loss-rate"]
    if streams is not None and streams > 1:
        types += ["streams-throughput", "streams-throughput-subintervals"]
        if protocol == "tcp":
            types += ["streams-packet-retransmits", "streams-packet-retransmits-subintervals"]
    return tuple(types)


def _points(data: dict[str, Any], protocol: Optional[str], streams: Optional[int]) -> list[tuple[str, Any]]:
    throughput = data.get("throughput")
    if not isinstance(throughput, (int, float)):
        raise Unusable("the run has no throughput")
    points: list[tuple[str, Any]] = [("throughput", int(throughput))]
    intervals = [i for i in data.get("intervals") or [] if isinstance(i, dict)]
    if intervals:
        points.append(("throughput-subintervals", _subintervals(intervals, "throughput")))
    if protocol == "tcp":
        if isinstance(data.get("retransmits"), int):
            points.append(("packet-retransmits", data["retransmits"]))
        if intervals and all(isinstance(i.get("retransmits"), int) for i in intervals):
            points.append(("packet-retransmits-subintervals", _subintervals(intervals, "retransmits")))
    elif protocol == "udp":
        lost, sent = data.get("lost_packets"), data.get("packets")
        if isinstance(lost, int) and isinstance(sent, int):
            points += [("packet-count-lost", lost), ("packet-count-sent", sent)]
            if sent > 0 and lost >= 0:
                points.append(("packet-loss-rate", {"numerator": lost, "denominator": sent}))
    if streams is not None and streams > 1:
        points += _stream_points(data, intervals, protocol == "tcp")
    return points


def _stream_points(data: dict[str, Any], intervals: list[dict[str, Any]], tcp: bool) -> list[tuple[str, Any]]:
    results = sorted((s for s in data.get("stream_results") or [] if isinstance(s, dict)),
                     key=lambda s: s.get("id", 0))
    per_stream: dict[Any, list[dict[str, Any]]] = {}
    for interval in intervals:
        for stream in interval.get("streams") or []:
            per_stream.setdefault(stream.get("id"), []).append(stream)
    ordered = [per_stream[k] for k in sorted(per_stream, key=lambda k: (k is None, k))]
    points: list[tuple[str, Any]] = []
    if results:
        points.append(("streams-throughput", [s.get("throughput") for s in results]))
    if ordered:
        points.append(("streams-throughput-subintervals", [_subintervals(s, "throughput") for s in ordered]))
    if tcp and results and all(isinstance(s.get("retransmits"), int) for s in results):
        points.append(("streams-packet-retransmits", [s["retransmits"] for s in results]))
    if tcp and ordered and all(isinstance(i.get("retransmits"), int) for s in ordered for i in s):
        points.append(("streams-packet-retransmits-subintervals", [_subintervals(s, "retransmits") for s in ordered]))
    return points


def _subintervals(intervals: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return [{"start": i.get("start"), "duration": i.get("duration"), "val": i.get(key)} for i in intervals]


def _address(data: dict[str, Any], header: str, key: str) -> Optional[str]:
    """bwctl's header address when it is one, else the address iperf3 reports."""
    for value in (data.get(header), data.get(key)):
        if isinstance(value, str) and is_ip(value):
            return value
    return None


def _text(value: Any) -> Optional[str]:
    return value if isinstance(value, str) and value else None
