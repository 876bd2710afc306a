"""The old LavaFlow importers' command lines (`lava-import-openlava`, `lava-import-univa82`) as a logspool Config.

An old command line names one log file, one server and its key. It becomes one `file`
source (`openlava-events` reads lsb.events and lsb.acct alike, as `lsb_geteventrec`
did; `uge-accounting` for univa82) routed to one `lavaflow` sink, with a spool of
its own under the user's state directory, so a rerun resumes at its checkpoint
instead of sending the file again (the old importers kept no checkpoint,
scheduler.md §1.8.8). The key stays in memory: it is never written to the spool,
the environment or a log line.
"""
from __future__ import annotations

import glob
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from pydantic import SecretStr, ValidationError

from agent.backfill import backfill
from agent.config import Config
from agent.lsf_cluster import infer_cluster
from agent.secret import hide_in_cmdline, resolve_secret
from agent.sources.identity import fingerprint, marker
from spool import Spool, chunks
from spool.checkpoints import Checkpoint, save

#: Old importer name -> the format its file is read with.
IMPORTERS = {"lava-import-openlava": "openlava-events", "lava-import-univa82": "uge-accounting"}
SINK = "lavaflow"
#: The old `--log_level` names (Python's logging names plus `warn`, the old default).
LOG_LEVELS = {"debug": "debug", "info": "info", "warn": "warning", "warning": "warning", "error": "error",
              "critical": "critical"}
#: Backoff between attempts: a down server is retried at most once a minute (the old
#: importer retried in a tight loop, §1.8.2; its --tail_log polled every 60 s).
RETRY = {"initial": "1s", "max": "60s"}
#: Without --retry_forever a one-shot run gives up after this many failed retries of
#: the same batch (full-jitter waits of at most 1+2+4+…+60 s: about 2.5 min on average,
#: 5 min at most), leaving what is undelivered in its spool for the next run.
GIVE_UP_AFTER = 10

KEY_WARNING = ("warning: KEY on the command line is visible to every user of this host (ps, /proc/<pid>/cmdline). "
               "Give it as env:VAR or file:PATH instead, or move to `logspool run` with a [[sinks]] table of "
               "type \"lavaflow\" holding key_file = \"/etc/logspool/lavaflow.key\" or key = \"env:LAVAFLOW_KEY\" "
               "(README, \"Drop-in compatibility\").")


class CompatError(ValueError):
    """An old command line that cannot be run as it is; `lines` name the argument at fault."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


@dataclass(frozen=True)
class OldCommand:
    """One old importer command line, its options parsed (defaults are the old ones)."""

    importer: str
    log_file: str
    url: str
    key: str = field(repr=False)
    cluster: Optional[str] = None
    chunk_size: int = 200
    log_level: str = "warn"
    tail_log: bool = False
    retry_forever: bool = False
    skip: int = 0


@dataclass(frozen=True)
class Plan:
    """What an old command line runs: a validated Config and where its pieces are."""

    command: object  # OldCommand, or agent.compat_esmond's GridftpCommand
    config: Config
    log_file: str
    spool: Path
    source: str
    format: str
    sink: str = SINK
    warnings: list[str] = field(default_factory=list)
    url: str = ""  # the server, as the command line gave it (for messages)


def state_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """`$XDG_STATE_HOME/logspool/compat` (an absolute XDG_STATE_HOME only, as the spec says), else
    `~/.local/state/logspool/compat`."""
    xdg = environ.get("XDG_STATE_HOME", "")
    home = environ.get("HOME") or os.path.expanduser("~")
    base = Path(xdg) if os.path.isabs(xdg) else Path(home) / ".local" / "state"
    return base / "logspool" / "compat"


def private_state_dir(spool: Path, environ: Mapping[str, str] = os.environ) -> None:
    """Create `logspool/compat` under the state directory owner-only (0700), whatever the umask:
    the spools in it hold copies of the logs and the endpoint's answers. A spool elsewhere (a
    throw-away temporary directory, already 0700) is left alone."""
    base = state_dir(environ)
    if spool.parent != base:
        return
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    for d in (base.parent, base):
        os.chmod(d, 0o700)


def spool_path(importer: str, log_file: str, url: str, environ: Mapping[str, str] = os.environ,
               qualifier: str = "") -> Path:
    """The spool of one (importer, log file, server[, qualifier]): stable across runs, independent
    of the key, so a rerun with a rotated key still resumes. `log_file` "-" is standard input."""
    path = log_file if log_file == "-" else os.path.abspath(log_file)
    key = f"{importer}\0{path}\0{url.rstrip('/')}" + (f"\0{qualifier}" if qualifier else "")
    digest = hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
    name = "stdin" if path == "-" else re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.basename(path))[:40]
    return state_dir(environ) / f"{importer}-{name}-{digest}.sqlite"


def secret_argument(value: str, warnings: list[str], argument: str = "KEY", warning: str = KEY_WARNING) -> SecretStr:
    """A secret given as `argument` on the command line (with the `ps` warning), or read from
    "env:VAR" / "file:PATH" (without it)."""
    if value.startswith(("env:", "file:")):
        try:
            return resolve_secret(value)
        except ValueError as exc:
            raise CompatError([f"{argument}: {exc}"]) from None
    warnings.append(warning)
    hide_in_cmdline(value)  # from here on, and in the drain forked later, ps shows x's
    return SecretStr(value)


_ARGUMENTS = {"url": "URL", "chunk_size": "--chunk_size", "paths": "LOG_FILE", "key": "KEY"}


def _argument_errors(exc: ValidationError, cluster_argument: str) -> list[str]:
    """Config errors reworded in terms of the old command line's arguments."""
    lines = []
    for err in exc.errors():
        keys = [k for k in err.get("loc", ()) if isinstance(k, str) and k not in ("sinks", "sources", "agent",
                                                                                   "lavaflow", "file")]
        name = keys[-1] if keys else ""
        argument = cluster_argument if name == "cluster" else _ARGUMENTS.get(name, name or "arguments")
        lines.append(f"{argument}: {str(err.get('msg', '')).removeprefix('Value error, ')}")
    return lines


