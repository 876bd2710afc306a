"""The spooled record envelope: key order, deterministic ids, and reading an id back cheaply."""
from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from agent.envelope import EnvelopeEncoder, file_record_id, record_id, split_lines
from agent.sources.line_block import encode_block
from parsers import ENVELOPE_KEYS, FORMATS, TEXT_RECORDS, Parsed

source_names = st.from_regex(r"[A-Za-z0-9_.-]+", fullmatch=True)
free_text = st.text(alphabet=st.characters(codec="utf-8"))


def test_envelope_keys_come_in_design_order() -> None:
    line = EnvelopeEncoder("transfers", "lines", "headnode1", "hpc1").encode(
        "transfers:ab12:0:00000000", Parsed("line", None, {"message": "hello"}))
    assert list(orjson.loads(line)) == ["id", "source", "format", "time", "host", "cluster", "type", "data"]
    assert tuple(orjson.loads(line)) == ENVELOPE_KEYS


@given(host=free_text, cluster=st.none() | free_text, time=st.none() | st.floats(0, 1e10), message=free_text)
def test_encoded_envelope_is_one_json_line_holding_what_was_given(
        host: str, cluster: str | None, time: float | None, message: str) -> None:
    line = EnvelopeEncoder("transfers", "lines", host, cluster).encode(
        "transfers:ab12:7:0badcafe", Parsed("line", time, {"message": message}))
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert orjson.loads(line) == {"id": "transfers:ab12:7:0badcafe", "source": "transfers", "format": "lines",
                                  "time": time, "host": host, "cluster": cluster, "type": "line",
                                  "data": {"message": message}}


@given(source=source_names, fingerprint=st.from_regex(r"[0-9a-f]{1,16}", fullmatch=True),
       offset=st.integers(0, 2**63), line=st.binary())
def test_record_id_reads_the_id_of_an_encoded_line(source: str, fingerprint: str, offset: int, line: bytes) -> None:
    rid = file_record_id(source, fingerprint, offset, line)
    encoded = EnvelopeEncoder(source, "lines", "h", None).encode(rid, Parsed("line", None, {"message": '"\\'}))
    assert record_id(encoded) == rid


def test_file_record_id_is_deterministic_and_names_source_fingerprint_offset_and_crc() -> None:
    first = file_record_id("transfers", "9f86d081884c7d65", 4096, b"DATE=20190731073044.992375")
    assert first == file_record_id("transfers", "9f86d081884c7d65", 4096, b"DATE=20190731073044.992375")
    assert first.rsplit(":", 1)[0] == "transfers:9f86d081884c7d65:4096"
    assert first != file_record_id("transfers", "9f86d081884c7d65", 4096, b"DATE=20190731073044.992376")


@given(lines=st.lists(st.binary().map(lambda b: b.replace(b"\n", b"").rstrip(b"\r")), min_size=1, max_size=10),
       offset=st.integers(0, 2**40), fast=st.booleans())
def test_file_record_id_equals_the_id_encode_block_gives(lines: list[bytes], offset: int, fast: bool) -> None:
    encoder = EnvelopeEncoder("transfers", "lines", "h", None)
    block = encode_block(b"".join(l + b"\n" for l in lines), offset, "ab12", "transfers", FORMATS["lines"],
                         encoder, 1 << 20, "app.log", text=TEXT_RECORDS["lines"] if fast else None)
    starts = [offset + sum(len(l) + 1 for l in lines[:i]) for i in range(len(lines))]
    ids = [record_id(rec) for payload, _ in block.chunks for rec in split_lines(payload)]
    assert ids == [file_record_id("transfers", "ab12", at, l) for at, l in zip(starts, lines)]


def test_split_lines_gives_each_envelope_with_its_newline() -> None:
    encoder = EnvelopeEncoder("s", "lines", "h", None)
    one, two = (encoder.encode(f"s:0:{n}:0", Parsed("line", None, {"message": "a\u2028b\r\x1c\x85"})) for n in (0, 4))
    assert split_lines(one + two) == [one, two]
