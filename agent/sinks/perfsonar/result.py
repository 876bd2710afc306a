"""Records as pScheduler-shaped results: what psConfig's http archiver PUTs to a perfSONAR 5 archive.

The shape is the `result` object pScheduler's archiver daemon hands to every archiver
(perfsonar/pscheduler: pscheduler-server/pscheduler-server/daemons/archiver.raw @91396263,
`json["result"]`), which the http archiver sends as its body (pscheduler-archiver-http/http/
archive @c6489895): `id`, `schedule {start, duration}`, `test {type, spec}`, `tool {name,
version}`, `run {…, href, task-href}`, `task {…, href}`, `participants`, `result`, `reference`.
What the archive's Logstash pipeline reads of it (perfsonar/logstash:
perfsonar-logstash/perfsonar-logstash/pipeline/ @f1d10b44):

- 02-pscheduler_common.conf: `run.start-time`/`end-time` -> pscheduler.start_time/end_time,
  `tool.name` -> pscheduler.tool, `participants`, `task.href`/`run.href` dissected at
  "/tasks/" and "/runs/" into pscheduler.task_id/run_id, the `x-ps-observer` header;
- 03-normalize_endpoints.conf (ruby/pscheduler_normalize_endpoints.rb @bee1abc9):
  `test.spec.source`/`dest`, hosts or URLs ("in cases like 'disk-to-disk' they can be URLs");
- 06-result_throughput.conf, for `test.type == "throughput"`: `test.spec.duration`/`omit`/
  `interval` as ISO 8601 durations, `parallel`, `result.succeeded`/`error`,
  `result.summary.summary.{throughput-bits, sent, lost, jitter, rtt, retransmits}`,
  `result.intervals`, and `result.summary.streams` when parallel > 1;
- 99-outputs.conf @f71f74e7: a document without `test.type` is dropped; the others go to
  OpenSearch index `pscheduler_<test.type>` with `action => "create"` and no document id.

GridFTP transfers are pScheduler's `disk-to-disk` test (perfsonar/pscheduler:
pscheduler-test-disk-to-disk/disk-to-disk/{spec,result}-jsonschema.json @2e708946/@57a17216,
run by pscheduler-tool-globus with globus-url-copy): spec `{source, dest, parallel}` (source
and dest URLs, here `gsiftp://<host>` with no path), result `{succeeded, time, bytes-sent,
throughput, error}`. Both schemas forbid other keys, so what GridFTP logs beyond them
(stripes, TCP buffer, block size, per-stream retransmits, the Globus task id) goes under
`reference.gridftp`: `reference` is pScheduler's free-form task annotation, kept as-is by the
pipeline. RETR/ERET send from the server (source = HOST), STOR/ESTO receive (dest = HOST);
other commands (LIST, NLST, …) move no file and are not measurements, so they count as
delivered without a request. FILE, USER and VOLUME are never read here, so never sent.

bwctl/iperf3 results are the `throughput` test in the shape of pscheduler-tool-iperf3's
iperf3_parser.py @a0f9f26b. Source and dest are bwctl's "Using X as the address for …"
addresses when there are some: like pScheduler's spec they name the endpoints as the test was
asked to reach them, whereas iperf3's connection addresses can be private, NATed or loopback;
those go under `reference.connection`. One difference: pScheduler reports the sender's rate
(`end.sum_sent`) as throughput-bits; the records carry the receiver's (`sum_received`), which
esmond-ps-pipe archived; it goes out as throughput-bits and as receiver-throughput-bits.

Identity: the archive does not deduplicate (`create` with generated ids), so a replayed
record is a second document. Each result's run id is a UUID5 of the record id and its task
id a UUID5 of the test and tool, so a replay carries the same pscheduler.run_id (and
reference.logspool.record-id) and can be found and collapsed on it.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Optional, Sequence

import orjson

from agent.envelope import record_id

#: UUID5 namespace of the run and task ids (uuid5(NAMESPACE_URL, "https://logspool/perfsonar")).
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://logspool/perfsonar")
FORMATS = ("gridftp", "gridftp-json", "bwctl-iperf3", "iperf3")
TOOLS = {"gridftp": "gridftp", "gridftp-json": "gridftp", "bwctl-iperf3": "bwctl/iperf3", "iperf3": "iperf3"}
OUTBOUND, INBOUND = frozenset({"RETR", "ERET"}), frozenset({"STOR", "ESTO"})
#: FTP replies a GridFTP transfer ends with (RFC 959 §4.2 texts, as esmond's FTP_CODES gives them).
FTP_REPLIES = {226: "Closing data connection. Requested file action successful.",
               421: "Service not available, closing control connection.",
               425: "Can't open data connection.", 426: "Connection closed; transfer aborted.",
               450: "Requested file action not taken.", 451: "Requested action aborted: local error in processing.",
               452: "Requested action not taken. Insufficient storage space in system.",
               500: "Syntax error, command unrecognized.", 530: "Not logged in.",
               550: "Requested action not taken. File unavailable.",
               551: "Requested action aborted: page type unknown.",
               552: "Requested file action aborted. Exceeded storage allocation.",
               553: "Requested action not taken. File name not allowed."}


class Unusable(Exception):
    """A record of a known format that cannot become a result; the reason says what is missing."""


@dataclass(frozen=True)
class Encoded:
    """One request: `body` a JSON array of results for the records `ids` (empty: nothing to send);
    `refused` the records that cannot be sent at all, with why; `skipped` records that are not
    measurements (directory listings, progress markers) and count as delivered."""

    body: bytes
    ids: tuple[str, ...]
    refused: tuple[tuple[str, str], ...]
    skipped: int


def encode_lines(lines: Sequence[bytes], observer: str) -> Encoded:
    """The envelope lines of a batch as one request (pure: the same lines give the same bytes)."""
    docs: list[bytes] = []
    ids: list[str] = []
    refused: list[tuple[str, str]] = []
    skipped = 0
    for line in lines:
        try:
            envelope = orjson.loads(line)
        except orjson.JSONDecodeError:
            envelope = None
        if not isinstance(envelope, dict):
            refused.append((_id_of(line), "not a JSON record envelope"))
            continue
        rid = str(envelope.get("id"))
        try:
            result = result_for(envelope, observer)
        except Unusable as exc:
            refused.append((rid, str(exc)))
            continue
        if result is None:
            skipped += 1
            continue
        ids.append(rid)
        docs.append(orjson.dumps(result))
    body = b"[" + b",".join(docs) + b"]" if docs else b""
    return Encoded(body, tuple(ids), tuple(refused), skipped)


def result_for(envelope: dict[str, Any], observer: str) -> Optional[dict[str, Any]]:
    """The pScheduler-shaped result of one record; None for a record that is no measurement.

    Raises Unusable for another format (the reason names it) or a record missing what
    the archive needs.
    """
    fmt = envelope.get("format")
    data = envelope.get("data")
    if fmt not in TOOLS:
        raise Unusable(f"the perfsonar sink sends GridFTP and bwctl/iperf3 results (formats "
                       f"{', '.join(FORMATS)}), not records of format {fmt!r}")
    if not isinstance(data, dict):
        raise Unusable(f"{_a(fmt)} record without its data object")
    if fmt in ("gridftp", "gridftp-json"):
        return _transfer(envelope, data, observer)
    return _throughput(envelope, data, observer)


def _transfer(envelope: dict[str, Any], data: dict[str, Any], observer: str) -> Optional[dict[str, Any]]:
    fmt = envelope["format"]
    if fmt == "gridftp-json" and envelope.get("type") != "Transfer-End":
        return None  # Perf-Marker, Range-Marker: progress of a transfer whose Transfer-End comes later
    command = data.get("type")
    if command not in OUTBOUND and command not in INBOUND:
        return None
    host, dest = _text(data, "host", fmt), _text(data, "dest", fmt)
    start, end = _text(data, "start", fmt), _text(data, "date", fmt)
    duration, nbytes = _number(data, "duration", fmt), _int(data, "nbytes", fmt)
    streams, code = _int(data, "streams", fmt), _int(data, "code", fmt)
    if duration < 0:
        raise Unusable(f"{_a(fmt)} record whose DATE ({end}) is before its START ({start})")
    source, sink = (host, dest) if command in OUTBOUND else (dest, host)
    spec = {"schema": 1, "source": _gsiftp(source), "dest": _gsiftp(sink), "parallel": max(streams, 1)}
    result: dict[str, Any] = {"schema": 1, "succeeded": code == 226, "time": iso_duration(duration),
                              "bytes-sent": nbytes}
    if code == 226 and duration > 0:
        result["throughput"] = 8.0 * nbytes / duration
    if code != 226:
        result["error"] = f"{code} {FTP_REPLIES.get(code, 'Transfer failed.')}"
    extra = {"command": command, "program": data.get("prog"), "stripes": data.get("stripes"),
             "tcp-window-size": data.get("buffer"), "block-size": data.get("block"),
             "retransmits": data.get("retrans"), "task-id": data.get("taskid")}
    test = {"type": "disk-to-disk", "spec": spec}
    return _envelope(envelope, observer, test, start, end, duration, [host], result,
                     {"gridftp": {k: v for k, v in extra.items() if v is not None}})


def _throughput(envelope: dict[str, Any], data: dict[str, Any], observer: str) -> dict[str, Any]:
    fmt = envelope["format"]
    failed = envelope.get("type") == "failure"
    source = data.get("input_source") or data.get("source")
    dest = data.get("input_destination") or data.get("destination")
    if not (isinstance(source, str) and source and isinstance(dest, str) and dest):
        raise Unusable(f"{_a(fmt)} {'failure' if failed else 'result'} without a source and a destination "
                       "address: nothing says which path was measured")
    begin = _first_number(data.get("start_time"), envelope.get("time"))
    if begin is None:
        raise Unusable(f"{_a(fmt)} record without start_time")
    duration: Any = data.get("duration")
    end = _first_number(data.get("end_time"), begin + duration if _is_number(duration) else None, begin)
    assert end is not None
    spec: dict[str, Any] = {"schema": 1, "source": source, "dest": dest}
    if isinstance(duration, int) and duration > 0:
        spec["duration"] = iso_duration(duration)
    if isinstance(data.get("streams"), int) and data["streams"] > 0:
        spec["parallel"] = data["streams"]
    if isinstance(data.get("omit"), int) and data["omit"] > 0:
        spec["omit"] = iso_duration(data["omit"])
    if data.get("protocol") == "udp":
        spec["udp"] = True
    if failed:
        result: dict[str, Any] = {"schema": 1, "succeeded": False,
                                  "error": str(data.get("error") or "the test failed"), "diags": ""}
    else:
        result = _iperf3_result(data, fmt, end - begin)
    connection = {"source": data.get("source"), "destination": data.get("destination")}
    try:
        times = iso_time(begin), iso_time(end)
    except (OverflowError, ValueError, OSError):
        raise Unusable(f"{_a(fmt)} record whose start_time or end_time is out of range for a date "
                       f"({begin:.0f}, {end:.0f} s since 1970)") from None
    test = {"type": "throughput", "spec": spec}
    return _envelope(envelope, observer, test, *times, end - begin,
                     [source, dest], result, {"connection": {k: v for k, v in connection.items() if v is not None}})


def _iperf3_result(data: dict[str, Any], fmt: str, elapsed: float) -> dict[str, Any]:
    """iperf3_parser.py's result: `intervals[{streams, summary}]`, `summary{streams, summary}`."""
    throughput: Any = data.get("throughput")
    if not _is_number(throughput):
        raise Unusable(f"{_a(fmt)} result without throughput")
    summary: dict[str, Any] = {"start": 0.0, "end": round(max(elapsed, 0.0), 6),
                               "throughput-bits": float(throughput), "receiver-throughput-bits": float(throughput)}
    if data.get("protocol") == "udp":
        for key, name in (("packets", "sent"), ("lost_packets", "lost")):
            if isinstance(data.get(key), int):
                summary[name] = data[key]
        if _is_number(data.get("jitter_ms")):
            summary["jitter"] = float(data["jitter_ms"])
    elif isinstance(data.get("retransmits"), int):
        summary["retransmits"] = data["retransmits"]
    streams = [_span({"stream-id": s.get("id")}, None, None, s.get("throughput"), s.get("retransmits"))
               for s in data.get("stream_results") or [] if isinstance(s, dict)]
    intervals = []
    for interval in data.get("intervals") or []:
        if not isinstance(interval, dict):
            continue
        intervals.append({
            "streams": [_span({"stream-id": s.get("id")}, s.get("start"), s.get("duration"), s.get("throughput"),
                              s.get("retransmits"))
                        for s in interval.get("streams") or [] if isinstance(s, dict)],
            "summary": _span({}, interval.get("start"), interval.get("duration"), interval.get("throughput"),
                             interval.get("retransmits"))})
    return {"schema": 1, "succeeded": True, "diags": "", "intervals": intervals,
            "summary": {"streams": streams, "summary": summary}}


