"""The esmond MA's archive as the double keeps it: metadata with checksums, event types and time series.

Written from perfsonar/esmond esmond/api/perfsonar/api_v2.py (424013f), validators.py and
types.py, and research/esmond.md §3 for what changed up to 4.4.6. The web layer is in
tests/doubles/esmond.py; this module raises `ApiError` with the status and the DRF
`{"detail": ...}` text the real views give, and stores what they would store.

What is kept of the real archive, because the sink is judged by it:

- metadata POST: `ArchiveSerializer.to_internal_value`'s checks in its order, then the
  SHA-256 checksum over the lower-cased subject, free-form parameters and event types
  (`calculate_checksum`); a body with a known checksum gets the existing metadata back;
- free-form parameters are stored and returned as strings (a TextField);
- a point is saved as `PSTimeSeriesObject.save` does: first the 409 check for the
  non-raw types (integer, float, percentage) at `int(ts)`, then only the (metadata,
  event type) rows that exist are written: an event type the metadata did not register is
  dropped without a word, counted here in `dropped` so a test can prove it never happens;
- json, subinterval and histogram points at an existing ts are overwritten;
- reads: time filters as `handle_time_filters` (no filter = up to now), `limit` also
  caps the query at limit + offset, so a page is never followed by a `next` link when
  `limit` was given (`TimeSeriesViewset.retrieve` at 424013f).

The double adds two checks the real server leaves to its database (where they fail as
500 on PostgreSQL): every point-to-point subject field is required, and source,
destination and measurement-agent must be IP addresses (the docs require it).
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Optional

#: types.py: event type -> data type (research/esmond.md §3.4).
EVENT_TYPES: dict[str, str] = {
    **dict.fromkeys(("throughput", "packet-retransmits", "packet-count-lost", "packet-count-sent",
                     "packet-duplicates", "packet-duplicates-bidir", "packet-reorders", "packet-reorders-bidir",
                     "packet-rtt", "tcp-windowsize", "path-mtu", "ntp-stratum", "ntp-reach"), "integer"),
    **dict.fromkeys(("time-error-estimates", "ntp-offset", "ntp-jitter", "ntp-wander", "ntp-delay",
                     "ntp-dispersion", "ntp-polling-interval"), "float"),
    **dict.fromkeys(("packet-loss-rate", "packet-loss-rate-bidir"), "percentage"),
    **dict.fromkeys(("histogram-owdelay", "histogram-rtt", "histogram-ttl", "histogram-ttl-reverse"), "histogram"),
    **dict.fromkeys(("throughput-subintervals", "packet-retransmits-subintervals", "packet-rtt-subintervals",
                     "tcp-windowsize-subintervals"), "subinterval"),
    **dict.fromkeys(("failures", "iostat", "mpstat", "rusage", "packet-trace", "packet-trace-multi",
                     "pscheduler-raw", "pscheduler-run-href", "tcpinfo", "streams-packet-retransmits",
                     "streams-packet-retransmits-subintervals", "streams-throughput",
                     "streams-throughput-subintervals", "streams-tcpinfo", "streams-packet-rtt",
                     "streams-packet-rtt-subintervals", "streams-tcp-windowsize",
                     "streams-tcp-windowsize-subintervals"), "json"),
}
ALLOWED_SUMMARIES: dict[str, tuple[str, ...]] = {
    "integer": ("aggregation", "average"), "float": ("aggregation", "average"),
    "histogram": ("aggregation", "statistics"), "percentage": ("aggregation",), "json": (), "subinterval": ()}
#: SUMMARY_TYPES: the name in a URL -> the name in JSON.
SUMMARY_URL_NAMES = {"base": "base", "aggregations": "aggregation", "statistics": "statistics", "averages": "average"}
PLURAL = {v: k for k, v in SUMMARY_URL_NAMES.items()}
#: Data types checked for an existing point before a write (the ones not kept in raw_cf).
NON_RAW = frozenset({"integer", "float", "percentage"})
SUBJECTS: dict[str, tuple[str, ...]] = {
    "point-to-point": ("source", "destination", "measurement-agent", "tool-name", "input-source",
                       "input-destination"),
    "network-element": ("source", "measurement-agent", "tool-name", "input-source"),
}
IP_FIELDS = ("source", "destination", "measurement-agent")
#: GET parameters that are not filters on free-form keys.
RESERVED = frozenset({"limit", "offset", "format", "dns-match-rule", "time", "time-start", "time-end", "time-range",
                      "event-type", "summary-type", "summary-window", "subject-type", "metadata-key"})


class ApiError(Exception):
    """An answer other than success: the status and the `detail` text (None: a Django HTML page)."""

    def __init__(self, status: int, detail: Optional[str]) -> None:
        super().__init__(f"{status} {detail}")
        self.status = status
        self.detail = detail


def bad(detail: str) -> ApiError:
    return ApiError(400, detail)


@dataclass
class Metadata:
    key: str
    subject_type: str
    subject: dict[str, Any]
    params: dict[str, str]
    #: (event type, summary type, summary window) rows, the base row first for each type.
    rows: list[tuple[str, str, str]]
    updated: dict[str, Optional[int]] = field(default_factory=dict)

    def registered(self, event_type: str) -> bool:
        return event_type in self.updated


def checksum(subject_type: str, subject: dict[str, Any], params: dict[str, Any],
             rows: list[tuple[str, str, str]]) -> str:
    """`ArchiveSerializer.calculate_checksum`: subject fields under their model names, all lower-cased."""
    h = hashlib.sha256()
    h.update(f"subject-type::{subject_type.lower()}".encode())
    for name in sorted(k.replace("-", "_") for k in subject):
        h.update(f",{name.lower()}::{str(subject[name.replace('_', '-')]).lower()}".encode())
    for key in sorted(params):
        h.update(f",{key.lower()}::{str(params[key]).lower()}".encode())
    for et, st, sw in sorted(rows):
        h.update(f",{et.lower()}::{st.lower()}::{sw.lower()}".encode())
    return h.hexdigest()


def _rows(event_types: Any) -> list[tuple[str, str, str]]:
    """`deserialize_event_types`, with its messages."""
    if event_types is None:
        return []
    if not isinstance(event_types, list):
        raise bad("event_types must be a list")
    rows: list[tuple[str, str, str]] = []
    for et in event_types:
        if not isinstance(et, dict) or "event-type" not in et:
            raise bad("No event-type defined")
        name = et["event-type"]
        if not isinstance(name, str) or name not in EVENT_TYPES:
            raise bad(f"Invalid event-type {name}")
        rows.append((name, "base", "0"))
        for summary in et.get("summaries") or []:
            if not isinstance(summary, dict) or "summary-type" not in summary:
                raise bad("Summary must contain summary-type")
            kind = summary["summary-type"]
            if kind not in PLURAL:
                raise bad(f"Invalid summary type '{kind}'")
            if kind == "base":
                continue
            if kind not in ALLOWED_SUMMARIES[EVENT_TYPES[name]]:
                raise bad(f"Summary type {kind} not allowed for event-type {name}")
            if "summary-window" not in summary:
                raise bad("Summary must contain summary-window")
            try:
                int(summary["summary-window"])
            except (TypeError, ValueError):
                raise bad("Summary window must be an integer") from None
            rows.append((name, kind, str(summary["summary-window"])))
    return rows


def validate(event_type: str, value: Any) -> Any:
    """The value as the type's validator stores it; ApiError 400 with its message otherwise."""
    kind = EVENT_TYPES[event_type]
    if kind == "integer":
        try:
            return int(value)
        except (TypeError, ValueError, OverflowError):
            raise bad("Value must be an integer") from None
    if kind == "float":
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad("Value must be a floating point number") from None
    if kind == "percentage":
        return _percentage(value)
    if kind == "histogram":
        if not isinstance(value, dict):
            raise bad("Invalid histogram provided")
        try:
            return {k: int(v) for k, v in value.items()}
        except (TypeError, ValueError):
            raise bad("Value of histogram must be an integer") from None
    if kind == "subinterval":
        if not isinstance(value, list) or not value or not all(
                isinstance(item, dict) and {"start", "duration", "val"} <= item.keys() for item in value):
            raise bad("Invalid subintervals provided")
        return value
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise bad("Value must be valid JSON") from None
    return value


