"""Building and reading the record envelope (DESIGN.md, "Records") as spooled NDJSON.

Records are encoded once, when they enter the spool, into one compact JSON object per
line with `id` always first. Sinks that speak NDJSON send those bytes as they are;
others decode them. Keeping `id` first lets `record_id()` read an id without decoding
the whole record, which matters when the drain bisects a rejected batch.

The id is `<source>:<fingerprint>:<offset>:<crc32 of the line>`: deterministic, so
the same line read by `run`, `prerotate` or `backfill`, before or after a crash,
always gets the same id and any sink can drop replays. The line checksum keeps two
files that share a first line (a fixed header) from producing colliding ids.
"""
from __future__ import annotations

import zlib
from typing import Optional

import orjson

from parsers import Parsed

_dumps = orjson.dumps


def file_record_id(source: str, fingerprint: str, offset: int, line: bytes) -> str:
    """The id of the line that starts at byte `offset` of the file with `fingerprint`."""
    return f"{source}:{fingerprint}:{offset}:{zlib.crc32(line):08x}"


class EnvelopeEncoder:
    """Encodes parsed records of one source into spool lines.

    The constant part of the envelope (source, format, host, cluster) is encoded once;
    per record only the id, time, type and data are serialised. That keeps the hot
    path to one orjson call for `data` and a bytes format, about half the cost of
    serialising a fresh dict per record (measured: 2.5 µs vs 7 µs per 300-byte line).
    """

    def __init__(self, source: str, format: str, host: str, cluster: Optional[str]) -> None:
        self._head = b'{"id":'
        self._mid = (b',"source":' + _dumps(source) + b',"format":' + _dumps(format) + b',"time":')
        self._tail = b',"host":' + _dumps(host) + b',"cluster":' + _dumps(cluster) + b',"type":'

    def encode(self, record_id: str, parsed: Parsed) -> bytes:
        """One envelope as a JSON line (with its newline)."""
        return b'%s%s%s%s%s%s,"data":%s}\n' % (
            self._head, _dumps(record_id), self._mid, _dumps(parsed.time),
            self._tail, _dumps(parsed.type), _dumps(parsed.data))

    def text_template(self, id_prefix: str, type: str, field: str) -> tuple[bytes, bytes, bytes]:
        """Constant pieces of a TEXT_RECORDS envelope, to be joined per record as
        head + b"<offset>:<crc>" + middle + <the JSON string> + end.

        The id needs no escaping: source names are `[A-Za-z0-9_.-]`, fingerprints hex.
        """
        head = b'{"id":"' + id_prefix.encode()
        middle = b'"' + self._mid + b"null" + self._tail + _dumps(type) + b',"data":{' + _dumps(field) + b":"
        return head, middle, b"}}\n"


def record_id(line: bytes) -> str:
    """The id of an encoded envelope line, read without decoding the record.

    Ids never contain a quote or backslash (source names are restricted to
    `[A-Za-z0-9_.-]`), so the id ends at the next quote.
    """
    end = line.index(b'"', 7)
    return line[7:end].decode()


def split_lines(payload: bytes) -> list[bytes]:
    """The envelope lines of a chunk payload, each with its newline."""
    return payload.splitlines(keepends=True)
