"""The `file` source: poll-based tailing of glob patterns, committed to the spool with its checkpoint.

Polling, not inotify, because head nodes keep logs on NFS, GPFS and Lustre, where
inotify sees nothing. One `step()` is one poll: find files, read what is new, commit
records and the new offset in one transaction per block. Tests drive `step()`
directly; nothing here sleeps.

Rotation cases and what happens:
  rename (create, lsb.events -> .1)  same inode at a new path: carry on from the offset
  copytruncate / truncation           size < offset: the generation is retired, read from 0;
                                      the copy is recognised by fingerprint + marker and
                                      carries on from the old offset
  inode reuse                         fingerprint or marker differs: read from 0
  rotated while down                  found again by inode among the glob's matches
  file left the glob (moved, deleted) read to its end through the open handle; after
                                      `rotate_wait` without growth, its partial last line
                                      (if any) is emitted and the handle closed
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Callable, Optional

from agent.envelope import EnvelopeEncoder, file_record_id
from agent.sources.file_config import Config as Config  # re-exported: `file.Config` is the public name
from agent.sources.file_discovery import MAX_OPEN as MAX_OPEN, Discovery, Tracked
from agent.sources.file_start import HistoryOffset
from agent.sources.identity import FINGERPRINT_BYTES, fingerprint, fingerprint_of_head, marker, verify
from agent.sources.line_block import after_newlines, skip_to_newline
from agent.sources.parse_worker import ParseWorker
from parsers import HISTORY_OFFSETS, TEXT_RECORDS
from spool import Spool, checkpoints, chunks, dead_letters
from spool.checkpoints import Checkpoint

log = logging.getLogger("logspool.source.file")

READ_BLOCK = 4 << 20          # bytes read per file per step: bounds memory and lock time
@dataclass
class StepResult:
    records: int = 0
    bytes: int = 0
    skipped: int = 0
    errors: int = 0


class FileSource(Discovery):
    """Follows one configured file source into one spool connection."""

    def __init__(self, config: Config, spool: Spool, encoder: EnvelopeEncoder, *,
                 paths: Optional[list[str]] = None, clock: Callable[[], float] = time.time,
                 read_block: int = READ_BLOCK, history_offset: Optional[HistoryOffset] = None,
                 max_lines: Optional[int] = None) -> None:
        self.config = config
        self.name = config.name
        self.spool = spool
        self.encoder = encoder
        self.text = TEXT_RECORDS.get(config.format)
        self.history_offset = history_offset or HISTORY_OFFSETS.get(config.format)
        # Raw lines cost ~3 µs each: a second process would cost more than it saves.
        self.blocks = ParseWorker(config.format, encoder, config.max_line_bytes, self.text,
                                  split=self.text is None and (os.cpu_count() or 1) > 1, source=config.name)
        self.patterns = paths if paths is not None else config.paths
        self.clock = clock
        self.read_block = read_block  # the spool may overshoot its cap by one block's records
        self.max_lines = max_lines  # read at most this many lines a step (esmond-ps-load-gridftp -S)
        self.tracked: dict[int, Tracked] = {}   # checkpoint id -> Tracked
        self.first_start = not spool.query("SELECT 1 FROM checkpoints WHERE source=? LIMIT 1", (self.name,))

    # ---- reading ---------------------------------------------------------------------
    def step(self, budget_blocks: int = 1 << 30, paused: Callable[[], bool] = lambda: False) -> StepResult:
        """One poll: read what the followed files gained, then start new files and read them.

        Followed files are read to their end before new ones are identified: a new file may
        be a copy of one (lsb.acct archiving, copytruncate), and it must carry on from where
        the original really ended, not from where it stood at the last poll.
        """
        result = StepResult()
        budget_blocks = 1 if self.max_lines is not None else budget_blocks  # a block of max_lines lines

        new = self._rescan()
        self._read_all(result, budget_blocks, paused)
        self._start(new)
        if new:
            self._read_all(result, budget_blocks, paused)
        for t in sorted(self.tracked.values(), key=lambda t: t.cp.id or 0):
            self._maybe_close(t, result)
        self._limit_open()
        for cid in [cid for cid, t in self.tracked.items() if t.cp.state == "gone"]:
            del self.tracked[cid]
        return result

    def _read_all(self, result: StepResult, budget_blocks: int, paused: Callable[[], bool]) -> None:
        for t in sorted(self.tracked.values(), key=lambda t: t.cp.id or 0):
            blocks = 0
            while blocks < budget_blocks and not paused():
                if not self._read_block(t, result):
                    break
                blocks += 1

    def _reopen(self, t: Tracked) -> bool:
        """A closed tracked file grew again: reopen it (by path, checking it is the same inode)."""
        fd = self._open(t.cp.path)
        if fd is None:
            return False
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != (t.cp.dev, t.cp.ino):
            os.close(fd)
            return False
        if not verify(fd, t.cp, st.st_size, fingerprint(fd)):
            os.close(fd)
            self._retire(t, "gone")
            return False
        t.fd = fd
        return True

    def _read_block(self, t: Tracked, result: StepResult) -> bool:
        """Read, parse and commit one block of `t`; True when it consumed something."""
        if t.fd is None:
            if not t.in_glob:
                return False
            st, t.seen = t.seen, None   # the rescan's stat: a second one per closed file per poll cost as much
            if st is None:
                try:
                    st = os.stat(t.cp.path)
                except OSError:
                    return False
            if (st.st_dev, st.st_ino) != (t.cp.dev, t.cp.ino):
                return False
            if st.st_size == t.cp.offset and st.st_mtime_ns == t.mtime_ns:
                return False
            if not self._reopen(t):
                return False
        assert t.fd is not None
        st = os.fstat(t.fd)
        size = st.st_size
        if size < t.cp.offset:
            log.warning("File shrank below the committed offset (truncated or copytruncate); reading it from the "
                        "start.", extra={"source": self.name, "path": t.cp.path, "offset": t.cp.offset, "size": size})
            self._restart_generation(t)
            return True
        if size == t.cp.offset and st.st_mtime_ns == t.mtime_ns:
            return False
        t.mtime_ns = st.st_mtime_ns
        if t.cp.offset > 0 and t.cp.marker is not None and marker(t.fd, t.cp.offset) != t.cp.marker:
            log.warning("File content changed before the committed offset (copytruncate while writes went on); "
                        "reading it from the start.", extra={"source": self.name, "path": t.cp.path})
            self._restart_generation(t)
            return True
        if size == t.cp.offset:
            return False
        data = os.pread(t.fd, self.read_block, t.cp.offset)
        if b"\n" not in data and len(data) < size - t.cp.offset:  # a line longer than a block
            data = os.pread(t.fd, self.config.max_line_bytes + 1, t.cp.offset)
        data = data if self.max_lines is None else data[:after_newlines(data, self.max_lines)]
        if not data:
            return False
        cp = t.cp
        new_offset, skip_line, fp = cp.offset, cp.skip_line, cp.fingerprint
        dead: list[tuple[Optional[str], bytes, str]] = []
        block_chunks: list[tuple[bytes, int]] = []
        if fp is None:
            fp = fingerprint_of_head(os.pread(t.fd, FINGERPRINT_BYTES, 0))
            if fp is None:
                return False  # first line still incomplete: nothing can be emitted yet
        start = 0
        if skip_line:
            drop = skip_to_newline(data)
            if drop is None:
                new_offset += len(data)
                start = len(data)
            else:
                start, skip_line = drop, False
        if start < len(data):
            block = self.blocks.encode(data[start:], cp.offset + start, fp, self.name, cp.path, final=False)
            if block.consumed == 0 and len(data) - start > self.config.max_line_bytes:
                excerpt = data[start:start + self.config.max_line_bytes]
                dead.append((file_record_id(self.name, fp, cp.offset + start, excerpt), excerpt,
                             f"{cp.path}: byte {cp.offset + start}: line is longer than max_line_bytes "
                             f"({self.config.max_line_bytes}); the rest of it is skipped"))
                new_offset = cp.offset + len(data)
                skip_line = True
            else:
                new_offset = cp.offset + start + block.consumed
                block_chunks = block.chunks
                dead.extend((rid, raw, reason) for rid, raw, reason in block.dead)
                result.records += block.records
                result.skipped += block.skipped
                result.errors += block.parse_errors
        if new_offset == cp.offset and skip_line == cp.skip_line and fp == cp.fingerprint:
            return False
        result.bytes += new_offset - cp.offset
        self._commit(t, new_offset, skip_line, fp, block_chunks, dead)
        t.last_growth = self.clock()
        return True

    def _commit(self, t: Tracked, new_offset: int, skip_line: bool, fp: str,
                block_chunks: list[tuple[bytes, int]], dead: list[tuple[Optional[str], bytes, str]]) -> None:
        """Records and the new offset in one transaction, unless someone else moved the offset first."""
        assert t.fd is not None
        cp = t.cp
        new_marker = marker(t.fd, new_offset)
        with self.spool.transaction() as db:
            if cp.id is not None:
                current = checkpoints.get(db, cp.id)
                if current is None or current.offset != cp.offset or current.state != cp.state:
                    # `prerotate` (or another reader) committed this file meanwhile: drop our
                    # work and continue from what it committed; nothing is spooled twice.
                    if current is not None:
                        t.cp = current
                    return
            for payload, n in block_chunks:
                chunks.enqueue(db, self.name, payload, n, self.config.sinks)
            dead_letters.add_many(db, None, ((self.name, rid, raw, reason) for rid, raw, reason in dead))
            cp.offset, cp.skip_line, cp.fingerprint, cp.marker = new_offset, skip_line, fp, new_marker
            checkpoints.save(db, cp)

    def _restart_generation(self, t: Tracked) -> None:
        """Truncation: retire the old generation's row (a copy may still adopt it), start at 0."""
        assert t.fd is not None
        old = t.cp
        new = Checkpoint(None, self.name, old.dev, old.ino, fingerprint(t.fd), old.path, 0, None, False, "active")
        with self.spool.transaction() as db:
            current = checkpoints.get(db, old.id) if old.id is not None else None
            if current is not None and current.state == "active":
                current.state = "truncated"
                checkpoints.save(db, current)
            checkpoints.save(db, new)
        assert old.id is not None and new.id is not None
        del self.tracked[old.id]
        t.cp, t.last_growth = new, self.clock()   # same handle, same inode: a new generation
        self.tracked[new.id] = t

    def _retire(self, t: Tracked, state: str) -> None:
        if t.fd is not None:
            os.close(t.fd)
            t.fd = None
        t.cp.state = state
        if t.cp.id is not None:
            with self.spool.transaction() as db:
                current = checkpoints.get(db, t.cp.id)
                if current is not None and current.state in checkpoints.LIVE_STATES:
                    current.state = state
                    checkpoints.save(db, current)

    def _maybe_close(self, t: Tracked, result: StepResult) -> None:
        """Release handles of idle files; finish files that left the glob and stopped growing."""
        if t.fd is None:
            # Closed at its end, then deleted or moved out of the glob: nothing to read it by.
            # Kept `active`, its row was never pruned: churn grew the checkpoint table forever.
            if not t.in_glob and self.clock() - t.last_growth >= self.config.rotate_wait:
                log.debug("A closed file left the glob; forgetting it.", extra={"source": self.name, "path": t.cp.path})
                self._retire(t, "gone")
            return
        idle = self.clock() - t.last_growth
        if t.in_glob:
            if idle > self.config.rotate_wait and os.fstat(t.fd).st_size == t.cp.offset:
                os.close(t.fd)  # reopened by path when it grows; keeps fds bounded with many files
                t.fd = None
            return
        if idle < self.config.rotate_wait or not self._only_partial_left(t):
            return
        self._flush_partial(t, result)
        log.info("Finished a file that left the glob.", extra={"source": self.name, "path": t.cp.path})
        self._retire(t, "gone")

    def _only_partial_left(self, t: Tracked) -> bool:
        """Nothing is left but an unterminated last line (no longer than a block).

        Idle can also mean reading paused (spool cap, full disk): finishing then spooled the
        whole unread tail in one go, past the cap and into memory; the reader gets it first.
        """
        assert t.fd is not None
        left = os.fstat(t.fd).st_size - t.cp.offset
        if left > self.read_block:
            return False
        return left <= 0 or b"\n" not in os.pread(t.fd, left, t.cp.offset)

    def _flush_partial(self, t: Tracked, result: StepResult) -> None:
        """A file that will not grow again: its last line has no newline but is still a record."""
        assert t.fd is not None
        size = os.fstat(t.fd).st_size
        if size <= t.cp.offset or t.cp.skip_line:
            return
        data = os.pread(t.fd, size - t.cp.offset, t.cp.offset)
        fp = t.cp.fingerprint or fingerprint_of_head(os.pread(t.fd, FINGERPRINT_BYTES, 0)) or "0"
        block = self.blocks.encode(data, t.cp.offset, fp, self.name, t.cp.path, final=True)
        result.records += block.records
        self._commit(t, t.cp.offset + block.consumed, False, fp, block.chunks,
                     [(rid, raw, reason) for rid, raw, reason in block.dead])

    def finish(self) -> StepResult:
        """Treat every followed file as complete: emit unterminated last lines (static files)."""
        result = StepResult()
        for t in list(self.tracked.values()):
            if t.fd is not None:
                self._flush_partial(t, result)
        return result

    def drained(self) -> bool:
        """Every tracked file read to its last complete line (for `--once`, `prerotate`, `backfill`)."""
        for t in self.tracked.values():
            if t.fd is None:
                continue
            size = os.fstat(t.fd).st_size
            if size > t.cp.offset:
                tail = os.pread(t.fd, size - t.cp.offset, t.cp.offset)
                if b"\n" in tail:
                    return False
        return True

    def close(self) -> None:
        self.blocks.close()
        for t in self.tracked.values():
            if t.fd is not None:
                os.close(t.fd)
                t.fd = None
        self.tracked.clear()

