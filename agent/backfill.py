"""One-shot delivery of static files (old logs, a migration from the import scripts).

The files go through the same reader and spool as `run`, so their records carry the
ids `run` would give them (the source name is taken from the configured source whose
paths match, which is what makes the ids equal) and a sink that deduplicates by id
absorbs any overlap with what the daemon already sent.

With `dont_write`, a private temporary spool is used and thrown away: the live spool
and its checkpoints are not touched. Otherwise the live spool is used: its
checkpoints advance (the daemon will not read those bytes again), and if a daemon is
running it delivers the chunks while backfill waits for them.
"""
from __future__ import annotations

import glob
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, TextIO

from agent.config import Config
from agent.drain_process import DrainProcess
from agent.pipeline import encoder_for, source_matches
from agent.sources import file as file_source
from spool import InstanceLock, Spool

log = logging.getLogger("logspool.backfill")


@dataclass
class BackfillResult:
    records: int = 0
    bytes: int = 0
    parse_errors: int = 0


def source_config_for(config: Config, path: str, fmt: str, sink: str,
                      source_name: Optional[str]) -> tuple[file_source.Config, bool]:
    """The file source config to read `path` with, and whether a configured (live) source covers it.

    The covering source's name is used, so the ids are the ones `run` gives."""
    covering = next((src for src in config.sources
                     if isinstance(src, file_source.Config) and source_matches(src, path)), None)
    name = source_name or (covering.name if covering else "backfill")
    exact = glob.escape(os.path.abspath(path))  # the file itself, even if its name has [ * or ?
    return (file_source.Config(name=name, type="file", paths=[exact], format=fmt, sinks=[sink],
                               read_from="beginning", rotate_wait=0.0), covering is not None)


def wait_delivered(spool: Spool, sinks: list[str], last: int, drains: Optional[DrainProcess],
                   should_stop: Callable[[], bool]) -> None:
    """Return once `sinks` acknowledged every chunk up to id `last` (a sink delivers in chunk
    order, so older chunks come first anyway); RuntimeError if a sink stopped (misconfigured)
    or our drain process died. `backfill` and `pipe --wait` wait here."""
    while not should_stop():
        marks = ",".join("?" * len(sinks))
        left = spool.query(f"SELECT count(*) FROM deliveries WHERE sink IN ({marks}) AND chunk_id<=?",
                           (*sinks, last))[0][0]
        if left == 0:
            return
        state = spool.get_state()
        for name in sinks:
            if state.get(f"sink:{name}"):
                raise RuntimeError(f"sink {name} {state[f'sink:{name}']}")
        if drains is not None and not drains.alive():
            raise RuntimeError(f"the drain process for sink {', '.join(sinks)} exited (code {drains.exit_code})")
        time.sleep(0.05)


class Progress:
    """A one-line progress bar on a terminal; silent otherwise."""

    def __init__(self, total: int, stream: TextIO = sys.stderr) -> None:
        self.total, self.stream, self.start = max(total, 1), stream, time.time()
        self.enabled = stream.isatty()
        self._last = 0.0

    def update(self, done: int, records: int, force: bool = False) -> None:
        now = time.time()
        if not self.enabled or (not force and now - self._last < 0.2):
            return
        self._last = now
        rate = records / max(now - self.start, 1e-6)
        pct = 100.0 * done / self.total
        bar = "#" * int(pct / 5)
        self.stream.write(f"\r[{bar:<20}] {pct:5.1f}%  {records:,} records  {rate:,.0f}/s ")
        self.stream.flush()
        if force:
            self.stream.write("\n")


def backfill(config: Config, files: list[str], fmt: str, sink: str, *, dont_write: bool = False,
             source_name: Optional[str] = None, progress: Optional[Progress] = None,
             should_stop: Callable[[], bool] = lambda: False, max_lines: Optional[int] = None) -> BackfillResult:
    """Read `files` to their end (or `max_lines` lines past their checkpoints), deliver to `sink`,
    return when all is acknowledged."""
    config.sink(sink)  # KeyError for an unknown sink, before anything is opened
    tmp: Optional[tempfile.TemporaryDirectory[str]] = None
    if dont_write:
        tmp = tempfile.TemporaryDirectory(prefix="logspool-backfill-")
        spool_path = Path(tmp.name) / "spool.db"
    else:
        spool_path = config.agent.spool
    lock = InstanceLock(spool_path)
    daemon_running = lock.held_by_other()
    if not daemon_running:
        lock.acquire()
    result = BackfillResult()
    total = sum(os.path.getsize(f) for f in files)
    progress = progress or Progress(total)
    drains: Optional[DrainProcess] = None
    if not daemon_running:
        Spool(spool_path, check=True).close()  # integrity check and schema before the fork
        drains = DrainProcess(config, spool_path, [sink], close_fds=(lock.fileno(),))
        drains.start()  # before this process has threads or spool connections
    spool = Spool(spool_path)
    if not daemon_running:
        spool.set_state(f"sink:{sink}", None)
    try:
        done_bytes = 0
        for path in files:
            src_cfg, live = source_config_for(config, path, fmt, sink, source_name)
            reader = file_source.FileSource(src_cfg, spool, encoder_for(config, src_cfg), max_lines=max_lines)
            while not should_stop():
                step = reader.step()
                result.records += step.records
                result.parse_errors += step.errors
                done_bytes += step.bytes
                progress.update(done_bytes, result.records)
                if drains is not None and step.bytes:
                    drains.notify()
                if step.bytes == 0 and reader.drained():
                    break
                if max_lines is not None and step.bytes:
                    break  # one step read up to max_lines lines
            if (dont_write or not live) and max_lines is None:  # a static file's last line needs no newline
                result.records += reader.finish().records
            reader.close()
        result.bytes = done_bytes
        last = spool.query("SELECT coalesce(max(id), 0) FROM chunks")[0][0]
        if drains is not None:
            drains.notify()
        wait_delivered(spool, [sink], last, drains, should_stop)
        progress.update(total, result.records, force=True)
        return result
    finally:
        if drains is not None:
            drains.stop()
        spool.close()
        lock.release()
        if tmp is not None:
            tmp.cleanup()
