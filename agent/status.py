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


def render(status: dict[str, Any]) -> str:
    """The status as a few aligned lines for a terminal."""
    from agent.units import format_size
    out = [f"spool {status['spool']} ({format_size(status['spool_bytes'])})"
           + (f"  PAUSED: {status['pause_reason']}" if status["paused"] else "")]
    if status.get("last_busy"):
        out.append(f"last busy: {status['last_busy']}")
    for src in status["sources"]:
        out.append(f"source {src['name']}: {len(src['files'])} file(s)")
        for f in src["files"]:
            size = "?" if f["size"] is None else str(f["size"])
            out.append(f"  {f['path']}  offset {f['offset']}/{size}  behind {format_size(f['behind'])}  {f['state']}")
    for s in status["sinks"]:
        line = (f"sink {s['name']}: {s['state']}, backlog {s['backlog_records']} records "
                f"({format_size(s['backlog_bytes'])})")
        if s["oldest_age_s"] is not None:
            line += f", oldest {s['oldest_age_s']:.0f}s"
        if s["last_error"]:
            line += f", last error: {s['last_error']}"
        if s["next_retry_in_s"] is not None:
            line += f", next retry in {s['next_retry_in_s']:.1f}s (attempt {s['attempts']})"
        out.append(line)
    out.append(f"dead letters: {status['dead_letters']}")
    return "\n".join(out)
