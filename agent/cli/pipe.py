"""`logspool pipe`: spool what a command wrote to standard input; exit 0 once it is durable."""
from __future__ import annotations

import argparse
import sys

from agent.cli import config_option
from parsers import DOCUMENTS, FORMATS

HELP = """Read standard input to its end, parse it as FORMAT and commit the records to the
spool for each --sink; exit 0 once they are durable. The running daemon delivers them;
with --wait this command delivers them itself (or waits for the daemon) before exiting.

For bwctl, pipe both stdout and stderr (`|&`) and run it with --verbose: the addresses
of the test's ends are in its stderr header lines. Input that cannot be parsed is kept
in dead letters (`logspool dead-letters list`) and the exit status is 65.

Example:
  bwctl -c recv.example.org -s send.example.org -T iperf3 --parsable --verbose |& \\
      logspool pipe --format bwctl-iperf3 --sink esmond
"""

#: sysexits.h EX_DATAERR: the input was read and kept, but it is not what FORMAT expects.
EX_DATAERR = 65


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("pipe", help="spool a command's output read from standard input", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--format", "-f", required=True, choices=sorted(FORMATS), help="the parser to use")
    p.add_argument("--sink", "-s", required=True, action="append",
                   help="a [[sinks]] name to deliver to (repeat for several)")
    p.add_argument("--source", default="pipe", help='source name for record ids (default: "pipe")')
    p.add_argument("--wait", action="store_true", help="exit only once every sink acknowledged the records")
    config_option.add(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from agent.pipe import pipe, read_all
    from spool import SpoolError
    config = config_option.load(args, quiet_warnings=True)
    known = {s.name for s in config.sinks}
    unknown = [name for name in args.sink if name not in known]
    if unknown:
        print(f"logspool pipe: no [[sinks]] table named {', '.join(unknown)} in {config_option.path(args)}; "
              f"known: {', '.join(sorted(known)) or 'none'}", file=sys.stderr)
        return 2
    try:
        data = read_all(sys.stdin.buffer)
    except ValueError as exc:
        print(f"logspool pipe: {exc}", file=sys.stderr)
        return 2
    if not data.strip():
        print("logspool pipe: standard input was empty; nothing to spool (did the command run?)", file=sys.stderr)
        return EX_DATAERR
    try:
        result = pipe(config, data, args.format, args.sink, source=args.source, wait=args.wait)
    except (SpoolError, RuntimeError) as exc:
        print(f"logspool pipe: {exc}", file=sys.stderr)
        return 1
    for error in result.errors:
        print(f"logspool pipe: {error}", file=sys.stderr)
    what = "document" if args.format in DOCUMENTS else "records"
    if result.errors:
        print(f"logspool pipe: {len(result.errors)} {what if what == 'records' else 'input'} could not be parsed "
              f"and {'is' if len(result.errors) == 1 else 'are'} kept in dead letters "
              f"(logspool dead-letters list); {result.records} records spooled", file=sys.stderr)
        return EX_DATAERR
    if args.wait:
        print(f"pipe: delivered {result.records} records to {', '.join(args.sink)}", file=sys.stderr)
    elif not result.daemon_running:
        print(f"pipe: spooled {result.records} records; no daemon is running, so they wait in the spool until "
              f"`logspool run` starts (or use --wait)", file=sys.stderr)
    return 0
