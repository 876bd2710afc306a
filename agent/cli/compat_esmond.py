"""`logspool compat esmond-ps-load-gridftp|esmond-ps-pipe`: the old esmond clients' command lines."""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent import compat, compat_esmond

HELP = """Run an old esmond client command line unchanged, on the logspool engine:
esmond-ps-load-gridftp (GridFTP transfer logs, from cron or logrotate's prerotate) or
esmond-ps-pipe (bwctl output on standard input). State is a spool instead of a pickle:
under $XDG_STATE_HOME/logspool/compat (else ~/.local/state/logspool/compat), or at
FILE.sqlite with -p FILE. A rerun resumes where the last one stopped; a server that
keeps failing is retried with backoff and given up after 10 retries (exit 1; what is
undelivered stays in the spool and is sent first by the next run).

-k KEY on a command line is visible to every user in `ps`: give it as env:VAR or
file:PATH, or better, move to `logspool run` with a [[sinks]] table of type "esmond".

Example:
  logspool compat esmond-ps-load-gridftp -f /var/log/gridftp-transfer.log \\
      -U https://ma.example.org/esmond -u gridftp -k env:ESMOND_KEY
  bwctl -c recv.example.org -s send.example.org -T iperf3 --parsable --verbose |& \\
      logspool compat esmond-ps-pipe -U https://ma.example.org/esmond -u bwctl -k file:/etc/esmond.key
"""

IMPORTERS = ("esmond-ps-load-gridftp", "esmond-ps-pipe")


def _server(p: argparse.ArgumentParser) -> None:
    p.add_argument("-U", "--url", metavar="ESMOND_REST_URL", default="http://localhost:8000",
                   help="the esmond server (http://localhost:8000); a path in it is the script alias")
    p.add_argument("-u", "--user", metavar="USER", default="", help="the API user")
    p.add_argument("-k", "--key", metavar="API_KEY", default="",
                   help="the API key (or env:VAR, file:PATH: not visible in ps)")
    p.add_argument("-s", "--script_alias", metavar="URI_PREFIX", default="/",
                   help="the script alias after the URL (/ = none)")
    p.add_argument("-v", "--verbose", action="count", default=0, help="debug logging")
    p.add_argument("-l", "--log_dir", metavar="DIR", default="",
                   help="append the log to DIR/<command>.log instead of stderr")


