"""`logspool prerotate FILE`: read FILE to its end into the spool before logrotate moves it."""
from __future__ import annotations

import argparse
import os
import sys

from agent.cli import config_option

HELP = """Read FILE to its end into the spool and commit, then exit 0. Meant for logrotate's
prerotate hook (with copytruncate, nothing written before the copy can then be lost).
Safe while `logspool run` runs on the same spool: both commit through the same
checkpoint row, so no line is spooled twice or skipped.

Example (logrotate):
  prerotate
      /usr/local/bin/logspool prerotate /var/log/gridftp-transfer.log --config /etc/logspool/agent.toml
  endscript
"""


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("prerotate", help="spool a file to its end (logrotate hook)", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", metavar="FILE", help="the file(s) about to be rotated")
    config_option.add(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from agent.pipeline import file_sources
    from spool import Spool, SpoolError
    config = config_option.load(args, quiet_warnings=True)
    missing = [f for f in args.files if not os.path.isfile(f)]
    if missing:
        # With `sharedscripts`, logrotate passes the pattern, not a file name: say so.
        print(f"logspool prerotate: no such file: {', '.join(repr(f) for f in missing)} "
              "(with logrotate's sharedscripts, name the file instead of \"$1\")", file=sys.stderr)
        return 2
    files = [os.path.abspath(f) for f in args.files]
    try:
        spool = Spool(config.agent.spool)
    except SpoolError as exc:
        print(f"logspool prerotate: {exc}", file=sys.stderr)
        return 1
    try:
        sources = file_sources(config, spool, only=files)
        if not sources:
            print(f"logspool prerotate: {', '.join(args.files)} matches no [[sources]] paths in "
                  f"{config_option.path(args)}", file=sys.stderr)
            return 2
        records = 0
        for source in sources:
            for _ in range(100000):
                result = source.step()
                records += result.records
                if result.bytes == 0 and source.drained():
                    break
            source.close()
        print(f"prerotate: spooled {records} records from {', '.join(args.files)}", file=sys.stderr)
        return 0
    except SpoolError as exc:
        print(f"logspool prerotate: {exc}", file=sys.stderr)
        return 1
    finally:
        spool.close()
