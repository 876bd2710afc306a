"""The spool database: one apsw connection per thread, WAL, one way to run a transaction.

Opening checks the file's integrity; a damaged spool is moved aside with a loud error
and a fresh one is created, because an agent that refuses to start loses more than
the replays a fresh spool costs (record ids let sinks drop those).
"""
from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import apsw

from .errors import SpoolBusy, SpoolCorrupt, SpoolError, SpoolFull
from .schema import migrate

log = logging.getLogger("logspool.spool")

#: How long one statement waits for another process's write lock before SpoolBusy.
BUSY_TIMEOUT_MS = 5000

# Threads of one process take turns through a Python lock before BEGIN IMMEDIATE.
# SQLite's own busy handler sleeps in steps of up to 100 ms; between the reader and
# the drains of one process that stalled delivery (measured: 30% of backfill time).
_write_locks: dict[str, threading.Lock] = {}
_write_locks_guard = threading.Lock()


def _write_lock(path: Path) -> threading.Lock:
    key = os.path.realpath(path)
    with _write_locks_guard:
        return _write_locks.setdefault(key, threading.Lock())


def _busy_handler() -> Callable[[int], bool]:
    """Wait for another process's write lock in short steps, up to BUSY_TIMEOUT_MS.

    SQLite's own busy timeout sleeps 1, 2, 5, 10 … up to 100 ms between tries; the reader
    and the drain process, which take turns on the write lock all the time, lost 5–7 %
    of a backfill in those sleeps. Half a millisecond, then 5 ms after 50 tries, keeps a
    waiter close behind the holder without spinning.
    """
    since = [0.0]

    def handler(tries: int) -> bool:
        now = time.monotonic()
        if tries == 0:
            since[0] = now
        if (now - since[0]) * 1000 >= BUSY_TIMEOUT_MS:
            return False
        time.sleep(0.0005 if tries < 50 else 0.005)
        return True

    return handler


def _translate(exc: apsw.Error, path: Path) -> SpoolError:
    if isinstance(exc, apsw.BusyError) or isinstance(exc, apsw.LockedError):
        return SpoolBusy(f"spool {path} is locked by another process (waited {BUSY_TIMEOUT_MS} ms); will retry")
    if isinstance(exc, apsw.FullError):
        return SpoolFull(f"the filesystem holding spool {path} is full; reading paused until space returns")
    if isinstance(exc, (apsw.CorruptError, apsw.NotADBError)):
        return SpoolCorrupt(f"spool {path} is damaged: {exc}")
    if isinstance(exc, apsw.IOError):
        return SpoolFull(f"I/O error on spool {path}: {exc}; will retry")
    return SpoolError(f"spool {path}: {exc}")


