"""The `bwctl-iperf3` format: what `bwctl … -T iperf3 --parsable --verbose |&` prints for one test.

A document format (no framer): the pipe source hands over the whole output, stdout and stderr
interleaved, as one unit. What bwctl writes (esmond.md §2, from perfsonar/bwctl's source):

- on stderr, `bwctl: Using tool: iperf3` and, only with --verbose, one
  `bwctl: Using <address> as the address for local|remote sender|receiver` line per side;
- on stdout, per side whose results it fetched: `bwctl: run_tool: …` lines, `bwctl: exec_line: …`,
  `bwctl: start_tool: <NTP-era seconds>`, the iperf3 JSON (`--parsable` selects `-J`),
  `bwctl: stop_tool: <NTP-era seconds>`; around them `SENDER START`/`SENDER END` and the like.

The headers give `input_source` (the sender line) and `input_destination` (the receiver line) for
remote and local sides alike, and `local_sender`/`local_receiver` when the side is local: the old
esmond-ps-pipe only knew `remote`, so it could not record a local run. The first
start_tool…stop_tool block is the result. Inside it every `bwctl: ` line is left out of the JSON,
wherever it falls: BWCTL 2's legacy results put `exec_line` and `run_tool` lines after start_tool,
and with `|&` a stderr line can land between stdout lines. The NTP-era times become Unix seconds
(minus JAN_1970 = 0x83aa7e80, to the microsecond bwctl's `%f` gives) under `data["bwctl"]`.

A tool that failed is a `failure` record: iperf3 JSON with `"error"`, or no JSON but
`bwctl: error: …` lines, or nothing at all between start_tool and stop_tool. Output that cannot
say what was measured raises `ParseError`: missing header lines (the reason names them and says
why: `--verbose`, and stderr piped with stdout), no start_tool line (stdout not piped, or no test
ran), human-readable iperf3 output (no `--parsable`), or a JSON cut short with no stop_tool.
"""
from __future__ import annotations

from decimal import Decimal
import re
from typing import Optional

from .iperf3_result import Context, build, load_object
from .record import ParseError, Parsed

NAME = "bwctl-iperf3"
#: Seconds from the NTP era (1900) to the Unix epoch, as bwctl's own sources define it.
JAN_1970 = 0x83AA7E80

_PREFIX = b"bwctl: "
_ADDRESS = re.compile(r"bwctl: Using (\S+) as the address for (local|remote) (sender|receiver)\s*")
_TOOL = re.compile(r"bwctl: (?:Using tool|run_tool: tester): (\S+)\s*")
_NTP = re.compile(r"\d{1,12}(?:\.\d{1,12})?")
_START, _STOP, _ERROR = "bwctl: start_tool:", "bwctl: stop_tool:", "bwctl: error:"
_STOP_BYTES = _STOP.encode()
_HEADER = {
    "sender": "bwctl: Using <address> as the address for local|remote sender",
    "receiver": "bwctl: Using <address> as the address for local|remote receiver",
    "tool": "bwctl: Using tool: iperf3",
}
_WHY = ("bwctl prints them on stderr, the address lines only with --verbose: run "
        "`bwctl … -T iperf3 --parsable --verbose |& logspool pipe --format bwctl-iperf3 …` "
        "so that both stdout and stderr reach the pipe")


class _Scan:
    """What one pass over the lines found: headers, the first result block, bwctl's errors."""

    def __init__(self) -> None:
        self.addresses: dict[str, tuple[str, str]] = {}  # sender|receiver -> (local|remote, address)
        self.tool: Optional[str] = None
        self.start: Optional[tuple[str, int]] = None  # (value as written, byte offset of its line)
        self.stop: Optional[tuple[str, int]] = None
        self.block = bytearray()  # the bytes between start_tool and stop_tool, bwctl lines blanked
        self.block_base = 0
        self.errors: list[str] = []
        self.bwctl_lines = 0


