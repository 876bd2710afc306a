"""`logspool dead-letters list|replay|purge`: records that were refused or could not be parsed."""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import orjson

from agent.cli import config_option

HELP = """Records an endpoint refused for good (with its answer) and lines that could not be
parsed or were too long (with file and byte offset) are kept as dead letters.

Example:
  logspool dead-letters list --config agent.toml
  logspool dead-letters list --json --sink archive > refused.ndjson
  logspool dead-letters replay --sink archive          # after fixing the cause
  logspool dead-letters purge --id 17 --id 18
"""


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("dead-letters", help="list, replay or purge dead letters", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=["list", "replay", "purge"])
    config_option.add(p)
    p.add_argument("--sink", help="only dead letters of this sink")
    p.add_argument("--id", type=int, action="append", dest="ids", metavar="N", help="only this dead letter (repeatable)")
    p.add_argument("--json", action="store_true", help="list as JSON lines")
    p.set_defaults(func=run)


def _record(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {"raw": raw.decode("utf-8", "replace")}


def run(args: argparse.Namespace) -> int:
    from agent.dead_letter_replay import replay
    from spool import Spool, SpoolError, dead_letters
    config = config_option.load(args, quiet_warnings=True)
    if not config.agent.spool.exists():
        print(f"logspool dead-letters: no spool at {config.agent.spool}", file=sys.stderr)
        return 1
    try:
        spool = Spool(config.agent.spool)
    except SpoolError as exc:
        print(f"logspool dead-letters: {exc}", file=sys.stderr)
        return 1
    try:
        if args.action == "list":
            letters = dead_letters.select(spool.db, args.sink, args.ids)
            for d in letters:
                if args.json:
                    sys.stdout.write(orjson.dumps({
                        "id": d.id, "sink": d.sink, "record_id": d.record_id, "source": d.source,
                        "reason": d.reason, "time": d.time, "record": _record(d.record)}).decode() + "\n")
                else:
                    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(d.time))
                    print(f"#{d.id}  {stamp}Z  sink={d.sink or '-'}  {d.record_id}  {d.reason}")
            if not args.json:
                print(f"{len(letters)} dead letter(s)", file=sys.stderr)
            return 0
        if args.action == "replay":
            result = replay(config, spool, args.sink, args.ids)
            for line in result.kept:
                print(f"kept {line}", file=sys.stderr)
            print(f"requeued {result.requeued} record(s); the daemon delivers them", file=sys.stderr)
            return 0
        with spool.transaction() as db:
            ids = [d.id for d in dead_letters.select(db, args.sink, args.ids)]
            dead_letters.delete(db, ids)
        print(f"purged {len(ids)} dead letter(s)", file=sys.stderr)
        return 0
    except SpoolError as exc:
        print(f"logspool dead-letters: {exc}", file=sys.stderr)
        return 1
    finally:
        spool.close()
