"""Finding a file source's files: glob, follow renames, open and identify new files, and
keep the number of open handles bounded.

Split from `file.py` (the reading half); `FileSource` is both. Costs here are per poll
and per matching file, so they decide what 50,000 matching files cost: one compiled
exclude regex, one stat per file per poll, new files identified a thousand per
transaction, at most MAX_OPEN handles.
"""
from __future__ import annotations

import fnmatch
import glob
import logging
import os
import re
import stat as stat_mod
from dataclasses import dataclass
from typing import Callable, Optional

from agent.logs import RateLimit
from agent.sources.file_config import Config
from agent.sources.file_start import HistoryOffset, identify
from spool import Spool, checkpoints
from spool.checkpoints import Checkpoint

log = logging.getLogger("logspool.source.file")
_quiet = RateLimit(30.0)

#: Open handles a source keeps; past it, files read to their end are closed (least recently
#: grown first) and reopened by path when they grow. 50,000 matching files with one handle
#: each ran into the process's descriptor limit (EMFILE), and a file not opened is not read.
MAX_OPEN = 1000
ADOPT_PER_STEP = MAX_OPEN     # new files opened per step; the rest wait for the next one


@dataclass
class Tracked:
    """A file this process follows: its checkpoint row and, while it may grow, an open handle."""

    cp: Checkpoint
    fd: Optional[int] = None
    last_growth: float = 0.0
    in_glob: bool = True
    mtime_ns: int = 0   # when only the mtime moves, the content may have been rewritten in place
    seen: Optional[os.stat_result] = None   # this step's stat of its path (closed files), from the rescan


class Discovery:
    """The discovery half of FileSource (attributes set by FileSource.__init__)."""

    config: Config
    name: str
    spool: Spool
    patterns: list[str]
    clock: Callable[[], float]
    tracked: dict[int, Tracked]
    first_start: bool
    history_offset: Optional[HistoryOffset]

    # ---- discovery -------------------------------------------------------------------
    def _matches(self) -> list[str]:
        found: set[str] = set()
        # One compiled regex for all exclude patterns: fnmatch per pattern per file was half
        # the cost of a poll over 50,000 files.
        excluded = re.compile("|".join(fnmatch.translate(ex) for ex in self.config.exclude) or "(?!)").match
        for pattern in self.patterns:
            for path in glob.glob(pattern):
                if not excluded(os.path.basename(path)):
                    found.add(path)
        return sorted(found)

    def discover(self) -> None:
        """Match the glob's files to followed files and checkpoints; start new ones (no reading)."""
        self._start(self._rescan())

    def _rescan(self) -> list[tuple[str, os.stat_result]]:
        """Follow renames of known files, mark those that left the glob; the files not followed yet."""
        seen: set[int] = set()
        by_inode = {(t.cp.dev, t.cp.ino): t for t in self.tracked.values()}
        new: list[tuple[str, os.stat_result]] = []
        for path in self._matches():
            try:
                st = os.stat(path)
            except OSError:
                continue
            if not stat_mod.S_ISREG(st.st_mode):
                continue
            t = by_inode.get((st.st_dev, st.st_ino))
            if t is None:
                new.append((path, st))
                continue
            if t.cp.path != path:
                log.info("File was renamed; following it.", extra={"source": self.name, "from": t.cp.path, "to": path})
                t.cp.path = path
            t.in_glob = True
            t.seen = st
            seen.add(id(t))
        for t in self.tracked.values():
            if id(t) not in seen and t.in_glob:
                t.in_glob = False
                t.last_growth = self.clock()
        return new

    def _start(self, new: list[tuple[str, os.stat_result]]) -> None:
        """Identify and open files not followed yet (a hard link to one already followed: once).

        At most ADOPT_PER_STEP a step, identified in one transaction: one per file cost half
        a millisecond each, most of a first start on 50,000 files.
        """
        if not new:
            self.first_start = False
            return
        seen = {(t.cp.dev, t.cp.ino) for t in self.tracked.values()}
        # Computed once, not per file: a scan over every tracked file per new one made
        # starting on 50,000 files quadratic (20,000 in the first minute, and slowing).
        open_paths = {t.cp.path for t in self.tracked.values() if t.fd is not None}
        opened: list[tuple[str, int, os.stat_result, bool]] = []
        more = False
        for path, st in new:
            if (st.st_dev, st.st_ino) in seen:
                continue
            if len(opened) >= ADOPT_PER_STEP:
                more = True  # first_start stays: the rest of the first start's files come next step
                break
            fd = self._open(path)
            if fd is None:
                continue
            fst = os.fstat(fd)
            if (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino) or not stat_mod.S_ISREG(fst.st_mode):
                os.close(fd)  # replaced between stat and open
                continue
            seen.add((st.st_dev, st.st_ino))
            opened.append((path, fd, fst, path in open_paths))
            open_paths.add(path)
        if opened:
            self._adopt(opened)
        if not more:
            self.first_start = False  # files that appear from now on are new: read them whole

    def _open(self, path: str) -> Optional[int]:
        # O_NONBLOCK: a FIFO put where a log file was must not hang the open (no effect on reads
        # of regular files).
        try:
            return os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            if _quiet.allow(f"open:{path}"):
                log.warning("Cannot open file; will retry (logged every 30 s).",
                            extra={"source": self.name, "path": path, "error": exc.strerror})
            return None

    def _adopt(self, opened: list[tuple[str, int, os.stat_result, bool]]) -> None:
        """Files not followed yet: resume their checkpoints, adopt a copy's, or start them."""
        added: list[int] = []
        try:
            with self.spool.transaction() as db:
                for path, fd, fst, previous_open in opened:
                    cp = identify(db, self.name, fd, path, fst, followed=self.tracked.keys(),
                                  read_from_end=self.first_start and self.config.read_from == "end",
                                  history_offset=self.history_offset, previous_open=previous_open)
                    checkpoints.save(db, cp)
                    assert cp.id is not None
                    self.tracked[cp.id] = Tracked(cp, fd, self.clock())
                    added.append(cp.id)
        except BaseException:
            for cid in added:   # rolled back: nothing of this batch is followed
                del self.tracked[cid]
            for _, fd, _, _ in opened:
                os.close(fd)
            raise

    def _limit_open(self) -> None:
        """Past MAX_OPEN handles, close those of files in the glob read to their end."""
        opened = [t for t in self.tracked.values() if t.fd is not None]
        if len(opened) <= MAX_OPEN:
            return
        done = sorted((t for t in opened if t.in_glob and t.fd is not None
                       and os.fstat(t.fd).st_size == t.cp.offset), key=lambda t: t.last_growth)
        for t in done[:len(opened) - MAX_OPEN // 2]:
            assert t.fd is not None
            os.close(t.fd)
            t.fd = None
