"""A batch as esmond PUT bodies: records grouped by metadata, every point serialised once (pure).

`Encoder.encode` turns spooled envelopes into `Group`s, one per metadata as far as it is
known before this host's address is resolved (`Memo`), each holding one `Row` per record
in spool order and the bulk PUT body of the rows kept (`settle`). The client then only
resolves addresses, merges the rare groups that turn out to be one metadata, and sends
the bodies; it never walks a record again unless esmond answers 409 (the points are then
read back from the rows, byte for byte what was sent).

Speed (the drain's critical path): a `gridftp` envelope is read straight from the decoded
dict with the metadata of its setup cached (`_transfer`), and each record leaves behind one
tuple of atoms (no per-point tuples or dicts, which also keeps the cyclic GC from walking
20000 records' worth of containers on every collection). Any record the fast path is not
sure of goes through `measure` (measure.py), which gives the same result or the reason it
is refused; so does every other format.
"""
from __future__ import annotations

from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Iterable, Optional, Sequence

import orjson

from . import gridftp
from .measure import measure
from .measurement import COUNTED, Options, Unusable

_dumps = orjson.dumps
_loads = orjson.loads
#: (fields, agent, agent fields, event types): a Measurement's metadata before the agent's address is known.
Memo = tuple[Any, ...]
#: (position in the batch, record id, ts, its points as comma-joined JSON objects, its COUNTED event types);
#: the points stay (event type, value) pairs when orjson cannot write them (see Encoder.encode)
Row = tuple[int, str, int, Any, tuple[str, ...]]
#: (ts, event type, value, record id)
Point = tuple[int, str, Any, str]
_SETUPS = 4096
#: A START's seconds as start_second() reads them, for the two ASCII digits the parser writes.
_SECONDS = {f"{n:02d}": n for n in range(100)}
_THROUGHPUT = ("throughput",)
_NONE: tuple[str, ...] = ()
_TP = b'{"event-type":"throughput","val":'
_RETRANS = b'{"event-type":"streams-packet-retransmits","val":'
_FILE = b'{"event-type":"' + gridftp.FILE_EVENT_TYPE.encode() + b'","val":{"gridftp-file":'
#: A gridftp record's fields that make its metadata (with user and volume when those are sent).
_SETUP_OF = itemgetter("type", "host", "dest", "prog", "streams", "stripes", "block", "buffer")


class Group:
    """One metadata's share of a batch (as far as encode knows it): its rows and what is sent of them."""

    __slots__ = ("memo", "rows", "kept", "collisions", "bulk")

    def __init__(self, memo: Memo) -> None:
        self.memo = memo
        self.rows: list[Row] = []
        self.kept: list[Row] = []
        self.collisions = 0
        self.bulk: Optional[bytes] = b""

    def settle(self) -> Group:
        self.kept, self.collisions, self.bulk = settle(self.rows)
        return self


@dataclass(frozen=True)
class Encoded:
    """A batch as groups of rows by metadata, and the records that cannot be archived, with why."""

    groups: tuple[Group, ...]
    refused: tuple[tuple[str, str], ...]


def settle(rows: Iterable[Row]) -> tuple[list[Row], int, Optional[bytes]]:
    """(the rows sent, how many are left out, the bulk PUT body of the rows sent: b"" without points,
    None when a point cannot be written, which bulk() raises when the group is PUT).

    esmond keeps one value per second of a COUNTED event type: a record whose (ts, type) an
    earlier record of the metadata took is left out. In the body, consecutive points of one
    ts share an item, in row order (esmond's bulk format; rows' ts fit the 64 bits orjson
    writes, see Encoder.encode).
    """
    taken: set[Any] = set()  # ts for throughput (most rows count only that), else (ts, event type)
    kept: list[Row] = []
    pieces: list[bytes] = []
    collisions = 0
    last = None
    writable = True
    for row in rows:
        counted = row[4]
        if counted:
            ts = row[2]
            if counted is _THROUGHPUT:
                if ts in taken:
                    collisions += 1
                    continue
                taken.add(ts)
            else:
                marks = {ts if et == "throughput" else (ts, et) for et in counted}
                if not taken.isdisjoint(marks):
                    collisions += 1
                    continue
                taken |= marks
        kept.append(row)
        points = row[3]
        if points:
            ts = row[2]
            if type(points) is not bytes:
                writable = False
            elif ts != last:
                pieces.append(b']},{"ts":%d,"val":[%b' % (ts, points))
                last = ts
            else:
                pieces.append(b"," + points)
    if not writable:
        return kept, collisions, None
    if not pieces:
        return kept, collisions, b""
    pieces[0] = b'{"data":[' + pieces[0][3:]
    pieces.append(b"]}]}")
    return kept, collisions, b"".join(pieces)


