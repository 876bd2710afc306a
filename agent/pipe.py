"""One-shot spooling of a command's output read from standard input (bwctl | logspool pipe).

The replacement of `esmond-ps-pipe`: the whole input is read, parsed and committed to
the spool in one transaction before the command exits, so once it exits 0 the result
is durable and the daemon (or `wait`) delivers it whatever happens to the endpoint.
What cannot be parsed is kept in dead_letters with the reason, never dropped.

Record ids are deterministic, `<source>:<digest of the input>:<offset>:<crc32 of the
unit>`, so piping the same output twice gives the same ids and a sink that
deduplicates takes it once.
"""
from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Optional

from agent.backfill import wait_delivered
from agent.config import Config
from agent.drain_process import DrainProcess
from agent.envelope import EnvelopeEncoder
from agent.sources.line_block import encode_block
from parsers import DOCUMENTS, FRAMERS, TEXT_RECORDS, parser_for
from spool import InstanceLock, Spool, chunks, dead_letters

log = logging.getLogger("logspool.pipe")

#: The most a document may hold (a 60 s iperf3 run with 8 streams is ~0.3 MiB).
MAX_DOCUMENT_BYTES = 64 << 20


@dataclass
class PipeResult:
    records: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)  # parse failures, each "<where>: <reason>"
    chunk_ids: list[int] = field(default_factory=list)
    daemon_running: bool = False


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def spool_input(config: Config, spool: Spool, data: bytes, fmt: str, sinks: list[str], source: str,
                where: str = "stdin") -> PipeResult:
    """Parse `data` as `fmt` and commit its records (routed to `sinks`) and its dead letters at once."""
    result = PipeResult()
    encoder = EnvelopeEncoder(source, fmt, config.agent.host, config.agent.cluster)
    fp = digest(data)
    parser = parser_for(fmt)
    if fmt in DOCUMENTS:
        block = encode_block(data, 0, fp, source, parser, encoder, MAX_DOCUMENT_BYTES, where, final=True,
                             framer=_whole)
    else:
        block = encode_block(data, 0, fp, source, parser, encoder, 1 << 20, where, final=True,
                             text=TEXT_RECORDS.get(fmt), framer=FRAMERS.get(fmt))
    now = time.time()
    with spool.transaction() as db:
        for payload, n in block.chunks:
            result.chunk_ids.append(chunks.enqueue(db, source, payload, n, sinks, now))
        dead_letters.add_many(db, None, ((source, rid, raw, reason) for rid, raw, reason in block.dead), now)
    result.records = block.records
    result.skipped = block.skipped
    result.errors = [reason for _, _, reason in block.dead]
    return result


def _whole(data: bytes, final: bool) -> tuple[list[tuple[int, int]], int]:
    """The framer of a document format: all of the input is one unit (none if it is blank)."""
    return ([(0, len(data))] if data.strip() else []), len(data)


def pipe(config: Config, data: bytes, fmt: str, sinks: list[str], source: str = "pipe", wait: bool = False,
         should_stop: Callable[[], bool] = lambda: False) -> PipeResult:
    """Spool `data`; with `wait`, also deliver it (a drain of our own if no daemon runs) before returning."""
    for name in sinks:
        config.sink(name)  # KeyError for an unknown sink, before anything is written
    spool_path = config.agent.spool
    lock = InstanceLock(spool_path)
    running = lock.held_by_other()
    drains: Optional[DrainProcess] = None
    if wait and not running:
        lock.acquire()
        Spool(spool_path, check=True).close()
        drains = DrainProcess(config, spool_path, sinks, close_fds=(lock.fileno(),))
        drains.start()  # before this process opens the spool
    spool = Spool(spool_path)
    try:
        result = spool_input(config, spool, data, fmt, sinks, source)
        result.daemon_running = running
        if wait and result.chunk_ids:
            if drains is not None:
                drains.notify()
            wait_delivered(spool, sinks, max(result.chunk_ids), drains, should_stop)
        return result
    finally:
        if drains is not None:
            drains.stop()
        spool.close()
        if drains is not None:
            lock.release()


def read_all(stream: BinaryIO, limit: int = 4 * MAX_DOCUMENT_BYTES) -> bytes:
    """Everything on `stream`, refusing more than `limit` bytes (logs belong to a file source)."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"more than {limit >> 20} MiB on standard input; for log files use a file source "
                         "or `logspool backfill`")
    return data
