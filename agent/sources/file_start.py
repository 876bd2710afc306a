"""Where the file source starts reading a file it does not follow yet.

Three answers, tried in order:

1. the file's own checkpoint (same inode, same first line, same bytes before the
   offset): carry on from it;
2. a checkpoint of another file with the same first line and the same bytes before
   its offset: this file is a copy or a move (copytruncate, logrotate without
   `create`), carry on from that offset;
3. otherwise a new file: from the start, or from its end on the very first start with
   `read_from = "end"`, or from its history offset (below).

History offset: when openlava's mbatchd switches lsb.events it writes a new file
whose first bytes re-contain events of jobs still in core, and records in its
`#<offset>` header where the new events begin (scheduler.md §2.4). If this process
holds the previous file open under the same path, it reads that file to its end, so
the re-contained events were read already and the new file starts at the offset. On
a cold start, or when the previous file is gone unread (the agent was down during
the switch), the file is read from 0: nothing is missed, and the re-sent events are
the same jobs, which LavaFlow absorbs by its (cluster, job, submit time) uniqueness.
"""
from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Callable, Collection, Optional

from agent.sources.identity import FINGERPRINT_BYTES, fingerprint, last_line_end, marker, verify
from spool import checkpoints
from spool.checkpoints import Checkpoint

if TYPE_CHECKING:
    import apsw

log = logging.getLogger("logspool.source.file")

#: A function of a file's first line giving the byte offset where its own records start.
HistoryOffset = Callable[[bytes], Optional[int]]


def identify(db: "apsw.Connection", source: str, fd: int, path: str, st: os.stat_result, *,
             followed: Collection[int], read_from_end: bool,
             history_offset: Optional[HistoryOffset] = None, previous_open: bool = False) -> Checkpoint:
    """The checkpoint to follow the open file `fd` (at `path`) with; not yet saved.

    `followed` are the checkpoint ids this process already follows (never resumed twice).
    `read_from_end`: a new file starts at its end (first start with `read_from = "end"`).
    `previous_open`: this process holds the file that was at `path` before open, and
    will read it to its end, so a history offset may be honoured.
    Rows on this inode that no longer describe it are marked gone, in `db`.
    """
    fp = fingerprint(fd)
    for row in checkpoints.by_inode(db, source, st.st_dev, st.st_ino):
        if row.id in followed:
            continue
        if verify(fd, row, st.st_size, fp):
            row.path, row.state = path, "active"
            return row
        row.state = "gone"
        checkpoints.save(db, row)
        log.info("Inode reused or file rewritten; reading it from the start.", extra={"source": source, "path": path})
    if fp is not None:
        for row in checkpoints.by_fingerprint(db, source, fp):
            if row.id in followed and (row.dev, row.ino) == (st.st_dev, st.st_ino):
                continue
            if 0 < row.offset <= st.st_size and marker(fd, row.offset) == row.marker:
                log.info("File is a copy or move of one already read; carrying on from its offset.",
                         extra={"source": source, "path": path, "from": row.path, "offset": row.offset})
                return Checkpoint(None, source, st.st_dev, st.st_ino, fp, path, row.offset, row.marker,
                                  row.skip_line, "active")
    offset = 0
    if read_from_end and st.st_size:
        offset = last_line_end(fd, st.st_size)
    elif history_offset is not None and previous_open:
        offset = _history_start(fd, st.st_size, history_offset)
        if offset:
            log.info("New file re-contains the previous one's records up to its header offset; starting there.",
                     extra={"source": source, "path": path, "offset": offset})
    return Checkpoint(None, source, st.st_dev, st.st_ino, fp, path, offset, marker(fd, offset), False, "active")


def _history_start(fd: int, size: int, history_offset: HistoryOffset) -> int:
    """The header's offset if it is a line boundary inside the file, else 0 (read everything)."""
    head = os.pread(fd, FINGERPRINT_BYTES, 0)
    nl = head.find(b"\n")
    if nl < 0:
        return 0
    offset = history_offset(head[:nl])
    if offset is None or offset <= nl or offset > size:
        return 0
    if os.pread(fd, 1, offset - 1) != b"\n":
        return 0  # not where a line starts: the header does not describe this file
    return offset