def parse(raw: bytes) -> Optional[Parsed]:
    """Parse one whole bwctl output (stdout and stderr together).

    Returns None for empty or blank input; raises `ParseError` saying which lines are missing and
    why, or naming the JSON path or byte where the iperf3 result is wrong.
    """
    if not raw.strip():
        return None
    scan = _scan(raw)
    missing = [line for key, line in _HEADER.items()
               if (scan.tool if key == "tool" else scan.addresses.get(key)) is None]
    if missing:
        hint = " (this looks like plain `iperf3 -J` output: use format iperf3)" if (
            scan.bwctl_lines == 0 and raw.lstrip().startswith(b"{")) else ""
        raise ParseError(f"missing bwctl header line{'s' if len(missing) > 1 else ''}: {'; '.join(missing)}. "
                         f"{_WHY}{hint}", field=missing[0])
    if scan.tool != "iperf3":
        raise ParseError(f"bwctl ran {scan.tool!r}, not iperf3: this format reads `bwctl -T iperf3 --parsable`",
                         field="bwctl: Using tool")
    if scan.start is None:
        raise ParseError("no `bwctl: start_tool:` line: the results bwctl prints on stdout are missing "
                         "(pipe stdout and stderr together with `|&`), or the test never ran",
                         field="bwctl: start_tool", offset=len(raw))
    context = _context(scan, scan.start)
    if scan.block.find(b"{") < 0:
        return _without_json(scan, context, len(raw))
    try:
        doc = load_object(bytes(scan.block), base=scan.block_base)
    except ParseError as exc:
        if scan.stop is None:
            raise ParseError(f"no `bwctl: stop_tool:` line and the iperf3 JSON does not load ({exc.reason}): "
                             "the output was cut short", field="bwctl: stop_tool", offset=exc.offset) from None
        raise
    return build(doc, context)


def _scan(raw: bytes) -> _Scan:
    scan = _Scan()
    block_start = block_end = -1
    blanks: list[tuple[int, int]] = []
    offset = 0
    for line in raw.split(b"\n"):
        at, offset = offset, offset + len(line) + 1
        if block_start >= 0 and block_end < 0:
            stop = line.find(_STOP_BYTES)
            if stop >= 0:  # also glued to an unterminated line (`bwctl: error: …bwctl: stop_tool: …`)
                block_end = at + stop
                scan.stop = (line[stop + len(_STOP_BYTES):].decode("utf-8", "replace"), block_end)
                line = line[:stop]
            if line.startswith(_PREFIX):
                blanks.append((at, at + len(line)))
        if not line.startswith(_PREFIX):
            continue
        text = line.decode("utf-8", "replace").rstrip("\r")
        scan.bwctl_lines += 1
        address = _ADDRESS.fullmatch(text)
        tool = _TOOL.fullmatch(text)
        if address:
            scan.addresses.setdefault(address[3], (address[2], address[1]))
        elif tool:
            scan.tool = scan.tool or tool[1]
        elif text.startswith(_START) and block_start < 0:
            scan.start = (text[len(_START):], at)
            block_start = offset
        elif text.startswith(_ERROR) and block_start >= 0 and (block_end < 0 or block_end >= at):
            scan.errors.extend(e.strip() for e in text.split(_ERROR) if e.strip())
    if block_start >= 0:
        end = block_end if block_end >= 0 else len(raw)
        scan.block = bytearray(raw[block_start:end])
        scan.block_base = block_start
        for first, last in blanks:
            if block_start <= first and last <= end:
                scan.block[first - block_start:last - block_start] = b" " * (last - first)
    return scan


def _context(scan: _Scan, start: tuple[str, int]) -> Context:
    sender_at, sender = scan.addresses["sender"]
    receiver_at, receiver = scan.addresses["receiver"]
    times = {"start_tool": _unix(start, "bwctl: start_tool"),
             "stop_tool": _unix(scan.stop, "bwctl: stop_tool") if scan.stop else None}
    return Context(input_source=sender, input_destination=receiver,
                   local_sender=sender if sender_at == "local" else None,
                   local_receiver=receiver if receiver_at == "local" else None, bwctl=times)


def _unix(found: tuple[str, int], name: str) -> float:
    """Unix seconds from bwctl's NTP-era `%f` value, exact to the microsecond it wrote."""
    written, at = found
    text = written.strip()
    if not _NTP.fullmatch(text):
        raise ParseError(f"expected NTP-era seconds like 3904885460.612345, got {text[:40]!r}", field=name, offset=at)
    seconds = Decimal(text) - JAN_1970
    if seconds < 0:
        raise ParseError(f"{text} NTP-era seconds is before 1970", field=name, offset=at)
    return float(round(seconds, 6))


def _without_json(scan: _Scan, context: Context, size: int) -> Parsed:
    """The block holds no JSON: a failed tool when bwctl says so or iperf3 printed nothing, else an error."""
    text = scan.block.decode("utf-8", "replace").strip()
    if scan.errors or (not text and scan.stop is not None):
        message = "; ".join(scan.errors) or "iperf3 printed nothing between start_tool and stop_tool"
        return build({"error": message}, context)
    if not text:
        raise ParseError("no iperf3 output after `bwctl: start_tool:` and no `bwctl: stop_tool:` line: "
                         "the output was cut short", field="bwctl: stop_tool", offset=size)
    first = text.splitlines()[0][:60]
    raise ParseError(f"no iperf3 JSON between start_tool and stop_tool (it begins {first!r}): "
                     "run bwctl with --parsable", field="iperf3 JSON", offset=scan.block_base)
