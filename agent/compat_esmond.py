"""The old esmond client command lines (`esmond-ps-load-gridftp`, `esmond-ps-pipe`) as a logspool Config.

`esmond-ps-load-gridftp -f FILE` kept a pickle of the last record it sent and, on the
next cron run, scanned the whole file for it (esmond.md §1.4); on Python 3 it crashed
before saving it, so every run re-sent everything. Here the same command line becomes
one `file` source routed to one `esmond` sink, with a spool of its own: the checkpoint
(offset, inode, fingerprint) replaces the pickle, so a rerun resumes where the last one
stopped and a rotated file is told from its successor by content, not by a record
equal to the last one sent.

Flags (esmond.md §1.5): `-d` runs on a throw-away spool (nothing is remembered, as the
old flag skipped writing the pickle); `-D` (meant for logrotate's prerotate) reads the
file to its end and delivers before rotation: the checkpoint need not be deleted,
because the next file is recognised as new by its inode and first line; `-S` reads
one line past the checkpoint; `-p FILE` keeps the spool at `FILE.sqlite` instead of the
state directory, so instances that had their own pickle keep their own state.
"""
from __future__ import annotations

import glob
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

import httpx
from pydantic import ValidationError

from agent.compat import RETRY, CompatError, Plan, secret_argument
from agent.compat import spool_path as compat_spool_path
from agent.config import Config

SINK = "esmond"
#: The old clients' default server (esmond_client/clients/*: `http://localhost:8000`).
DEFAULT_URL = "http://localhost:8000"
KEY_WARNING = ("warning: -k KEY on the command line is visible to every user of this host (ps, /proc/<pid>/cmdline). "
               "Give it as env:VAR or file:PATH instead, or move to `logspool run` with a [[sinks]] table of "
               "type \"esmond\" holding key_file = \"/etc/logspool/esmond.key\" (README, \"Drop-in compatibility\").")


@dataclass(frozen=True)
class GridftpCommand:
    """One esmond-ps-load-gridftp (or, with `pipe`, esmond-ps-pipe) command line, parsed."""

    file: str
    url: str = DEFAULT_URL
    user: Optional[str] = None
    key: Optional[str] = field(default=None, repr=False)
    script_alias: str = "/"
    state: Optional[str] = None        # -p
    dont_write: bool = False           # -d
    single: bool = False               # -S
    delete_state: bool = False         # -D
    send_file: bool = False            # -F
    send_user: bool = False            # -N
    send_volume: bool = False          # -V
    verbose: bool = False              # -v
    json: bool = False                 # -J
    log_dir: Optional[str] = None      # -l
    pipe: bool = False                 # esmond-ps-pipe


def split_url(url: str, script_alias: str) -> tuple[str, str]:
    """(scheme://host:port, the script alias) from the old `-U` and `-s`.

    The old clients joined them as `<url>/<alias>/perfsonar/archive/`, and their docs pass
    `-U https://host/esmond` with the default alias `/`; so a path in the URL comes first,
    then the alias, and the sink gets the two apart (its url has no path).
    """
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise CompatError([f"-U: expected an http:// or https:// URL, e.g. https://ma.example.org ({exc})"]) from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise CompatError(["-U: expected an http:// or https:// URL with a host, e.g. https://ma.example.org/esmond"])
    base = f"{parsed.scheme}://{parsed.netloc.decode('ascii')}"
    parts = [p for p in (parsed.path.strip("/"), script_alias.strip("/")) if p]
    return base, "/" + "/".join(parts) if parts else "/"


def spool_path(command: GridftpCommand, environ: Mapping[str, str] = os.environ) -> Path:
    """`-p FILE` -> FILE.sqlite; else one spool per (tool, file, server, alias) under the state directory."""
    if command.state:
        return Path(os.path.abspath(command.state + ".sqlite"))
    tool = "esmond-ps-pipe" if command.pipe else "esmond-ps-load-gridftp"
    return compat_spool_path(tool, "-" if command.pipe else command.file, command.url, environ,
                             qualifier=command.script_alias)


def plan(command: GridftpCommand, environ: Mapping[str, str] = os.environ) -> Plan:
    """The Config an old esmond command line runs with; CompatError names the argument at fault."""
    warnings: list[str] = []
    key = secret_argument(command.key, warnings, "-k", KEY_WARNING) if command.key is not None else None
    if key is None:
        raise CompatError(["-k: esmond needs an API key for writes (esmond/manage.py add_api_key_user <name> "
                           "prints one); give it as -k env:VAR or -k file:PATH"])
    url, alias = split_url(command.url, command.script_alias)
    tmp = Path(tempfile.mkdtemp(prefix="logspool-esmond-")) if command.dont_write else None
    spool = (tmp / "spool.db") if tmp is not None else spool_path(command, environ)
    fmt = "bwctl-iperf3" if command.pipe else "gridftp-json" if command.json else "gridftp"
    source = "esmond-ps-pipe" if command.pipe else "esmond-ps-load-gridftp"
    sink: dict[str, Any] = {"name": SINK, "type": "esmond", "url": url, "script_alias": alias, "key": key,
                            "send_file": command.send_file, "send_user": command.send_user,
                            "send_volume": command.send_volume, "retry": dict(RETRY)}
    if command.user:
        sink["username"] = command.user
    raw: dict[str, Any] = {
        "agent": {"spool": str(spool), "log_level": "debug" if command.verbose else "info"},
        "sources": [] if command.pipe else [
            {"name": source, "type": "file", "paths": [glob.escape(os.path.abspath(command.file))], "format": fmt,
             "sinks": [SINK]}],
        "sinks": [sink],
    }
    try:
        config = Config.model_validate(raw, context={"warnings": []})
    except ValidationError as exc:
        raise CompatError([_argument_error(err) for err in exc.errors()]) from None
    return Plan(command, config, "-" if command.pipe else os.path.abspath(command.file), spool, source, fmt,
                sink=SINK, warnings=warnings, url=command.url)


_ARGUMENTS = {"url": "-U", "script_alias": "-s", "key": "-k", "username": "-u", "paths": "-f"}


def _argument_error(err: Any) -> str:
    keys = [k for k in err.get("loc", ()) if isinstance(k, str) and k not in ("sinks", "sources", "agent", SINK,
                                                                               "file")]
    name = keys[-1] if keys else ""
    return f"{_ARGUMENTS.get(name, name or 'arguments')}: {str(err.get('msg', '')).removeprefix('Value error, ')}"


def throwaway(plan: Plan) -> Optional[Path]:
    """The private directory of a `-d` run (to delete when it ends), else None."""
    command = plan.command
    if isinstance(command, GridftpCommand) and command.dont_write:
        return plan.spool.parent
    return None
