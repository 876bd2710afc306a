"""`logspool backfill`: deliver static files once and exit when they are acknowledged."""
from __future__ import annotations

import argparse
import sys

from agent.cli import config_option
from parsers import FORMATS

HELP = """Read FILE... to their end and deliver every record to one sink; exit 0 once the sink
acknowledged all of them. A progress bar is shown on a terminal. Record ids are the
ones `run` gives (a file covered by a configured source takes that source's name),
so a sink that deduplicates by id takes each record once.

--dont-write uses a private throw-away spool: no checkpoint is recorded and the live
spool is not touched (for re-sending old files).

Example:
  logspool backfill /var/log/old/gridftp.log.* --format lines --sink archive --dont-write
"""


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("backfill", help="deliver static files once", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--format", "-f", required=True, choices=sorted(FORMATS), help="the parser to use")
    p.add_argument("--sink", "-s", required=True, help="the [[sinks]] name to deliver to")
    p.add_argument("--dont-write", action="store_true", help="record no checkpoint state; leave the live spool alone")
    p.add_argument("--source", help="source name for record ids (default: the configured source covering the file, "
                                    "else \"backfill\")")
    config_option.add(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from agent.backfill import backfill
    from spool import SpoolError
    config = config_option.load(args, quiet_warnings=True)
    try:
        config.sink(args.sink)
    except KeyError:
        print(f"logspool backfill: no [[sinks]] table named {args.sink} in {config_option.path(args)}; "
              f"known: {', '.join(s.name for s in config.sinks) or 'none'}", file=sys.stderr)
        return 2
    for f in args.files:
        try:
            open(f, "rb").close()
        except OSError as exc:
            print(f"logspool backfill: cannot read {f}: {exc.strerror}", file=sys.stderr)
            return 2
    try:
        result = backfill(config, args.files, args.format, args.sink, dont_write=args.dont_write,
                          source_name=args.source)
    except (SpoolError, RuntimeError) as exc:
        print(f"logspool backfill: {exc}", file=sys.stderr)
        return 1
    print(f"backfill: delivered {result.records} records ({result.bytes} bytes) to {args.sink}"
          + (f"; {result.parse_errors} lines did not parse (see dead-letters)" if result.parse_errors else ""),
          file=sys.stderr)
    return 0
