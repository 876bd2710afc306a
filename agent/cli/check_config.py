"""`logspool check-config`: validate a config and summarise what it will do."""
from __future__ import annotations

import argparse
import sys

from agent.cli import config_option

HELP = """Validate a config file and print a summary. Errors name the file, the table, the key,
the bad value and what was expected, one per line; the exit code is then 2.

Example:
  logspool check-config /etc/logspool/agent.toml
"""


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("check-config", help="validate a config and print a summary", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", nargs="?", help="the config file (or use --config)")
    config_option.add(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from agent.units import format_size
    if args.file:
        args.config = args.file
    config = config_option.load(args)
    a = config.agent
    print(f"{config_option.path(args)}: OK")
    print(f"  spool {a.spool} (cap {format_size(a.spool_max_bytes)}), host {a.host}"
          + (f", cluster {a.cluster}" if a.cluster else ""))
    for s in config.sources:
        where = ", ".join(getattr(s, "paths", []))
        print(f"  source {s.name}: {s.type} {where} as {s.format} -> {', '.join(s.sinks)}")
    for k in config.sinks:
        target = getattr(k, "url", None) or getattr(k, "path", None) or ""
        print(f"  sink {k.name}: {k.type} {target} (batches of {k.batch_records} records / "
              f"{format_size(k.batch_bytes)}, retry {k.retry.initial:g}s..{k.retry.max:g}s"
              f"{'' if k.retry.max_retries is None else f', at most {k.retry.max_retries} times'})")
    unused = {k.name for k in config.sinks} - {n for s in config.sources for n in s.sinks}
    for name in sorted(unused):
        print(f"  note: sink {name} receives from no source (only backfill and replay can use it)", file=sys.stderr)
    return 0