def points_of(rows: Sequence[Row]) -> list[Point]:
    """The points of `rows` in order, read back from their JSON (the same bytes when serialised again)."""
    points: list[Point] = []
    for _pos, rid, ts, body, _counted in rows:
        if type(body) is not bytes:
            points.extend((ts, et, value, rid) for et, value in body)
        elif body:
            points.extend((ts, p["event-type"], p["val"], rid) for p in _loads(b"[" + body + b"]"))
    return points


def bulk(points: Sequence[Point]) -> bytes:
    """esmond's bulk body: consecutive points of one ts share an item, in the order given."""
    data: list[dict[str, Any]] = []
    for ts, event_type, value, _rid in points:
        if not data or data[-1]["ts"] != ts:
            data.append({"ts": ts, "val": []})
        data[-1]["val"].append({"event-type": event_type, "val": value})
    return _dumps({"data": data})


class Encoder:
    """Envelopes to groups for one sink's options; remembers the metadata of the transfer setups it has seen."""

    def __init__(self, options: Options) -> None:
        self._options = options
        self._private = options.send_user or options.send_volume
        self._setups: dict[tuple[Any, ...], Memo] = {}
        self._failures: dict[int, bytes] = {}
        self._minutes: dict[str, int] = {}

    def encode(self, records: Sequence[bytes]) -> Encoded:
        """The batch's groups in first-seen order (pure: the same batch always gives the same result)."""
        by_memo: dict[Memo, Group] = {}
        by_setup: dict[tuple[Any, ...], Group] = {}
        refused: list[tuple[str, str]] = []
        transfer = self._transfer
        for pos, line in enumerate(records):
            try:
                envelope = _loads(line)
            except orjson.JSONDecodeError:
                refused.append(("", "the record is not a JSON envelope"))
                continue
            if type(envelope) is dict and envelope.get("format") == "gridftp":
                try:
                    if transfer(pos, envelope, by_setup, by_memo):
                        continue
                except Exception:  # noqa: BLE001 - measure() below raises it again, or refuses the record
                    pass
            try:
                found = measure(envelope if isinstance(envelope, dict) else {}, self._options)
            except Unusable as exc:
                refused.append((_id(envelope), str(exc)))
                continue
            except (TypeError, ValueError, AttributeError, KeyError) as exc:  # a shape no parser writes
                refused.append((_id(envelope), f"the record's data has a shape the esmond sink cannot read "
                                               f"({type(exc).__name__}: {exc})"))
                continue
            if found is None:
                continue
            memo = (found.fields, found.agent, found.agent_fields, found.event_types)
            group = by_memo.get(memo)
            if group is None:
                group = by_memo[memo] = Group(memo)
            body: Any
            try:
                body = _dumps([{"event-type": et, "val": v} for et, v in found.points])[1:-1]
                if body:
                    _dumps(found.ts)
            except orjson.JSONEncodeError:  # an integer beyond 64 bits: raised by bulk() if the record is sent
                body = found.points
            counted = tuple(et for et, _v in found.points if et in COUNTED)
            if counted == _THROUGHPUT:
                counted = _THROUGHPUT  # the very tuple settle() recognises
            group.rows.append((pos, found.record_id, found.ts, body, counted))
        return Encoded(tuple(g.settle() for g in by_memo.values() if g.rows), tuple(refused))

    def _transfer(self, pos: int, envelope: dict[str, Any], by_setup: dict[tuple[Any, ...], Group],
                  by_memo: dict[Memo, Group]) -> bool:
        """Add a `gridftp` record's row to its group; True when done (or not archived), False when unsure.

        Exactly what measure() makes of the record when it accepts it: the same checks, in
        types as orjson decodes them (int is never a bool or a float here). A missing key
        raises KeyError, which also leaves the record to measure().
        """
        rid, data = envelope["id"], envelope["data"]
        if type(rid) is not str or type(data) is not dict:
            return False
        setup = _SETUP_OF(data)
        kind = setup[0]
        if kind != "RETR" and kind != "STOR":
            return True  # LIST, NLST, ESTO...: not archived
        if type(setup[4]) is not int or type(setup[5]) is not int or type(setup[6]) is not int or \
                type(setup[7]) is not int:
            return False  # checked here: a cached key equal to 4 would also match 4.0 or True
        options = self._options
        if self._private:
            setup += (data["user"] if options.send_user else None, data["volume"] if options.send_volume else None)
        group = by_setup.get(setup)
        if group is None:
            memo = self._setups.get(setup) or self._setup(setup)
            if memo is None:
                return False
            group = by_memo.get(memo)
            if group is None:
                group = by_memo[memo] = Group(memo)
            by_setup[setup] = group
        code, start = data["code"], data["start"]
        if type(code) is not int or type(start) is not str:
            return False
        if code != 226:
            body = self._failures.get(code)
            if body is None:
                body = self._failures[code] = _dumps([{"event-type": "failures",
                                                        "val": {"error": gridftp.failure_text(code)}}])[1:-1]
            counted = _NONE
        else:
            duration, nbytes, retrans = data["duration"], data["nbytes"], data["retrans"]
            if (type(duration) is not float and type(duration) is not int) or type(nbytes) is not int:
                return False
            duration = float(duration)
            if duration > 0:
                body = _TP + _dumps(int(8 * nbytes / duration)) + b"}"
                counted = _THROUGHPUT
            else:
                body, counted = b"", _NONE
            if type(retrans) is list:
                body = (body + b"," if body else b"") + _RETRANS + _dumps(retrans) + b"}"
        if options.send_file:
            name = data["file"]
            if type(name) is not str or not name:
                return False
            body = (body + b"," if body else b"") + _FILE + _dumps(name) + b"}}"
        minute = self._minutes.get(start[:17])
        if minute is None:
            minute = self._minute(start[:17])
        second = _SECONDS.get(start[17:19])
        if minute < 0 or second is None:
            return False
        group.rows.append((pos, rid, minute + second, body, counted))
        return True

    def _minute(self, prefix: str) -> int:
        """The epoch second a START's "YYYY-MM-DDTHH:MM:" names, as start_second() reads it; negative (-1, or
        a minute before 1970) leaves the record to measure(), as does anything but ASCII digits."""
        hour, minute = prefix[11:13], prefix[14:16]
        found = -1
        if len(prefix) == 17 and prefix[16] == ":" and (hour + minute).isascii():
            try:
                found = gridftp.start_second({"start": prefix + "00"})
            except Unusable:
                pass
        if len(self._minutes) >= _SETUPS:
            self._minutes.clear()
        self._minutes[prefix] = found
        return found

    def _setup(self, setup: tuple[Any, ...]) -> Optional[Memo]:
        """The memo of a transfer setup not seen before; None when measure() must judge it."""
        kind, host, dest, prog = setup[:4]
        user, volume = setup[8:] if self._private else (None, None)
        texts = (host, dest, prog) + ((user,) if self._options.send_user else ()) + (
            (volume,) if self._options.send_volume else ())
        if not all(type(value) is str and value for value in texts):
            return None
        try:
            memo = gridftp.metadata(kind, "gridftp", setup[1:8], user, volume, self._options)
        except Unusable:
            return None
        if len(self._setups) >= _SETUPS:
            self._setups.clear()
        self._setups[setup] = memo
        return memo


def _id(envelope: Any) -> str:
    return str(envelope.get("id", "")) if isinstance(envelope, dict) else ""
