"""The five measured cases: the naive yardstick, `backfill` to file and HTTP, `run` to HTTP and file.

Each case gets a fresh directory (config, spool, output, agent log) and returns one
`Result`. Timing starts just before the exec (so start-up counts, as it did for the
peers). A case ends when its data is complete at the destination: for `backfill` and
the naive shipper that is their exit (both exit only once everything is acknowledged);
for `run`, which never exits by itself, it is the moment the receiver holds all N
distinct records (its own clock) or the output file has N lines (seen by a 50 ms
poll), after which the agent gets SIGTERM. Exactly-once is then checked from what
arrived: distinct DATE values == N and no duplicates.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from process_tree import Tree
from receiver import Receiver

HERE = Path(__file__).resolve().parent
KEY_RE = re.compile(rb'DATE(?:=|"\s*:\s*")(\d{14}\.\d{6})')
POLL = 0.05
BATCH_RECORDS = 2000


@dataclass
class Result:
    case: str
    ok: bool = False
    error: Optional[str] = None
    wall_s: float = 0.0               # start -> all N at the destination
    cpu_s: float = 0.0                # the shipper's process tree (drain child included)
    parent_rss_mb: float = 0.0        # peak (VmHWM) of the command's own process
    child_rss_mb: float = 0.0         # peak of its largest descendant (the drain process)
    exit_s: Optional[float] = None    # backfill: start -> exit; run: SIGTERM -> exit
    records: int = 0                  # records that arrived (duplicates included)
    distinct: int = 0
    duplicates: int = 0
    requests: Optional[int] = None    # HTTP requests the receiver took
    receiver_cpu_s: Optional[float] = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Setup:
    exe: list[str]       # the logspool command
    python: str          # interpreter for the naive shipper
    data: Path           # the generated input
    lines: int
    timeout: float


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return json.dumps(str(v))


def write_config(path: Path, sink: dict[str, Any], data: Path) -> None:
    """One file source over the input and one sink `out`; backfill and run share it so ids match."""
    tables = [("agent", {"spool": "spool/spool.db", "log_level": "info"}),
              ("[sources]", {"name": "gridftp", "type": "file", "paths": [str(data)], "format": "lines",
                             "sinks": ["out"], "read_from": "beginning"}),
              ("[sinks]", dict({"name": "out", "batch_records": BATCH_RECORDS}, **sink))]
    text = []
    for name, values in tables:
        text.append(f"[{name}]")
        text += [f"{k} = {toml_value(v)}" for k, v in values.items()]
        text.append("")
    path.write_text("\n".join(text))


def file_keys(path: Path) -> tuple[int, int, int]:
    """(lines, distinct DATE keys, duplicate keys) of an NDJSON output file."""
    lines, total, keys = 0, 0, set()
    if not path.exists():
        return 0, 0, 0
    with open(path, "rb") as fh:
        rest = b""
        while True:
            block = fh.read(8 << 20)
            if not block:
                break
            block = rest + block
            cut = block.rfind(b"\n") + 1
            rest, block = block[cut:], block[:cut]
            lines += block.count(b"\n")
            found = KEY_RE.findall(block)
            total += len(found)
            keys.update(found)
    return lines, len(keys), total - len(keys)


class LineCounter:
    """Counts newlines appended to a file, reading only what is new since the last call."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.lines = path, 0, 0

    def __call__(self) -> int:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return 0
        self.offset += len(data)
        self.lines += data.count(b"\n")
        return self.lines


def _finish(res: Result, tree: Tree, done_at: Optional[float]) -> Result:
    st = tree.final() if not tree.running() else tree.sample()
    res.parent_rss_mb, res.child_rss_mb = st.parent_hwm_kb / 1024, st.child_hwm_kb / 1024
    if st.children_seen:
        res.extra["child_cpu_s"] = st.child_cpu_s
    if done_at is not None:
        res.wall_s = done_at - tree.t0
    return res


def _tail(log: Path, n: int = 600) -> str:
    try:
        return log.read_bytes()[-n:].decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def _check(res: Result, lines: int) -> Result:
    res.ok = res.error is None and res.distinct == lines and res.duplicates == 0
    if res.error is None and not res.ok:
        res.error = f"exactly-once failed: {res.distinct} distinct of {lines}, {res.duplicates} duplicates"
    return res


def _run_to_exit(res: Result, tree: Tree, s: Setup, log: Path) -> bool:
    """Wait for a one-shot command; False (with res.error) on a timeout or a non-zero exit."""
    try:
        exited = tree.wait(s.timeout, POLL)
    finally:
        if tree.running():     # a timeout, or the runner itself interrupted: never leave it behind
            tree.stop()
    if not exited:
        res.error = f"timeout after {s.timeout:g}s"
        return False
    _finish(res, tree, tree.t_exit)
    res.cpu_s = tree.final().cpu_s
    res.exit_s = (tree.t_exit or 0) - tree.t0
    if tree.exit_code != 0:
        res.error = f"exit code {tree.exit_code}: {_tail(log)}"
        return False
    return True


