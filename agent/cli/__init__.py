"""The `logspool` command: argparse dispatch only; each verb lives in its own module."""
from __future__ import annotations

import argparse
import sys
from typing import Optional

from agent import logs
from agent.cli import backfill, check_config, compat, dead_letters, parse, pipe, prerotate, run, sql, status

VERSION = "0.1.0"
VERBS = (run, backfill, prerotate, pipe, parse, status, check_config, dead_letters, compat, sql)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="logspool",
        description="Tail HPC and research logs, spool them durably in SQLite, deliver them to your archives.")
    parser.add_argument("--version", action="version", version=f"logspool {VERSION}")
    parser.add_argument("--log-format", choices=tuple(logs.FORMATTERS), default="text",
                        help="log lines as `time level message key=value` (text, the default) or one JSON "
                             "object a line (json); give it before the verb")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb in VERBS:
        verb.add_parser(sub)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    logs.set_format(args.log_format)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


__all__ = ["VERSION", "build_parser", "main"]
