"""Wiring one validated config into running parts: file sources and one drain per sink.

`run`, `prerotate` and `backfill` all build their readers here, so a line gets the
same record id whichever of them reads it.
"""
from __future__ import annotations

import fnmatch
import os
import threading
from pathlib import Path
from typing import Optional

from agent.config import Config
from agent.acker import Acker
from agent.drain import Drain
from agent.envelope import EnvelopeEncoder
from agent.sinks import SINKS, Sink, SinkConfig
from agent.sources import file as file_source
from spool import Spool, SpoolSinkState


def encoder_for(config: Config, source: file_source.Config) -> EnvelopeEncoder:
    return EnvelopeEncoder(source.name, source.format, config.agent.host, source.cluster or config.agent.cluster)


def file_sources(config: Config, spool: Spool, *, only: Optional[list[str]] = None) -> list[file_source.FileSource]:
    """A FileSource per `type = "file"` source (limited to the given paths with `only`)."""
    out = []
    for src in config.sources:
        if not isinstance(src, file_source.Config):
            continue
        paths = None
        if only is not None:
            paths = [p for p in only if source_matches(src, p)]
            if not paths:
                continue
        # A read block is at most 1/8 of the spool cap, so the cap is overshot by little.
        block = max(64 << 10, min(file_source.READ_BLOCK, config.agent.spool_max_bytes // 8))
        out.append(file_source.FileSource(src, spool, encoder_for(config, src), paths=paths, read_block=block))
    return out


def source_matches(source: file_source.Config, path: str) -> bool:
    """Whether `path` is one of the files this source's globs select."""
    full = os.path.abspath(path)
    base = os.path.basename(full)
    if any(fnmatch.fnmatch(base, ex) for ex in source.exclude):
        return False
    return any(fnmatch.fnmatch(full, os.path.abspath(p)) for p in source.paths)


def open_sink(config: SinkConfig, spool: Optional[Spool] = None) -> Sink:
    """The sink of `config`; one that remembers facts across restarts gets its state in `spool`."""
    sink = SINKS[config.type].open(config)
    attach = getattr(sink, "attach_state", None)
    if attach is not None and spool is not None:
        attach(SpoolSinkState(spool, config.name))
    return sink


class Drains:
    """One drain thread per sink, started and stopped together (a reload restarts them)."""

    def __init__(self, config: Config, spool_path: Path, names: Optional[list[str]] = None) -> None:
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.drains: list[Drain] = []
        self.threads: list[threading.Thread] = []
        self._spools: list[Spool] = []
        for sink_config in config.sinks:
            if names is not None and sink_config.name not in names:
                continue
            spool = Spool(spool_path)
            self._spools.append(spool)
            drain = Drain(sink_config, open_sink(sink_config, spool), spool, self.stop, self.wake,
                          acker=Acker(sink_config.name, spool_path))
            self.drains.append(drain)

    def start(self) -> None:
        for drain in self.drains:
            thread = threading.Thread(target=drain.run, name=f"drain-{drain.name}", daemon=True)
            thread.start()
            self.threads.append(thread)

    def notify(self) -> None:
        self.wake.set()

    def all_stopped(self) -> bool:
        return all(not t.is_alive() for t in self.threads)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop the threads; an unacknowledged send is simply re-sent (same ids) next time."""
        self.stop.set()
        self.wake.set()
        for thread in self.threads:
            thread.join(timeout)
        for drain in self.drains:
            if drain.acker is not None:
                drain.acker.close()  # commit the acks of what was delivered
            drain.sink.close()
        for spool in self._spools:
            spool.close()
