"""`logspool compat`: the old importers' command lines (LavaFlow's here, esmond's in compat_esmond), on the logspool engine."""
from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Callable

from agent.cli import compat_esmond, compat_lmod

if TYPE_CHECKING:
    from agent import compat

HELP = """Run an old LavaFlow importer command line unchanged: lava-import-openlava (lsb.events,
lsb.acct) or lava-import-univa82 (UGE 8.2 accounting). Records go through a spool of
their own under $XDG_STATE_HOME/logspool/compat (else ~/.local/state/logspool/compat),
one per log file and URL, so a rerun resumes where the last one stopped.

Without --tail_log: read the file to its end, deliver everything, exit 0. A server
that keeps failing is retried with backoff and given up after 10 retries (exit 1;
what is undelivered stays in the spool for the next run), unless --retry_forever.
With --tail_log: follow the file (and its rotations) until SIGTERM, retrying forever.

KEY on a command line is visible to every user in `ps`: give it as env:VAR or
file:PATH, or better, move to `logspool run` with a [[sinks]] table of type "lavaflow".

Example:
  logspool compat lava-import-openlava --chunk_size 500 --log_level=info \\
      /opt/openlava/work/logdir/lsb.acct http://lava.example.org/lavaflow env:LAVAFLOW_KEY
  logspool compat lava-import-univa82 hpc1 /opt/uge/default/common/accounting \\
      http://lava.example.org/lavaflow file:/etc/lavaflow.key
"""

#: Old `--log_level` names; agent.compat.LOG_LEVELS maps them (kept here so `--help` imports nothing).
LEVELS = ("debug", "info", "warn", "warning", "error", "critical")


def _count(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number; got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a number ≥ {minimum}; got {value}")
        return value
    return parse


def _level(text: str) -> str:
    if text.lower() not in LEVELS:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(LEVELS)}; got {text!r}")
    return text.lower()


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("log_file", metavar="LOG_FILE", help="the file to read and deliver")
    p.add_argument("url", metavar="URL", help="the LavaFlow base URL, e.g. http://lava.example.org/lavaflow")
    p.add_argument("key", metavar="KEY", help="the import key (or env:VAR, file:PATH: not visible in ps)")
    p.add_argument("--chunk_size", metavar="N", type=_count(1), default=200, help="records per request (200)")
    p.add_argument("--log_level", metavar="LEVEL", type=_level, default="warn",
                   help=f"one of {', '.join(LEVELS)} (warn)")
    p.add_argument("--retry_forever", action="store_true",
                   help="never give up on a failing server (without it a run gives up after 10 retries)")


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("compat", help="run the old lava-import-*, esmond-ps-* and lmod ingest command lines",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    importers = p.add_subparsers(dest="importer", metavar="IMPORTER")
    ol = importers.add_parser("lava-import-openlava", aliases=["lava-import-openlava.py"],
                              help="openlava/LSF lsb.events or lsb.acct", description=HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(ol)
    ol.add_argument("--tail_log", action="store_true", help="follow the file and its rotations until SIGTERM")
    ol.add_argument("--cluster_name", metavar="NAME", help="cluster name (default: from $LSF_ENVDIR/lsf.conf)")
    ol.add_argument("--skip", metavar="N", type=_count(0), default=0,
                    help="skip the first N lines (first run only; later runs resume at their checkpoint)")
    ol.set_defaults(importer="lava-import-openlava")
    ug = importers.add_parser("lava-import-univa82", aliases=["lava-import-univa82.py"],
                              help="Univa Grid Engine 8.2 accounting", description=HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    ug.add_argument("cluster", metavar="CLUSTER", help="the cluster name (first, as in the old script)")
    _common(ug)
    ug.set_defaults(importer="lava-import-univa82", tail_log=False, skip=0)
    compat_esmond.add_importers(importers)
    compat_lmod.add_importers(importers)
    p.set_defaults(func=run, compat_parser=p)


def run(args: argparse.Namespace) -> int:
    if not args.importer:
        args.compat_parser.print_help(sys.stderr)
        return 2
    if args.importer in compat_esmond.IMPORTERS:
        return compat_esmond.run(args)
    if args.importer in compat_lmod.IMPORTERS:
        return compat_lmod.run(args)
    from agent import compat, logs
    from agent.lsf_cluster import ClusterNameError
    from spool import SpoolError
    name = f"logspool compat {args.importer}"
    command = compat.OldCommand(args.importer, args.log_file, args.url, args.key,
                                cluster=getattr(args, "cluster_name", None) or getattr(args, "cluster", None),
                                chunk_size=args.chunk_size, log_level=args.log_level, tail_log=args.tail_log,
                                retry_forever=args.retry_forever, skip=args.skip)
    try:
        open(command.log_file, "rb").close()
    except OSError as exc:  # the old importers exited 1 here too
        print(f"{name}: cannot read {command.log_file}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        plan = compat.plan(command)
    except ClusterNameError as exc:  # the old importer exited 2 without a cluster name
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    except compat.CompatError as exc:
        for line in exc.lines:
            print(f"{name}: {line}", file=sys.stderr)
        return 2
    compat.private_state_dir(plan.spool)
    for warning in plan.warnings:
        print(warning, file=sys.stderr)
    logs.setup(compat.LOG_LEVELS[command.log_level])
    try:
        note = compat.skip_lines(plan, command.skip)
        if note:
            print(note, file=sys.stderr)
        return _tail(plan) if command.tail_log else _once(name, plan, command.retry_forever)
    except SpoolError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 1


def _tail(plan: "compat.Plan") -> int:
    from agent.daemon import Daemon
    return Daemon(None, plan.config).run(once=False)


def _once(name: str, plan: "compat.Plan", retry_forever: bool) -> int:
    from agent import compat
    from agent.signals import SignalFlags
    flags = SignalFlags()
    flags.install()  # SIGTERM/SIGINT: stop at the next safe point; the spool keeps the rest
    result = compat.deliver_once(plan, give_up_after=None if retry_forever else compat.GIVE_UP_AFTER,
                                 interrupted=lambda: flags.stop)
    return report(name, plan, result)


def report(name: str, plan: "compat.Plan", result: "compat.OnceResult") -> int:
    """The summary lines of a one-shot run on stderr, and its exit code."""
    from agent import compat
    where = f"{plan.log_file} -> {plan.url}"
    if result.parse_errors:
        print(f"{name}: {result.parse_errors} lines of {plan.log_file} did not parse; they are kept as dead "
              f"letters in {plan.spool}", file=sys.stderr)
    if result.refused:
        print(f"{name}: the server refused {result.refused} records for good; they are kept as dead letters "
              f"in {plan.spool}", file=sys.stderr)
    if result.outcome == "delivered":
        print(f"{name}: {where}: read {result.records} records, everything read is delivered", file=sys.stderr)
        return 0
    left = f"{result.left} records stay in {plan.spool} and are sent first by the next run"
    if result.outcome == "gave_up":
        print(f"{name}: {where}: gave up after {compat.GIVE_UP_AFTER} failed retries ({result.error}); {left} "
              "(--retry_forever never gives up)", file=sys.stderr)
    elif result.outcome == "stopped":
        print(f"{name}: {where}: {result.error}; {left}", file=sys.stderr)
    else:
        print(f"{name}: {where}: interrupted; {left}", file=sys.stderr)
    return 1
