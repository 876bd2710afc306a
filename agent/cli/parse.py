"""`logspool parse`: show what a parser makes of a file, one JSON record per line."""
from __future__ import annotations

import argparse
import socket
import sys

from parsers import DOCUMENTS, FORMATS, FRAMERS, ParseError, parser_for

HELP = """Parse FILE with a format and print each record as a JSON line on stdout. Lines that do
not parse are reported on stderr as FILE:LINE: field: reason, and parsing goes on.
Formats whose records span lines (gridftp-json) are cut into records as the agent cuts
them, and LINE is where the record starts; a document format (bwctl-iperf3, iperf3)
takes the whole file as one record. Exit code 0 when every record parsed, 1 when some
did not.

Example:
  logspool parse /var/log/gridftp-transfer.log --format lines | head
"""


NEWLINE = b"\n"


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("parse", help="print a file's records as JSON lines", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", help="the log file to parse")
    p.add_argument("--format", "-f", required=True, choices=sorted(FORMATS), help="the parser to use")
    p.add_argument("--source", default="parse", help="source name used in record ids (default: parse)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from agent.envelope import EnvelopeEncoder, file_record_id
    from agent.sources.identity import FINGERPRINT_BYTES, fingerprint_of_head
    parser = parser_for(args.format)
    encoder = EnvelopeEncoder(args.source, args.format, socket.gethostname(), None)
    out = sys.stdout.buffer
    errors = 0
    try:
        fh = open(args.file, "rb")
    except OSError as exc:
        print(f"logspool parse: cannot open {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    with fh:
        fp = fingerprint_of_head(fh.read(FINGERPRINT_BYTES)) or "0"
        fh.seek(0)
        if args.format in DOCUMENTS or args.format in FRAMERS:
            data = fh.read()
            spans = [(0, len(data))] if args.format in DOCUMENTS else FRAMERS[args.format](data, True)[0]
            for start, end in spans:
                unit = data[start:end]
                try:
                    parsed = parser(unit)
                except ParseError as exc:
                    errors += 1
                    lineno = data.count(NEWLINE, 0, start) + 1
                    print(f"{args.file}:{lineno}: {exc}", file=sys.stderr)
                else:
                    if parsed is not None:
                        out.write(encoder.encode(file_record_id(args.source, fp, start, unit), parsed))
            out.flush()
            return 1 if errors else 0
        offset = 0
        for lineno, raw in enumerate(fh, start=1):
            line = raw[:-1] if raw.endswith(b"\n") else raw
            if line.endswith(b"\r"):
                line = line[:-1]
            try:
                parsed = parser(line)
            except ParseError as exc:
                errors += 1
                print(f"{args.file}:{lineno}: {exc}", file=sys.stderr)
            else:
                if parsed is not None:
                    out.write(encoder.encode(file_record_id(args.source, fp, offset, line), parsed))
            offset += len(raw)
    out.flush()
    return 1 if errors else 0