def _span(head: dict[str, Any], start: Any, duration: Any, throughput: Any, retransmits: Any) -> dict[str, Any]:
    """One iperf3 interval or stream as pScheduler renames it (`end`, not `seconds`)."""
    span = {k: v for k, v in head.items() if v is not None}
    if _is_number(start):
        span["start"] = float(start)
        if _is_number(duration):
            span["end"] = round(float(start) + float(duration), 6)
    if _is_number(throughput):
        span["throughput-bits"] = float(throughput)
    if isinstance(retransmits, int) and not isinstance(retransmits, bool):
        span["retransmits"] = retransmits
    return span


def _envelope(envelope: dict[str, Any], observer: str, test: dict[str, Any], start: str, end: str,
              duration: float, participants: list[str], result: dict[str, Any],
              reference: dict[str, Any]) -> dict[str, Any]:
    """The archiver's `result` object around a test result, in the daemon's key order."""
    rid = str(envelope.get("id"))
    tool = TOOLS[envelope["format"]]
    task_uuid = uuid.uuid5(NAMESPACE, orjson.dumps([tool, test], option=orjson.OPT_SORT_KEYS).decode())
    run_uuid = uuid.uuid5(NAMESPACE, rid)
    base = f"https://{_url_host(observer)}/logspool/tasks/{task_uuid}"
    task_href, run_href = base, f"{base}/runs/{run_uuid}"
    return {
        "id": str(run_uuid),
        "schedule": {"start": start, "duration": iso_duration(max(duration, 0.0))},
        "test": test,
        "tool": {"name": tool, "version": None},
        "run": {"start-time": start, "end-time": end, "href": run_href, "task-href": task_href},
        "task": {"href": task_href},
        "participants": participants,
        "result": result,
        "reference": {"logspool": {"record-id": rid, "format": envelope["format"]}, **reference},
    }


