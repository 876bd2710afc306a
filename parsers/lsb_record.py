"""One line of an openlava/LSF event log read into a record: header, layout, unknown types, errors.

Every record starts `"TYPE" "VERSION" eventTime`. The rest is read with the layout of that
type at that version, compiled once per (type, version) and kept. A type without a layout
(LSF-only events such as JOB_FORWARD, or anything new) is a record too:
`{"version", "eventTime", "unknown": true, "fields": [the tokens]}`. A `ParseError` is only
for a line that is damaged: not a record at all, a field of the wrong kind, a record cut
short, an unterminated quoted string; it names the field and the byte offset.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple, Optional

from .lsb_events import Version, version
from .lsb_layout import Bad, Layout, check_layout, compile_layout
from .lsb_tokens import Token, leading_zero, lex, lex_slow, plain_list, show, skipped, spans
from .record import ParseError, Parsed

_HEAD = (("version", "t[1]"), ("eventTime", "_index(t[2])"))
_new = tuple.__new__
_CACHE_LIMIT = 512  # (type, version) pairs; a damaged file could invent many
_LEADING_ZERO_NOTE = " (a leading zero, which %d never writes: two fields run together?)"

Layouts = Mapping[str, Callable[[Version], Optional[Layout]]]


class _Reader(NamedTuple):
    fast: Callable[[list[Token]], dict[str, Any]]
    layout: Optional[Layout]
    verified: bool  # False: a record that does not fit is an unknown record, not an error


def _unknown(t: list[Token]) -> dict[str, Any]:
    return {"version": t[1], "eventTime": t[2], "unknown": True, "fields": plain_list(t[3:])}


_UNKNOWN = _Reader(_unknown, None, True)


class EventLog:
    """The records of one kind of file, given the event types it knows."""

    def __init__(self, layouts: Layouts, lsf_verified: frozenset[str]) -> None:
        self.layouts = layouts
        self.lsf_verified = lsf_verified
        self.readers: dict[tuple[str, str], _Reader] = {}

    def parse(self, raw: bytes) -> Optional[Parsed]:
        """One line -> a record, None for a blank or `#` line, or ParseError."""
        if raw[:1] != b'"' and skipped(raw):
            return None
        t = lex(raw)
        if t is None:
            raise self._unterminated(raw)
        try:
            etype = t[0]
            reader = self.readers[etype, t[1]]  # type: ignore[index]  # a bad header is not a key
        except (KeyError, IndexError):
            reader = self._reader(raw, t)
        try:
            data = reader.fast(t)
        except (TypeError, ValueError, IndexError):
            data = self._checked(reader, raw, t)
        except Bad as bad:  # from a hand-written step, already precise
            data = _failed(reader, raw, t, bad)
        return _new(Parsed, (etype, float(t[2]), data))  # NamedTuple's __new__ is twice as slow

    def _reader(self, raw: bytes, t: list[Token]) -> _Reader:
        if len(t) < 3 or type(t[0]) is not str or not t[0] or type(t[1]) is not str or type(t[2]) is not int:
            raise _header_error(raw, t)
        etype, text = t[0], t[1]
        v = version(text)
        if v is None:
            raise ParseError(f'not a version number: "{text}" (openlava writes e.g. "22", LSF e.g. "10.108")',
                             field="version", offset=_offset(raw, 1))
        make = self.layouts.get(etype)
        layout = make(v) if make is not None else None
        if layout is None:
            reader = _UNKNOWN
        else:
            reader = _Reader(compile_layout(layout, head=_HEAD, start=3), layout,
                             not v.lsf or etype in self.lsf_verified)
        if len(self.readers) >= _CACHE_LIMIT:
            self.readers.clear()
        self.readers[(etype, text)] = reader
        return reader

    def _checked(self, reader: _Reader, raw: bytes, t: list[Token]) -> dict[str, Any]:
        if type(t[2]) is not int:
            raise _header_error(raw, t)
        assert reader.layout is not None, "the unknown reader fails only on the header"
        try:
            return check_layout(reader.layout, t, {"version": t[1], "eventTime": t[2]}, 3)
        except Bad as bad:
            return _failed(reader, raw, t, bad)

    def _unterminated(self, raw: bytes) -> ParseError:
        lexed = lex_slow(raw)
        return ParseError("unterminated quoted string", field=self._field_at(raw, lexed.tokens),
                          offset=lexed.unterminated)

    def _field_at(self, raw: bytes, before: list[Token]) -> Optional[str]:
        """The field that the token after `before` would fill."""
        if len(before) < 3:
            return ("type", "version", "eventTime")[len(before)]
        etype, text = before[0], before[1]
        v = version(text) if isinstance(text, str) else None
        make = self.layouts.get(etype) if isinstance(etype, str) else None
        layout = make(v) if make is not None and v is not None else None
        if layout is None:
            return None
        try:
            check_layout(layout, before, {}, 3)
        except Bad as bad:
            return bad.field
        return "unparsed"


def _failed(reader: _Reader, raw: bytes, t: list[Token], bad: Bad) -> dict[str, Any]:
    if not reader.verified:
        return _unknown(t)
    raise _error(raw, t, bad) from None


def _offset(raw: bytes, index: int) -> int:
    found = spans(raw)
    return found[index][0] if index < len(found) else len(raw)


def _error(raw: bytes, t: list[Token], bad: Bad) -> ParseError:
    reason = bad.reason
    if bad.got and bad.index < len(t):
        span = spans(raw)[bad.index]
        reason += f", got {show(raw, span)}"
        if leading_zero(raw, span):
            reason += _LEADING_ZERO_NOTE
    return ParseError(reason, field=bad.field, offset=_offset(raw, bad.index))


def _header_error(raw: bytes, t: list[Token]) -> ParseError:
    found = spans(raw)
    for index, (name, kind) in enumerate((("type", "the quoted event type"), ("version", "the quoted version"),
                                          ("eventTime", "an integer"))):
        if index >= len(t):
            return ParseError(f"missing (the record ends after {len(t)} fields)", field=name, offset=len(raw))
        ok = type(t[index]) is (int if index == 2 else str)
        if not ok:
            return ParseError(f"expected {kind}, got {show(raw, found[index])}", field=name, offset=found[index][0])
        if index == 0 and not t[0]:
            return ParseError("empty event type", field="type", offset=found[0][0])
    raise AssertionError("only called for a bad header")
