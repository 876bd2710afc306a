"""The `lines` format: a line is kept as text, whatever bytes it holds."""
from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from parsers import Parsed
from parsers.lines import parse

SAMPLES = Path(__file__).parent / "samples" / "lines"

line_text = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\n"))


@given(text=line_text)
def test_any_text_line_round_trips_as_the_message(text: str) -> None:
    assert parse(text.encode("utf-8")) == Parsed("line", None, {"message": text})


def test_invalid_utf8_is_kept_with_replacement_characters() -> None:
    assert parse(b"core \xff\xfe dumped \xc3").data == {"message": "core \ufffd\ufffd dumped \ufffd"}


@given(raw=st.binary())
def test_any_bytes_parse_without_raising(raw: bytes) -> None:
    assert parse(raw).data["message"] == raw.decode("utf-8", "replace")


def test_first_gridftp_sample_line_is_the_whole_message() -> None:
    first = (SAMPLES / "nersc-pytokio-globuslogs-transfer.log").read_bytes().splitlines()[0]
    record = parse(first)
    assert record.data["message"].startswith("DATE=20190731073044.992375 HOST=dtn11.nersc.gov")
    assert record.data["message"].endswith("TYPE=STOR CODE=226")


def test_lmod_sample_line_keeps_its_syslog_prefix() -> None:
    line = (SAMPLES / "pittcrc_readme_example.log").read_bytes().rstrip(b"\n")
    assert parse(line) == Parsed("line", None, {"message": (
        "Apr 27 03:22:57 node1 ModuleUsageTracking: user=usr123 module=gcc/5.4.0 "
        "path=/modules/gcc/5.4.0.lua host=node1.domain.com time=1682580177.622180")})
