"""The shapes a record takes on its way to esmond, and esmond's identity of a metadata object.

`Measurement` is one record's contribution (measure.py builds it, per format in
gridftp.py and iperf3.py); `metadata_body()` completes its metadata once the client knows
this host's address, and `checksum()` is esmond's own identity of a metadata object
(api_v2.py `calculate_checksum`), so the client's cache treats two bodies as one exactly
when the archive does. Pure: no I/O.
"""
from __future__ import annotations

import functools
import hashlib
import ipaddress
from dataclasses import dataclass
from typing import Any, NamedTuple, Optional, Union

#: esmond subject fields of a point-to-point metadata (types.py SUBJECT_FILTER_MAP).
SUBJECT_FIELDS = ("source", "destination", "measurement-agent", "tool-name", "input-source", "input-destination")
#: Event types esmond keeps one value per second for and answers 409 on again (integer, float,
#: percentage types); the others (json, subinterval, histogram) are overwritten.
COUNTED = frozenset({"throughput", "packet-retransmits", "packet-count-lost", "packet-count-sent",
                     "packet-loss-rate"})


class Unusable(Exception):
    """The record cannot become an esmond measurement; the reason says why (it is dead-lettered)."""


@dataclass(frozen=True)
class Lookup:
    """An address still to be found: `host` resolved in `family` (socket.AF_INET, AF_INET6 or AF_UNSPEC)."""

    host: str
    family: int


@dataclass(frozen=True)
class Options:
    """The sink settings that change what a record becomes."""

    send_file: bool = False
    send_user: bool = False
    send_volume: bool = False
    measurement_agent: Optional[str] = None


class Measurement(NamedTuple):
    """One record's contribution: `points` at `ts`, to the metadata the other fields describe.

    `agent_fields` are the subject fields that take the measurement agent's address
    (measurement-agent always; source or destination too for GridFTP, whose local end
    is this host). A NamedTuple, not a frozen dataclass: one is built per record.
    """

    record_id: str
    fields: tuple[tuple[str, str], ...]
    agent: Union[str, Lookup]
    agent_fields: tuple[str, ...]
    event_types: tuple[str, ...]
    ts: int
    points: tuple[tuple[str, Any], ...]


def metadata_body(m: Measurement, agent: str) -> dict[str, Any]:
    """The metadata POST body of `m` once the measurement agent's address is known."""
    return body_of(m.fields, m.agent_fields, m.event_types, agent)


def body_of(fields: tuple[tuple[str, str], ...], agent_fields: tuple[str, ...], event_types: tuple[str, ...],
            agent: str) -> dict[str, Any]:
    """metadata_body() from a Measurement's metadata parts (what the client groups a batch by)."""
    body: dict[str, Any] = {"subject-type": "point-to-point"}
    body.update(fields)
    for name in agent_fields:
        body[name] = agent
    body["event-types"] = [{"event-type": et} for et in event_types]
    return body


def checksum(body: dict[str, Any]) -> str:
    """esmond's checksum of a metadata body: subject, free-form keys and event types, lower-cased, sorted."""
    h = hashlib.sha256()
    h.update(f"subject-type::{str(body['subject-type']).lower()}".encode())
    subject = sorted((k.replace("-", "_"), v) for k, v in body.items() if k in SUBJECT_FIELDS)
    params = sorted((k, v) for k, v in body.items() if k not in SUBJECT_FIELDS and k not in
                    ("subject-type", "event-types"))
    for key, value in subject + params:
        h.update(f",{key.lower()}::{str(value).lower()}".encode())
    for et in sorted(str(e["event-type"]) for e in body["event-types"]):
        h.update(f",{et.lower()}::base::0".encode())
    return h.hexdigest()


def text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise Unusable(f"the record's {name} is missing or not text")
    return value


def count(data: dict[str, Any], name: str) -> int:
    value = data.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise Unusable(f"the record's {name} is missing or not an integer")
    return value


def number(data: dict[str, Any], name: str) -> float:
    value = data.get(name)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise Unusable(f"the record's {name} is missing or not a number")
    return float(value)


def is_ip(value: str) -> bool:
    return ip_version(value) != 0


@functools.lru_cache(maxsize=4096)
def ip_version(value: str) -> int:
    """4 or 6 for an IP address, 0 for anything else; cached: a log names few hosts, and
    ipaddress's parser was a third of the cost of encoding a GridFTP record."""
    try:
        return ipaddress.ip_address(value).version
    except ValueError:
        return 0