def plan(command: OldCommand, environ: Mapping[str, str] = os.environ,
         infer: Callable[[Mapping[str, str]], str] = infer_cluster) -> Plan:
    """The Config an old command line runs with.

    Raises ClusterNameError (lava-import-openlava without --cluster_name, when the LSF
    configuration does not say) and CompatError (a bad KEY, URL or --chunk_size).
    """
    fmt = IMPORTERS[command.importer]
    warnings: list[str] = []
    key = secret_argument(command.key, warnings)
    cluster = command.cluster or infer(environ)
    level = LOG_LEVELS[command.log_level.lower()]
    path = os.path.abspath(command.log_file)
    spool = spool_path(command.importer, command.log_file, command.url, environ)
    raw: dict[str, Any] = {
        "agent": {"spool": str(spool), "cluster": cluster, "log_level": "error" if level == "critical" else level},
        "sources": [{"name": command.importer, "type": "file", "paths": [glob.escape(path)], "format": fmt,
                     "sinks": [SINK]}],
        "sinks": [{"name": SINK, "type": "lavaflow", "url": command.url, "key": key, "cluster": cluster,
                   "chunk_size": command.chunk_size, "retry": dict(RETRY)}],
    }
    try:
        config = Config.model_validate(raw, context={"warnings": []})
    except ValidationError as exc:
        cluster_argument = "CLUSTER" if command.importer == "lava-import-univa82" else "--cluster_name"
        raise CompatError(_argument_errors(exc, cluster_argument)) from None
    return Plan(command, config, path, spool, command.importer, fmt, warnings=warnings, url=command.url)


