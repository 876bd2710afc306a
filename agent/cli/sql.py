"""`logspool sql migrate`: create or upgrade an sql sink's tables and views before the first record."""
from __future__ import annotations

import argparse
import sys

from agent.cli import config_option

HELP = """Create the table and views of an sql sink's profile in its database, or bring an older
one up to date (lmod_tracking's jobid column), then exit. Idempotent: run it again and
nothing changes. The sink does the same on its first connection; this verb lets an
operator do it (and see it fail on a wrong password or missing privilege) before any
record is sent. Existing views are left as they are, so a site's own definitions stay.

Example:
  logspool sql migrate --sink lmod --config /etc/logspool/agent.toml
"""


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("sql", help="create or upgrade an sql sink's tables", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=["migrate"], help="migrate: create or upgrade the tables and views")
    p.add_argument("--sink", "-s", required=True, help='the [[sinks]] name of an sql sink (type = "sql")')
    config_option.add(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from agent.sinks import Delivered
    from agent.sinks import sql
    config = config_option.load(args, quiet_warnings=True)
    try:
        sink_config = config.sink(args.sink)
    except KeyError:
        print(f"logspool sql: no [[sinks]] table named {args.sink} in {config_option.path(args)}; known: "
              f"{', '.join(s.name for s in config.sinks) or 'none'}", file=sys.stderr)
        return 2
    if not isinstance(sink_config, sql.Config):
        print(f"logspool sql: sink {args.sink} is of type {sink_config.type!r}, not \"sql\"", file=sys.stderr)
        return 2
    sink = sql.SqlSink(sink_config)
    try:
        outcome = sink.migrate()
    finally:
        sink.close()
    if isinstance(outcome, Delivered):
        print(f"sql migrate: {sink_config.table_name()} (profile {sink_config.profile}) is ready in "
              f"{sink.target.describe()}", file=sys.stderr)
        return 0
    print(f"logspool sql migrate: {outcome.reason}", file=sys.stderr)
    return 1