def iso_duration(seconds: float) -> str:
    """An ISO 8601 duration in seconds ("PT8.51758S"), which the pipeline's duration filter reads."""
    text = f"{seconds:.6f}".rstrip("0").rstrip(".")
    return f"PT{text}S"


def iso_time(epoch: float) -> str:
    """A UTC timestamp OpenSearch's date detection maps as a date ("2016-08-16T03:39:47Z")."""
    moment = datetime.fromtimestamp(float(epoch), tz=timezone.utc)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{moment.microsecond:06d}Z" if moment.microsecond else f"{text}Z"


def _a(word: str) -> str:
    return f"an {word}" if word[:1] in ("a", "e", "i", "o", "u") else f"a {word}"


def _gsiftp(host: str) -> str:
    return f"gsiftp://{_url_host(host)}"


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _text(data: dict[str, Any], key: str, fmt: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise Unusable(f"{_a(fmt)} transfer without {key}")
    return value


def _int(data: dict[str, Any], key: str, fmt: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise Unusable(f"{_a(fmt)} transfer without an integer {key}")
    return value


def _number(data: dict[str, Any], key: str, fmt: str) -> float:
    value: Any = data.get(key)
    if not _is_number(value):
        raise Unusable(f"{_a(fmt)} transfer without {key}")
    return float(value)


def _first_number(*values: Any) -> Optional[float]:
    return next((float(v) for v in values if _is_number(v)), None)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _id_of(line: bytes) -> str:
    try:
        return record_id(line)
    except (ValueError, UnicodeDecodeError):
        return line[:80].decode("utf-8", "replace")
