"""Pure parsers, one module per log format, and the registry that names them.

Registering a format here enrols it in the shared fuzz and samples tests. The
registry is literal imports plus a dict: PyInstaller cannot see computed imports.
"""
from __future__ import annotations

from . import bwctl_iperf3 as _bwctl_iperf3
from . import gridftp as _gridftp
from . import gridftp_json as _gridftp_json
from . import iperf3 as _iperf3
from . import json as _json
from . import lines as _lines
from . import lmod as _lmod
from . import openlava_acct as _openlava_acct
from . import openlava_events as _openlava_events
from . import uge_accounting as _uge_accounting
from typing import Callable, Optional

from .framing import Framer
from .record import ENVELOPE_KEYS, ParseError, Parsed, Parser

FORMATS: dict[str, Parser] = {
    _lines.NAME: _lines.parse,
    _json.NAME: _json.parse,
    _uge_accounting.NAME: _uge_accounting.parse,
    _openlava_events.NAME: _openlava_events.parse,
    _openlava_acct.NAME: _openlava_acct.parse,
    _iperf3.NAME: _iperf3.parse,
    _bwctl_iperf3.NAME: _bwctl_iperf3.parse,
    _gridftp.NAME: _gridftp.parse,
    _gridftp_json.NAME: _gridftp_json.parse,
    _lmod.NAME: _lmod.parse,
}

#: Formats whose every record is `{field: the raw line as text}` with a fixed type and
#: no time (name -> (type, field)). The agent builds those envelopes without a dict per
#: record, the hot path of raw-line shipping; a test holds the result equal to parse().
TEXT_RECORDS: dict[str, tuple[str, str]] = {
    _lines.NAME: (_lines.TYPE, _lines.TEXT_FIELD),
}

#: Formats whose files, when a writer replaces them, begin by re-containing records of the
#: previous file (name -> function of the first line giving the byte offset where the new
#: records start, or None). openlava's lsb.events switch does this (`#<offset>` header).
HISTORY_OFFSETS: dict[str, Callable[[bytes], Optional[int]]] = {
    _openlava_events.NAME: _openlava_events.history_offset,
}


#: Formats whose records are not one line each (parsers/framing.py): name -> framer.
FRAMERS: dict[str, Framer] = {
    _gridftp.NAME: _gridftp.frame,
    _gridftp_json.NAME: _gridftp_json.frame,
}

#: Formats whose record is a whole input (a command's output): the pipe source gives the
#: parser everything it read; a file source cannot follow them.
DOCUMENTS: frozenset[str] = frozenset({_iperf3.NAME, _bwctl_iperf3.NAME})


def parser_for(name: str) -> Parser:
    """The parser registered under `name`; KeyError lists the known names."""
    try:
        return FORMATS[name]
    except KeyError:
        raise KeyError(f"unknown format {name!r}; known: {', '.join(sorted(FORMATS))}") from None


__all__ = ["DOCUMENTS", "ENVELOPE_KEYS", "FRAMERS", "Framer", "HISTORY_OFFSETS", "TEXT_RECORDS", "FORMATS", "ParseError", "Parsed", "Parser", "parser_for"]