class Spool:
    """A connection to the spool file. Not shared between threads: open one per thread."""

    def __init__(self, path: Path, *, check: bool = False, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._lock = _write_lock(self.path)
        try:
            self.db = self._connect(check)
        except SpoolCorrupt:
            if readonly:
                raise
            self.quarantine()
            self.db = self._connect(False)

    def _connect(self, check: bool) -> apsw.Connection:
        if not self.readonly:
            # Owner-only: the spool holds every record (and a dead letter may quote an endpoint's
            # answer). SQLite gives -wal and -shm the mode of the database file, whatever the umask.
            try:
                self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
            except OSError as exc:
                raise SpoolError(f"cannot open spool {self.path}: {exc.strerror or exc}") from None
        flags = apsw.SQLITE_OPEN_READONLY if self.readonly else (apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE)
        try:
            db = apsw.Connection(str(self.path), flags=flags)
            db.set_busy_handler(_busy_handler())
            if not self.readonly:
                # Chunks are ~1 MiB blobs: 64 KiB pages cut their overflow chains 16-fold
                # (a no-op on an existing file). Not guarded by a `PRAGMA page_count` probe:
                # that probe measured +34 MB peak RSS in the reader of a 1M-line backfill.
                db.execute("PRAGMA page_size=65536")
                db.execute("PRAGMA journal_mode=WAL")
                # NORMAL in WAL: a power cut may lose the last transactions, never corrupt;
                # records and their checkpoint share a transaction, so a lost one is re-read.
                db.execute("PRAGMA synchronous=NORMAL")
            if check:
                result = [r[0] for r in db.execute("PRAGMA quick_check")]
                if result != ["ok"]:
                    db.close()
                    raise SpoolCorrupt(f"spool {self.path} failed its integrity check: {'; '.join(map(str, result[:3]))}")
            if not self.readonly:
                migrate(db)
            return db
        except apsw.Error as exc:
            raise _translate(exc, self.path) from None

    def quarantine(self) -> Path:
        """Move a damaged spool (and its WAL) aside, loudly; returns where it went."""
        stamp = time.strftime("%Y%m%dT%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():  # a second quarantine within the second must not overwrite the first
            n += 1
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(self.path) + suffix)
            if src.exists():
                os.replace(src, Path(str(target) + suffix))
        log.error("Spool failed its integrity check; moved aside and starting a fresh one. "
                  "Records it held will be read again from the logs where possible and carry the same ids.",
                  extra={"spool": str(self.path), "moved_to": str(target)})
        return target

    @contextmanager
    def transaction(self) -> Iterator[apsw.Connection]:
        """BEGIN IMMEDIATE … COMMIT, or ROLLBACK and re-raise (as a SpoolError for apsw errors)."""
        with self._lock:
            try:
                self.db.execute("BEGIN IMMEDIATE")
            except apsw.Error as exc:
                raise _translate(exc, self.path) from None
            try:
                yield self.db
                self.db.execute("COMMIT")
            except apsw.Error as exc:
                self._rollback()
                raise _translate(exc, self.path) from None
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        try:
            if not self.db.get_autocommit():
                self.db.execute("ROLLBACK")
        except apsw.Error:
            pass

    def query(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        """Run a read outside any explicit transaction."""
        try:
            return list(self.db.execute(sql, params))
        except apsw.Error as exc:
            raise _translate(exc, self.path) from None

    def shrink(self, min_free_bytes: int = 64 << 20) -> int:
        """Give free space back to the filesystem when it exceeds `min_free_bytes`; bytes freed.

        After an outage the spool file keeps the size of its largest backlog; an operator
        expects the disk back once it drained. It does nothing while any chunk is left:
        with none, VACUUM copies almost nothing and holds the write lock for milliseconds.
        """
        try:
            if self.db.execute("SELECT 1 FROM chunks LIMIT 1").get is not None:
                return 0
            size = int(self.db.execute("PRAGMA page_size").get)
            free = int(self.db.execute("PRAGMA freelist_count").get) * size
            if free < min_free_bytes:
                return 0
            before = os.path.getsize(self.path)
            with self._lock:
                self.db.execute("VACUUM")
                self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            return max(0, before - os.path.getsize(self.path))
        except apsw.Error as exc:
            raise _translate(exc, self.path) from None

    def used_bytes(self) -> int:
        """Bytes of the spool file in use (pages minus free pages): what the size cap limits."""
        try:
            pages = self.db.execute("PRAGMA page_count").get
            free = self.db.execute("PRAGMA freelist_count").get
            size = self.db.execute("PRAGMA page_size").get
        except apsw.Error as exc:
            raise _translate(exc, self.path) from None
        return int((pages - free) * size)

    def set_state(self, key: str, value: Optional[str]) -> None:
        """Publish a fact for `status` (None removes it)."""
        with self.transaction() as db:
            if value is None:
                db.execute("DELETE FROM state WHERE key=?", (key,))
            else:
                db.execute("INSERT INTO state(key, value, updated) VALUES (?,?,?) "
                           "ON CONFLICT(key) DO UPDATE SET value=excluded.value, updated=excluded.updated",
                           (key, value, time.time()))

    def get_state(self) -> dict[str, str]:
        return {k: v for k, v in self.query("SELECT key, value FROM state")}

    def close(self) -> None:
        try:
            self.db.close()
        except apsw.Error:
            pass