def _from_receiver(res: Result, rx: Receiver, t0: float) -> None:
    """Counts at the receiver; `receiver_done_s` is when it had all N (start = 0)."""
    st = rx.stats()
    res.records, res.distinct, res.duplicates = st["keys_total"], st["keys_distinct"], st["duplicates"]
    res.requests = st["requests"]
    res.receiver_cpu_s = rx.cpu_s()
    if st.get("t_done"):
        res.extra["receiver_done_s"] = st["t_done"] - t0


def naive_http(s: Setup, d: Path) -> Result:
    res = Result("naive -> http (yardstick)")
    rx = Receiver(d, s.lines).start()
    try:
        log = d / "naive.log"
        tree = Tree([s.python, str(HERE / "naive_ship.py"), str(s.data), str(rx.port)], d, log).start()
        if _run_to_exit(res, tree, s, log):
            _from_receiver(res, rx, tree.t0)
    finally:
        rx.stop()
    return _check(res, s.lines)


def _backfill(s: Setup, d: Path, res: Result, sink: dict[str, Any]) -> Tree:
    cfg = d / "agent.toml"
    write_config(cfg, sink, s.data)
    log = d / "agent.log"
    tree = Tree(s.exe + ["backfill", str(s.data), "--format", "lines", "--sink", "out", "--config", str(cfg)],
                d, log).start()
    _run_to_exit(res, tree, s, log)
    return tree


def backfill_file(s: Setup, d: Path) -> Result:
    res = Result("backfill -> file")
    out = d / "out.ndjson"
    _backfill(s, d, res, {"type": "file", "path": str(out)})
    if res.error is None:
        _, res.distinct, res.duplicates = file_keys(out)
        res.records = res.distinct + res.duplicates
    return _check(res, s.lines)


def backfill_http(s: Setup, d: Path) -> Result:
    res = Result("backfill -> http")
    rx = Receiver(d, s.lines).start()
    try:
        tree = _backfill(s, d, res, {"type": "http", "url": rx.url})
        if res.error is None:
            _from_receiver(res, rx, tree.t0)
    finally:
        rx.stop()
    return _check(res, s.lines)


def _live(s: Setup, d: Path, res: Result, sink: dict[str, Any], done: Callable[[], Optional[float]]) -> float:
    """`logspool run` until `done()` returns the completion time; then CPU/RSS, then SIGTERM."""
    cfg = d / "agent.toml"
    write_config(cfg, sink, s.data)
    log = d / "agent.log"
    tree = Tree(s.exe + ["run", "--config", str(cfg)], d, log).start()
    try:
        done_at = _until(tree, done, s.timeout)
    except BaseException:
        tree.stop()
        raise
    if done_at is None:
        res.error = (f"timeout after {s.timeout:g}s" if tree.running()
                     else f"run exited early (code {tree.exit_code}): {_tail(log)}")
        tree.stop()
        return tree.t0
    st = tree.sample()                      # the tree's CPU at completion, as for the peers
    res.cpu_s = st.cpu_s
    _finish(res, tree, done_at)
    res.exit_s = tree.stop()
    res.extra["cpu_at_exit_s"] = tree.final().cpu_s
    if tree.exit_code != 0:
        res.error = f"SIGTERM exit code {tree.exit_code}: {_tail(log)}"
    return tree.t0


def _until(tree: Tree, done: Callable[[], Optional[float]], timeout: float) -> Optional[float]:
    """Sample the tree every POLL s until `done()` gives a time, the tree exits, or `timeout` passes."""
    end = time.monotonic() + timeout
    while tree.running() and time.monotonic() < end:
        done_at = done()
        if done_at is not None:
            return done_at
        tree.sample()
        time.sleep(POLL)
    return None


def run_http(s: Setup, d: Path) -> Result:
    res = Result("run -> http (live tail)")
    rx = Receiver(d, s.lines).start()

    def done() -> Optional[float]:
        summary = rx.done()
        return float(summary["t_done"]) if summary else None
    try:
        t0 = _live(s, d, res, {"type": "http", "url": rx.url}, done)
        if res.error is None:
            _from_receiver(res, rx, t0)
    finally:
        rx.stop()
    return _check(res, s.lines)


def run_file(s: Setup, d: Path) -> Result:
    res = Result("run -> file (live tail)")
    out = d / "out.ndjson"
    count = LineCounter(out)

    def done() -> Optional[float]:
        return time.time() if count() >= s.lines else None
    _live(s, d, res, {"type": "file", "path": str(out)}, done)
    if res.error is None:
        _, res.distinct, res.duplicates = file_keys(out)
        res.records = res.distinct + res.duplicates
    return _check(res, s.lines)


CASES: list[tuple[str, Callable[[Setup, Path], Result]]] = [
    ("naive-http", naive_http),
    ("backfill-file", backfill_file),
    ("backfill-http", backfill_http),
    ("run-http", run_http),
    ("run-file", run_file),
]
