"""The suite every registered format runs: fuzzing, real samples, name <-> module, own tests.

Everything here is parametrised over `parsers.FORMATS`, so registering a format enrols it
(STYLE.md §2): it must then survive arbitrary bytes (a record, None or `ParseError`, never
another exception), parse every line of its samples under `samples/<format>/`, live in
`parsers/<format with - as _>.py` with a matching `NAME`, and have `test_<module>.py` here.
"""
from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parsers import DOCUMENTS, FORMATS, FRAMERS, ParseError, Parsed

HERE = Path(__file__).parent
SAMPLES = HERE / "samples"
PARSERS_DIR = HERE.parent.parent / "parsers"
NOT_FORMATS = {"__init__", "record", "framing", "iperf3_result", "gridftp_fields",
               "lsb_tokens", "lsb_layout", "lsb_events", "lsb_job_finish", "lsb_record"}  # openlava's helpers

formats = pytest.mark.parametrize("name", sorted(FORMATS))

#: Bytes a parser may meet: anything; one line's worth (no newline); and JSON-shaped text,
#: so that the fuzzing reaches past the first byte of structured formats.
any_bytes = st.one_of(
    st.binary(),
    st.binary().map(lambda b: b.replace(b"\n", b"")),
    st.text().map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.builds(lambda k, v: b'{"%s":%s}' % (k, v), st.sampled_from([b"time", b"timestamp", b"@timestamp"]),
              st.one_of(st.binary(), st.text().map(lambda t: b'"%s"' % t.encode("utf-8", "surrogatepass")))),
)


def _module_name(name: str) -> str:
    return name.replace("-", "_")


def _sample_lines(name: str) -> list[tuple[Path, int, bytes]]:
    """The raw units of a format's sample files: lines, the framer's units, or whole documents
    (numbered by unit)."""
    out = []
    for path in sorted((SAMPLES / name).iterdir()):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if name in DOCUMENTS:
            units = [data]
        elif name in FRAMERS:
            units = [data[s:e] for s, e in FRAMERS[name](data, True)[0]]
        else:
            units = [raw.rstrip(b"\r") for raw in data.splitlines()]
        out += [(path, n, unit) for n, unit in enumerate(units, start=1)]
    return out


@formats
@given(raw=any_bytes)
def test_any_bytes_give_a_record_none_or_parse_error(name: str, raw: bytes) -> None:
    try:
        result = FORMATS[name](raw)
    except ParseError:
        return
    except Exception as exc:  # noqa: BLE001 - the point: nothing else may escape
        pytest.fail(f"{name} raised {type(exc).__name__}: {exc} on {raw!r}")
    assert result is None or isinstance(result, Parsed)


@formats
def test_every_sample_line_parses_to_a_record(name: str) -> None:
    lines = _sample_lines(name)
    parsed = [(f"{path.name}:{n}", raw, FORMATS[name](raw)) for path, n, raw in lines]
    assert lines, f"no samples under {SAMPLES / name}"
    # A `#` header or comment line (UGE's `# Version: 8.2.0`) is the one a format may skip (None).
    assert [where for where, raw, record in parsed
            if not isinstance(record, Parsed) and not (record is None and raw.startswith(b"#"))] == []


@formats
def test_every_format_has_samples_with_provenance(name: str) -> None:
    listed = (SAMPLES / "SOURCES.md").read_text()
    files = [p.name for p in (SAMPLES / name).iterdir() if p.is_file()]
    assert files
    assert [f for f in files if f"`{f}`" not in listed] == []


@formats
def test_format_name_is_served_by_the_module_of_that_name(name: str) -> None:
    module = importlib.import_module(f"parsers.{_module_name(name)}")
    assert (PARSERS_DIR / f"{_module_name(name)}.py").is_file()
    assert (module.NAME, FORMATS[name]) == (name, module.parse)


def test_every_parser_module_is_registered() -> None:
    modules = {p.stem for p in PARSERS_DIR.glob("*.py")} - NOT_FORMATS
    assert modules == {_module_name(name) for name in FORMATS}


@formats
def test_every_format_has_its_own_test_module(name: str) -> None:
    assert (HERE / f"test_{_module_name(name)}.py").is_file()
