"""`logspool run`: the daemon."""
from __future__ import annotations

import argparse
import sys

from agent.cli import config_option

HELP = """Tail every source, spool records durably, deliver them to every sink, forever.

SIGTERM/SIGINT finish the current transaction and exit 0; SIGHUP reloads the config.

Example:
  logspool run --config /etc/logspool/agent.toml
  logspool run --once --config agent.toml.example   # read what is there, deliver it, exit
"""


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("run", help="run the agent (tail, spool, deliver)", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    config_option.add(p)
    p.add_argument("--once", action="store_true",
                   help="read every source to its current end, deliver everything, then exit 0")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from agent.daemon import Daemon
    from spool import SpoolError, SpoolLocked
    config = config_option.load(args)
    try:
        return Daemon(config_option.path(args), config).run(once=args.once)
    except SpoolLocked as exc:
        print(f"logspool run: {exc}", file=sys.stderr)
        return 1
    except SpoolError as exc:
        print(f"logspool run: {exc}", file=sys.stderr)
        return 1
