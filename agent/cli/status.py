"""`logspool status`: sources, sinks and backlog, read from the spool."""
from __future__ import annotations

import argparse
import sys

import orjson

from agent.cli import config_option

HELP = """Show per source the files, offsets and bytes behind; per sink the backlog (records,
bytes, oldest age), the last error and the next retry; whether reading is paused.
Works while the daemon runs.

Example:
  logspool status --config /etc/logspool/agent.toml
  logspool status --json | jq '.sinks[] | {name, backlog_records}'
"""


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("status", help="show what the agent is doing", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    config_option.add(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from agent import status
    from spool import Spool, SpoolError
    config = config_option.load(args, quiet_warnings=True)
    if not config.agent.spool.exists():
        print(f"logspool status: no spool at {config.agent.spool} yet (has `logspool run` started?)",
              file=sys.stderr)
        return 1
    try:
        spool = Spool(config.agent.spool, readonly=True)  # never takes the write lock from the daemon
        try:
            data = status.collect(config, spool)
        finally:
            spool.close()
    except SpoolError as exc:
        print(f"logspool status: {exc}", file=sys.stderr)
        return 1
    if args.json:
        sys.stdout.write(orjson.dumps(data).decode() + "\n")
    else:
        print(status.render(data))
    return 0
