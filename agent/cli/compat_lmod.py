"""`logspool compat lmod-ingest FILE...`: lmod_tracking's `python ingest.py FILE` on the logspool engine."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = """Ingest Lmod tracking logs into lmod_tracking's `log_data` table, as `python ingest.py FILE`
did: the database comes from DB_USER, DB_PASS (or the older DB_PASSWORD), DB_HOST, DB_PORT
and DB_NAME, in the environment or in ./.env or ~/.ingest.env. The database is
MySQL/MariaDB unless DB_PORT is 5432 or --database postgresql. Re-running on the same
file (or a rotated copy of it) inserts nothing twice: the unique key (time, host, user,
module) drops what is there, and a spool per file under $XDG_STATE_HOME/logspool/compat
resumes where the last run stopped.

Example:
  logspool compat lmod-ingest $(ls -1v /var/log/lmod/lmod.log-* | head -n 1)
"""

IMPORTERS = ("lmod-ingest",)


def add_importers(importers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = importers.add_parser("lmod-ingest", aliases=["ingest.py"], help="Lmod tracking logs to lmod_tracking's table",
                             description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", metavar="FILE", help="the Lmod tracking log files")
    p.add_argument("--database", choices=("mysql", "postgresql"),
                   help="the server kind (default: postgresql if DB_PORT is 5432, else mysql)")
    p.set_defaults(importer="lmod-ingest")


def run(args: argparse.Namespace) -> int:
    import os
    from agent import compat, compat_lmod, logs
    from agent.cli.compat import report
    from agent.signals import SignalFlags
    from spool import SpoolError
    name = "logspool compat lmod-ingest"
    for f in args.files:
        try:
            open(f, "rb").close()
        except OSError as exc:  # ingest.py raised FileNotFoundError here
            print(f"{name}: cannot read {f}: {exc.strerror}", file=sys.stderr)
            return 1
    try:
        plans = [compat_lmod.plan(f, os.environ, Path.cwd(), args.database) for f in args.files]
    except compat.CompatError as exc:
        for line in exc.lines:
            print(f"{name}: {line}", file=sys.stderr)
        return 2
    logs.setup("warning")
    flags = SignalFlags()
    flags.install()
    worst = 0
    for plan in plans:
        try:
            result = compat.deliver_once(plan, interrupted=lambda: flags.stop)
        except SpoolError as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            return 1
        worst = max(worst, report(name, plan, result))
        if flags.stop:
            break
    return worst
