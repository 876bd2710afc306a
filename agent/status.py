"""What the agent is doing, read from the spool: per source and per sink, for people and for scripts.

Everything comes from the spool file (checkpoints, deliveries, the daemon's published
state), so `status` works while the daemon runs, after it died, or before it started.
"""
from __future__ import annotations

import os
import time
from typing import Any

from agent.config import Config
from spool import Spool, checkpoints, chunks, dead_letters


def collect(config: Config, spool: Spool) -> dict[str, Any]:
    """The status as one JSON-able dict (the `status --json` schema)."""
    now = time.time()
    state = spool.get_state()
    db = spool.db
    sources = []
    for src in config.sources:
        files = []
        for cp in checkpoints.live(db, src.name):
            size = None
            try:
                st = os.stat(cp.path)
                if (st.st_dev, st.st_ino) == (cp.dev, cp.ino):
                    size = st.st_size
            except OSError:
                pass
            files.append({"path": cp.path, "offset": cp.offset, "size": size,
                          "behind": max(0, size - cp.offset) if size is not None else 0, "state": cp.state})
        sources.append({"name": src.name, "files": files})
    sinks = []
    for sink in config.sinks:
        b = chunks.backlog(db, sink.name)
        stopped = state.get(f"sink:{sink.name}")
        sinks.append({
            "name": sink.name,
            "backlog_records": b.records,
            "backlog_bytes": b.bytes,
            "oldest_age_s": round(now - b.oldest, 3) if b.oldest else None,
            "last_error": b.last_error,
            "next_retry_in_s": round(max(0.0, b.next_attempt - now), 3) if b.next_attempt else None,
            "attempts": b.attempts,
            "state": stopped if stopped else ("retrying" if b.attempts else ("sending" if b.records else "idle")),
        })
    reason = state.get("paused") or _full_filesystem(config)
    return {
        "spool": str(config.agent.spool),
        "paused": reason is not None,
        "pause_reason": reason,
        "spool_bytes": spool.used_bytes(),
        "last_busy": state.get("busy"),
        "sources": sources,
        "sinks": sinks,
        "dead_letters": dead_letters.count(db),
    }


#: Less free space than this on the spool's filesystem: reading cannot go on.
FULL_BELOW = 1 << 20


def _full_filesystem(config: Config) -> str | None:
    """A full filesystem also stops the daemon from writing why it paused: say it from here."""
    from agent.units import format_size
    try:
        st = os.statvfs(config.agent.spool.parent)
    except OSError:
        return None
    free = st.f_bavail * st.f_frsize
    if free >= FULL_BELOW:
        return None
    return (f"the filesystem holding spool {config.agent.spool} is full ({format_size(free)} free); "
            "reading paused until space returns")


def _table(headers: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    """Aligned columns, numbers (`right`) flush right; the last column is never padded, so a
    long error message runs on instead of widening every row."""
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        out = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells[:-1], widths))]
        return "  ".join([*out, cells[-1]]).rstrip()
    return [line(headers), *(line(r) for r in rows)]


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def render(status: dict[str, Any]) -> str:
    """The status for a person at a terminal: a table of sources (files, bytes behind, each file
    below its source) and one of sinks (state, backlog, oldest undelivered, next retry, last error)."""
    from agent.units import format_size
    out = [f"spool {status['spool']} ({format_size(status['spool_bytes'])})"
           + (f"  PAUSED: {status['pause_reason']}" if status["paused"] else "")]
    if status.get("last_busy"):
        out.append(f"last busy: {status['last_busy']}")
    rows = []
    for src in status["sources"]:
        behind = sum(f["behind"] for f in src["files"])
        rows.append([src["name"], str(len(src["files"])), format_size(behind), ""])
        for f in src["files"]:
            size = "?" if f["size"] is None else str(f["size"])
            rows.append([f"  {f['path']}", "", format_size(f["behind"]), f"{f['state']}, offset {f['offset']}/{size}"])
    out += ["", *_table(["SOURCE", "FILES", "BEHIND", ""], rows, right={1, 2})]
    rows = []
    for s in status["sinks"]:
        retry = "-" if s["next_retry_in_s"] is None else f"in {s['next_retry_in_s']:.1f}s (attempt {s['attempts']})"
        rows.append([s["name"], s["state"], f"{s['backlog_records']:,}", format_size(s["backlog_bytes"]),
                     _age(s["oldest_age_s"]), retry, s["last_error"] or "-"])
    out += ["", *_table(["SINK", "STATE", "BACKLOG", "BYTES", "OLDEST", "NEXT RETRY", "LAST ERROR"], rows,
                        right={2, 3, 4})]
    out += ["", f"dead letters: {status['dead_letters']}"]
    return "\n".join(out)