def _percentage(value: Any) -> dict[str, int]:
    if not isinstance(value, dict) or "numerator" not in value:
        raise bad("Missing required field 'numerator'")
    if "denominator" not in value:
        raise bad("Missing required field 'denominator'")
    out: dict[str, int] = {}
    for name in ("numerator", "denominator"):
        try:
            out[name] = int(value[name])
        except (TypeError, ValueError):
            raise bad(f"The field '{name}' must be an integer") from None
    if out["denominator"] <= 0:
        raise bad("The field 'denominator' must be greater than 0")
    if out["numerator"] < 0:
        raise bad("The field 'numerator' cannot be negative")
    return out


class Archive:
    """Metadata and points, as the MA's database and Cassandra hold them."""

    def __init__(self) -> None:
        self.metadata: dict[str, Metadata] = {}
        self.by_checksum: dict[str, str] = {}
        self.series: dict[tuple[str, str], dict[int, Any]] = {}
        self.dropped: Counter[str] = Counter()   # points of event types their metadata did not register
        self.created = 0                           # metadata objects created (not found again)
        self.stored = 0                            # points written (overwrites included)
        self.conflicts = 0                         # points answered 409

    # ---- metadata ------------------------------------------------------------------
    def create(self, data: Any) -> tuple[Metadata, bool]:
        """POST /archive/: the metadata for `data` and whether it is new (201 either way)."""
        if not isinstance(data, dict) or "subject-type" not in data:
            raise bad("Missing subject-type field in request")
        if "event-types" not in data:
            raise bad("Missing event-types field in request")
        subject_type = data["subject-type"]
        if not isinstance(subject_type, str) or subject_type not in SUBJECTS:
            raise bad(f"Invalid subject type {subject_type}")
        if "metadata-key" in data:
            raise bad("metadata-key is not allowed to be specified")
        rows = _rows(data["event-types"])
        fields = SUBJECTS[subject_type]
        subject = {k: v for k, v in data.items() if k in fields}
        params = {k: v for k, v in data.items() if k not in fields and k not in ("subject-type", "event-types")}
        for name in fields:
            if name not in subject or subject[name] in (None, ""):
                raise bad(f"Missing required field {name}")
        for name in IP_FIELDS:
            if name in subject and not _is_ip(subject[name]):
                raise bad(f"{name} must be an IP address, not {subject[name]!r}")
        digest = checksum(subject_type, subject, params, rows)
        found = self.by_checksum.get(digest)
        if found is not None:
            return self.metadata[found], False
        key = uuid.uuid4().hex
        md = Metadata(key, subject_type, subject, {k: str(v) for k, v in params.items()}, rows)
        for et, _st, _sw in rows:
            md.updated.setdefault(et, None)
        self.metadata[key] = md
        self.by_checksum[digest] = key
        self.created += 1
        return md, True

    def get(self, key: str) -> Metadata:
        md = self.metadata.get(key)
        if md is None:
            raise ApiError(404, "Not found.")
        return md

    def find(self, query: dict[str, str], begin: Optional[int], end: Optional[int]) -> list[Metadata]:
        """GET /archive/ filters (IP fields by exact address: the double resolves no names)."""
        found = []
        for md in self.metadata.values():
            if all(self._matches(md, k, v) for k, v in query.items()) and self._updated_within(md, begin, end):
                found.append(md)
        return found

    @staticmethod
    def _matches(md: Metadata, name: str, value: str) -> bool:
        if name == "subject-type":
            return md.subject_type == value
        if name == "metadata-key":
            return md.key == value
        if name == "event-type":
            return md.registered(value)
        if name in ("summary-type", "summary-window"):
            return any(row[1 if name == "summary-type" else 2] == value for row in md.rows)
        if name in RESERVED:
            return True
        if name in SUBJECTS["point-to-point"]:
            return str(md.subject.get(name)) == value
        return md.params.get(name) == value

    @staticmethod
    def _updated_within(md: Metadata, begin: Optional[int], end: Optional[int]) -> bool:
        if begin is None:
            return True
        times = [t for t in md.updated.values() if t is not None]
        return any(t >= begin and (end is None or t <= end) for t in times)

    def represent(self, md: Metadata, base_url: str, alias: str) -> dict[str, Any]:
        """ArchiveSerializer.to_representation: dashed keys, uris, free-form values as strings."""
        uri = f"{alias}/perfsonar/archive/{md.key}/"
        event_types = []
        for et, updated in md.updated.items():
            summaries = [{"uri": f"{uri}{et}/{PLURAL[st]}/{sw}", "summary-type": st, "summary-window": sw,
                          "time-updated": updated} for e, st, sw in md.rows if e == et and st != "base"]
            event_types.append({"base-uri": f"{uri}{et}/base", "event-type": et, "time-updated": updated,
                                "summaries": summaries})
        out: dict[str, Any] = {"url": base_url + uri, "uri": uri, "metadata-key": md.key,
                               "subject-type": md.subject_type, **md.subject, "event-types": event_types}
        out.update(md.params)
        return out

    # ---- points ----------------------------------------------------------------------
    def save(self, key: str, event_type: str, ts: Any, value: Any, now: int) -> None:
        """PSTimeSeriesObject.save. An event type unknown to the MA is a KeyError there (500)."""
        if event_type not in EVENT_TYPES:
            raise ApiError(500, None)
        try:
            at = int(ts)
        except (TypeError, ValueError):
            raise ApiError(500, None) from None  # int(self.time) raises outside any handler
        points = self.series.get((key, event_type))
        if EVENT_TYPES[event_type] in NON_RAW and points is not None and at in points:
            self.conflicts += 1
            raise ApiError(409, f"Time series value already exists with event type {event_type} at time {at}")
        md = self.metadata.get(key)
        if md is None or not md.registered(event_type):
            self.dropped[event_type] += 1
            return
        stored = validate(event_type, value)
        self.series.setdefault((key, event_type), {})[at] = stored
        md.updated[event_type] = now
        self.stored += 1

    def bulk(self, key: str, data: Any, now: int) -> None:
        """ArchiveViewset.update: each item checked, then its values saved, in order (no rollback)."""
        if not isinstance(data, dict) or "data" not in data:
            raise bad("Request must contain 'data' element")
        if not isinstance(data["data"], list):
            raise bad("The 'data' element must be an array")
        for i, item in enumerate(data["data"], 1):
            if not isinstance(item, dict) or "ts" not in item:
                raise bad(f"Missing ts field in provided data list at position {i}")
            if "val" not in item:
                raise bad(f"Missing val field in provided data list at position {i}")
            if not isinstance(item["val"], list):
                raise bad(f"'val' field must be an array in provided data list at position {i}")
            for j, value in enumerate(item["val"], 1):
                if not isinstance(value, dict) or "event-type" not in value:
                    raise bad(f"Missing event-type field at data item {i} in value {j} ")
                if "val" not in value:
                    raise bad(f"Missing val field at data item {i} in value {j} ")
                self.save(key, value["event-type"], item["ts"], value["val"], now)

    def points(self, key: str, event_type: str, begin: int, end: Optional[int]) -> list[dict[str, Any]]:
        """Base points of a series in [begin, end], by ts, as the read API shows them."""
        kind = EVENT_TYPES[event_type]
        out = []
        for ts, value in sorted(self.series.get((key, event_type), {}).items()):
            if ts < begin or (end is not None and ts > end):
                continue
            if kind == "integer":
                value = float(value)  # the rate column family gives floats back (GET_throughput_base.json)
            elif kind == "percentage":
                value = value["numerator"] / value["denominator"]
            out.append({"ts": ts, "val": value})
        return out


def _is_ip(value: Any) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def time_filters(params: dict[str, str], now: int) -> tuple[int, Optional[int]]:
    """`handle_time_filters`: (begin, end); end None = open. No filter at all means [0, now]."""
    def value(name: str) -> int:
        try:
            return int(params[name])
        except ValueError:
            raise bad("Time parameter must be an integer") from None
    has = {k for k in ("time", "time-start", "time-end", "time-range") if k in params}
    begin: int = 0
    end: Optional[int] = now
    if "time" in has:
        begin = end = value("time")
    elif {"time-start", "time-end"} <= has:
        begin, end = value("time-start"), value("time-end")
    elif {"time-start", "time-range"} <= has:
        begin = value("time-start")
        end = begin + value("time-range")
    elif {"time-end", "time-range"} <= has:
        end = value("time-end")
        begin = end - value("time-range")
    elif "time-start" in has:
        begin, end = value("time-start"), None
    elif "time-end" in has:
        end = value("time-end")
    elif "time-range" in has:
        begin, end = now - value("time-range"), None
    if end is not None and end < begin:
        raise bad("Requested start time must be less than end time")
    return begin, end


def integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise bad("limit and offset must be integers") from None