def add_importers(importers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """The two esmond command lines as `logspool compat` importers."""
    g = importers.add_parser("esmond-ps-load-gridftp", help="GridFTP transfer log to an esmond archive",
                             description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    g.add_argument("-f", "--file", metavar="FILE", dest="file", help="the GridFTP transfer log (required)")
    g.add_argument("-p", "--pickle_file", metavar="FILE", dest="state", default="",
                   help="keep the state at FILE.sqlite (the old pickle is not read)")
    g.add_argument("-d", "--dont_write", action="store_true", help="remember nothing (a throw-away spool)")
    g.add_argument("-S", "--single", action="store_true", help="send only the next line")
    g.add_argument("-D", "--delete_state", action="store_true",
                   help="for logrotate prerotate: deliver the file to its end before it is rotated")
    g.add_argument("-F", "--file_attr", action="store_true", help="send the file name (sensitive: off)")
    g.add_argument("-N", "--name_attr", action="store_true", help="send the user name (sensitive: off)")
    g.add_argument("-V", "--volume_attr", action="store_true", help="send the volume (sensitive: off)")
    g.add_argument("-P", "--no-progress", action="store_true", help="accepted; progress shows on a terminal only")
    g.add_argument("-J", "--json", action="store_true", help="the log is RAMSES JSON (format gridftp-json)")
    _server(g)
    g.set_defaults(importer="esmond-ps-load-gridftp")
    pp = importers.add_parser("esmond-ps-pipe", help="bwctl/iperf3 output on stdin to an esmond archive",
                              description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    _server(pp)
    pp.set_defaults(importer="esmond-ps-pipe")


def run(args: argparse.Namespace) -> int:
    from agent import compat, compat_esmond, logs
    from spool import SpoolError
    name = f"logspool compat {args.importer}"
    pipe = args.importer == "esmond-ps-pipe"
    if args.log_dir and not os.path.isdir(args.log_dir):
        print(f"{name}: {os.path.normpath(args.log_dir)} log path does not exist.", file=sys.stderr)
        return 2
    if pipe and not (args.user and args.key):
        print(f"{name}: both --user and --key args are required.", file=sys.stderr)
        return 2
    if not pipe:
        if not args.file:
            print(f"{name}: Filename is required (-f FILE).", file=sys.stderr)
            return 2
        try:
            open(args.file, "rb").close()
        except OSError as exc:
            print(f"{name}: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
            return 2
    command = compat_esmond.GridftpCommand(
        file="-" if pipe else args.file, url=args.url, user=args.user or None, key=args.key or None,
        script_alias=args.script_alias, state=getattr(args, "state", "") or None,
        dont_write=getattr(args, "dont_write", False), single=getattr(args, "single", False),
        delete_state=getattr(args, "delete_state", False), send_file=getattr(args, "file_attr", False),
        send_user=getattr(args, "name_attr", False), send_volume=getattr(args, "volume_attr", False),
        verbose=bool(args.verbose), json=getattr(args, "json", False), log_dir=args.log_dir or None, pipe=pipe)
    try:
        plan = compat_esmond.plan(command)
    except compat.CompatError as exc:
        for line in exc.lines:
            print(f"{name}: {line}", file=sys.stderr)
        return 2
    compat.private_state_dir(plan.spool)
    for warning in plan.warnings:
        print(warning, file=sys.stderr)
    logs.setup("debug" if command.verbose else "info",  # the old clients logged at INFO
               os.path.join(command.log_dir, f"{args.importer}.log") if command.log_dir else None)
    scratch = compat_esmond.throwaway(plan)
    log = logging.getLogger("logspool.compat")
    log.info("Start.", extra={"command": args.importer, "file": plan.log_file, "url": command.url,
                              "spool": str(plan.spool)})
    try:
        code = _pipe(name, plan) if pipe else _once(name, plan, command)
        log.info("End.", extra={"command": args.importer, "exit": code})
        return code
    except SpoolError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 1
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _once(name: str, plan: "compat.Plan", command: "compat_esmond.GridftpCommand") -> int:
    from agent import compat
    from agent.cli.compat import report
    from agent.signals import SignalFlags
    flags = SignalFlags()
    flags.install()  # SIGTERM/SIGINT: stop at the next safe point; the spool keeps the rest
    result = compat.deliver_once(plan, give_up_after=compat.GIVE_UP_AFTER, interrupted=lambda: flags.stop,
                                 max_lines=1 if command.single else None)
    return report(name, plan, result)


def _pipe(name: str, plan: "compat.Plan") -> int:
    from agent import compat
    from agent.cli.pipe import EX_DATAERR
    from agent.pipe import pipe, read_all
    data = read_all(sys.stdin.buffer)
    if not data.strip():
        print(f"{name}: standard input was empty: nothing to send (did bwctl run?)", file=sys.stderr)
        return EX_DATAERR
    give_up = compat.GiveUp(plan.spool, plan.sink, compat.GIVE_UP_AFTER)
    try:
        result = pipe(plan.config, data, plan.format, [plan.sink], source=plan.source, wait=True,
                      should_stop=give_up)
    except RuntimeError as exc:  # the sink stopped: a wrong key, a moved server
        print(f"{name}: {exc}; the result stays in {plan.spool} and is sent first by the next run", file=sys.stderr)
        return 1
    finally:
        give_up.close()
    for error in result.errors:
        print(f"{name}: {error}", file=sys.stderr)
    if result.errors:
        print(f"{name}: the input is kept as a dead letter in {plan.spool}", file=sys.stderr)
        return EX_DATAERR
    if give_up.error is not None:
        print(f"{name}: {plan.url}: gave up after {compat.GIVE_UP_AFTER} failed retries ({give_up.error}); "
              f"the result stays in {plan.spool} and is sent first by the next run", file=sys.stderr)
        return 1
    return 0