def skip_lines(plan: Plan, lines: int) -> Optional[str]:
    """Start the log file after its first `lines` lines (`--skip`), on the first run only.

    The old importer did `lines` readline() calls before parsing, on every run, because
    it had no checkpoint. Here the skip becomes the file's first checkpoint, so record
    ids are the ones a full read gives. Returns a warning when it is not applied: the
    spool already has a checkpoint (the run resumes there instead), or the file is
    shorter than that.
    """
    if lines <= 0:
        return None
    spool = Spool(plan.spool)
    try:
        if spool.query("SELECT 1 FROM checkpoints WHERE source=? LIMIT 1", (plan.source,)):
            return (f"warning: --skip {lines} ignored: {plan.log_file} was read before by this command "
                    f"(spool {plan.spool}); it resumes at its checkpoint")
        fd = os.open(plan.log_file, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            offset, found = _after_lines(fd, lines)
            if offset == 0:
                return f"warning: --skip {lines} ignored: {plan.log_file} has no complete line yet"
            st = os.fstat(fd)
            cp = Checkpoint(None, plan.source, st.st_dev, st.st_ino, fingerprint(fd), plan.log_file, offset,
                            marker(fd, offset), False, "active")
            with spool.transaction() as db:
                save(db, cp)
        finally:
            os.close(fd)
    finally:
        spool.close()
    if found < lines:
        return f"warning: --skip {lines}: {plan.log_file} has only {found} complete lines; all of them are skipped"
    return None


def _after_lines(fd: int, lines: int) -> tuple[int, int]:
    """The offset just after the `lines`-th newline (or the last one), and how many were found."""
    offset = pos = found = 0
    while found < lines:
        block = os.pread(fd, 1 << 20, pos)
        if not block:
            break
        start = 0
        while found < lines:
            nl = block.find(b"\n", start)
            if nl < 0:
                break
            found, start = found + 1, nl + 1
            offset = pos + start
        pos += len(block)
    return offset, found


@dataclass
class OnceResult:
    """How a one-shot run ended: `delivered`, `gave_up` (server unreachable or failing),
    `stopped` (the sink is misconfigured, e.g. a wrong key) or `interrupted` (a signal)."""

    outcome: str
    records: int = 0
    parse_errors: int = 0
    refused: int = 0
    left: int = 0
    error: Optional[str] = None


class GiveUp:
    """Whether the sink's oldest batch has failed `limit` times *in this run*.

    The drain keeps its retry count in memory and publishes it on the head chunk
    (`chunks.backlog().attempts`, what `status` shows). A count left there by an earlier
    run is ignored: only a count published after the first look (a new `next_attempt`)
    is this run's.
    """

    def __init__(self, spool_path: Path, sink: str, limit: Optional[int]) -> None:
        self.path, self.sink, self.limit = spool_path, sink, limit
        self._spool: Optional[Spool] = None
        self._first: Optional[tuple[int, Optional[float]]] = None
        self.error: Optional[str] = None

    def __call__(self) -> bool:
        if self.limit is None:
            return False
        if self._spool is None:  # opened lazily: backfill forks its drain process first
            self._spool = Spool(self.path)
        head = chunks.backlog(self._spool.db, self.sink)
        state = (head.attempts, head.next_attempt)
        if self._first is None:
            self._first = state
        if head.attempts >= self.limit and state != self._first:
            self.error = head.last_error
            return True
        return False

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()


def deliver_once(plan: Plan, *, give_up_after: Optional[int] = GIVE_UP_AFTER,
                 interrupted: Callable[[], bool] = lambda: False, max_lines: Optional[int] = None) -> OnceResult:
    """Read the log file to its end and deliver every record; return when all are delivered.

    A failing server is retried with backoff, forever when `give_up_after` is None;
    otherwise the run gives up after that many failed retries of one batch. Nothing is
    dead-lettered for that: what is undelivered stays in the spool, and the next run
    sends it first. Raises SpoolError and SpoolLocked (another run on the same spool).
    """
    give_up = GiveUp(plan.spool, plan.sink, give_up_after)
    refused_before = _refused(plan)
    try:
        result = backfill(plan.config, [plan.log_file], plan.format, plan.sink, source_name=plan.source,
                          should_stop=lambda: interrupted() or give_up(), max_lines=max_lines)
        outcome = "interrupted" if interrupted() else "gave_up" if give_up.error is not None else "delivered"
        done = OnceResult(outcome, result.records, result.parse_errors, error=give_up.error)
    except RuntimeError as exc:  # backfill: the sink stopped (Misconfigured) or its drain died
        done = OnceResult("stopped", error=str(exc))
    finally:
        give_up.close()
    done.refused = _refused(plan) - refused_before
    spool = Spool(plan.spool)
    try:
        done.left = chunks.backlog(spool.db, plan.sink).records
    finally:
        spool.close()
    return done


def _refused(plan: Plan) -> int:
    """Records the server refused for good so far (dead letters of the sink)."""
    if not plan.spool.exists():
        return 0
    spool = Spool(plan.spool)
    try:
        return int(spool.query("SELECT count(*) FROM dead_letters WHERE sink=?", (plan.sink,))[0][0])
    finally:
        spool.close()
