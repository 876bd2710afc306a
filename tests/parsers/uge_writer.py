"""A Grid Engine accounting writer and hypothesis strategies for records it can write.

The tests generate `data` dicts of the `uge-accounting` shape, write them with `write()` the
way sge_rusage.c / UGE do (`:` between fields, times as integers in the record's own unit) and
expect the parser to give the same dict back. Floats are written with repr() so that the value
survives exactly; text has no `:` and no line breaks, which no writer can put in a field either.
"""
from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from parsers.uge_accounting import FIELDS, LAYOUTS, NAMES

WIDTHS = {layout: width for width, layout in LAYOUTS.items()}
_KINDS = dict(FIELDS)
_TIMES = ("submission_time", "start_time", "end_time", "ar_submission_time")


def write(data: dict[str, Any]) -> bytes:
    """One accounting line (without its newline) holding `data`'s named fields, then `extra`."""
    values = [data[name] for name in NAMES[:WIDTHS[data["layout"]]]] + list(data.get("extra", []))
    return ":".join(v if isinstance(v, str) else repr(v) for v in values).encode()


_text = st.text(st.characters(codec="utf-8", exclude_characters=":\n\r"), max_size=12)
_first = _text.filter(lambda s: not s.startswith("#"))  # a line that starts with `#` is a comment
_floats = st.floats(allow_nan=False, allow_infinity=False)
_ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)
#: Epoch times in each unit, after 1973 (the boundary the parser tells ms from s by) or 0.
_ms_times = st.one_of(st.just(0), st.integers(min_value=10**11 + 1, max_value=10**13))
_s_times = st.integers(min_value=1, max_value=10**10)


@st.composite
def records(draw: st.DrawFn, layout: str) -> dict[str, Any]:
    """A `data` dict as the parser gives it for a line of `layout` (sge60, sge or uge)."""
    unit = draw(st.sampled_from(["s", "ms"]))
    times = _ms_times if unit == "ms" else _s_times
    data: dict[str, Any] = {}
    for name in NAMES[:WIDTHS[layout]]:
        kind = _KINDS[name]
        if name in _TIMES:
            data[name] = draw(times)
        elif kind == "int":
            data[name] = draw(_ints)
        elif kind == "float":
            data[name] = draw(_floats)
        else:
            data[name] = draw(_first if name == "qname" else _text)
    if unit == "ms" and layout != "uge" and max(data[t] for t in _TIMES[:3]) == 0:
        data["end_time"] = 10**12  # all-zero times read as ms only on a uge line
    if layout == "uge":
        extra = draw(st.lists(_text, max_size=25))
        if extra:
            data["extra"] = extra
    data["time_unit"] = unit
    data["layout"] = layout
    return data
