"""`logspool run`: tail, spool and drain until told to stop; reload on SIGHUP.

Signals only set flags; the loop acts on them between transactions, so SIGTERM never
interrupts a commit and the exit is clean (code 0). Reading pauses, visibly in
`status`, when the spool reaches `spool_max_bytes` or its filesystem is full: the log
files are the buffer and nothing is dropped.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Optional

from agent import config as config_mod
from agent import logs
from agent.logs import RateLimit
from agent.listen import Listen
from agent.metrics import MetricsServer
from agent.config import Config, ConfigError
from agent.drain_process import ALL_SINKS_STOPPED, DrainProcess
from agent.pipeline import file_sources
from agent.signals import SignalFlags
from agent.sources.file import FileSource
from agent.units import format_size
from spool.db import BUSY_TIMEOUT_MS
from spool import InstanceLock, Spool, SpoolBusy, SpoolError, SpoolFull, checkpoints, chunks

log = logging.getLogger("logspool.daemon")

PRUNE_EVERY = 600.0
FULL_RETRY = 5.0         # a full filesystem: seconds between attempts to read one more block
BLOCKS_PER_TURN = 16     # per file per turn, so one busy file cannot starve the others


def _raise_fd_limit() -> None:
    """Soft RLIMIT_NOFILE up to the hard limit: each source may hold MAX_OPEN handles, and
    systemd's default soft limit is 1024."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 16
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError):
            pass


class Daemon:
    def __init__(self, config_path: Optional[Path], config: Config) -> None:
        self.config_path = config_path  # None: built in memory (`compat`), nothing to reload from
        self.config = config
        self.signals = SignalFlags()
        self._quiet = RateLimit(30.0)
        self.paused_reason: Optional[str] = None
        self._last_prune = 0.0
        self._busy_since: Optional[float] = None   # wall time the spool was first found locked
        self._full_until = 0.0      # monotonic: the filesystem is full, no read attempt before this
        self._unpublished = False   # the pause reason could not be written to the spool yet
        self._metrics: Optional[MetricsServer] = None
        self._metrics_said: Optional[Listen] = None   # the address last announced in the log

    def run(self, once: bool = False) -> int:
        """Run until SIGTERM/SIGINT (or, with `once`, until everything read is delivered)."""
        _raise_fd_limit()
        lock = InstanceLock(self.config.agent.spool)
        lock.acquire()  # SpoolLocked goes to the CLI, which says who holds it
        self._lock = lock
        self.signals.install()
        spool = self._open_spool()
        if spool is None:
            lock.release()
            return 0
        try:
            while True:
                outcome = self._serve(spool, once)
                if outcome == "stuck":
                    return 1
                if outcome != "reload":
                    return 0
                self._reload()
        finally:
            if self._metrics is not None:
                self._metrics.stop()
            spool.close()
            lock.release()

    def _start_drains(self) -> DrainProcess:
        """Fork the drain process with no other thread running, then serve metrics again.

        A fork copies only the calling thread: one taken while the metrics thread held a
        lock (logging's, SQLite's) would leave the child to wait on it forever, and the
        child would inherit the listening socket and keep the port after a reload moved
        it. Stopping the server first waits for any scrape in flight (at most its 5 s
        timeout; a scrape takes milliseconds).
        """
        if self._metrics is not None:
            self._metrics.stop()
            self._metrics = None
        drains = DrainProcess(self.config, self.config.agent.spool, close_fds=(self._lock.fileno(),))
        drains.start()
        self._serve_metrics()
        return drains

    def _serve_metrics(self) -> None:
        """Serve metrics at the configured address, if any.

        An address that cannot be bound (in use, not this host's) is logged and the agent
        goes on without metrics: records matter more than their figures. A reload retries.
        """
        want = self.config.agent.metrics_listen
        if want is None:
            self._metrics_said = None
            return
        from agent.cli import VERSION
        server = MetricsServer(want, self.config, VERSION)
        try:
            server.start()
        except OSError as exc:
            log.error("Cannot serve metrics; going on without them (fix metrics_listen and reload).",
                      extra={"metrics_listen": str(want), "error": exc.strerror or str(exc)})
            self._metrics_said = None
            return
        self._metrics = server
        if self._metrics_said != want:   # not again after every drain restart
            log.info("Serving metrics.", extra={"url": f"http://{want}/metrics"})
            self._metrics_said = want

    def _open_spool(self) -> Optional[Spool]:
        """Open (and check) the spool; while another process holds its write lock — a
        `prerotate` creating it, say — wait and say so, until stopped."""
        while True:
            try:
                return Spool(self.config.agent.spool, check=True)
            except SpoolBusy as exc:
                log.warning("Spool busy at start; retrying.", extra={"error": str(exc)})
                self.signals.sleep(1.0)
                if self.signals.stop:
                    return None

    def _reload(self) -> None:
        self.signals.reload = False
        if self.config_path is None:
            log.warning("SIGHUP ignored: this agent was configured from its command line; restart it instead.")
            return
        try:
            new = config_mod.load(self.config_path)
        except ConfigError as exc:
            log.error("Config reload failed; keeping the running config.", extra={"error": str(exc)})
            return
        if new.agent.spool != self.config.agent.spool:
            log.error("Config reload cannot move the spool; restart the agent for that.",
                      extra={"spool": str(self.config.agent.spool)})
            return
        self.config = new
        logs.setup(new.agent.log_level)
        log.info("Config reloaded.", extra={"config": str(self.config_path)})

    def _serve(self, spool: Spool, once: bool) -> str:
        drains = self._start_drains()
        sources = file_sources(self.config, spool)
        for sink in self.config.sinks:
            spool.set_state(f"sink:{sink.name}", None)
        log.info("Started.", extra={"spool": str(self.config.agent.spool), "sources": len(sources),
                                    "sinks": len(self.config.sinks)})
        try:
            while not self.signals.stop:
                if self.signals.reload:
                    return "reload"
                # Every sink it drives stopped (misconfigured): a restart would only send the refused
                # credentials again, every half second. A reload starts a new one.
                if not drains.alive() and drains.exit_code != ALL_SINKS_STOPPED:
                    log.error("Drain process exited; starting it again.", extra={"code": drains.exit_code})
                    drains = self._start_drains()
                moved = self._turn(spool, sources)
                self._prune(spool)   # also while busy: a site that is never idle must prune too
                if moved:
                    drains.notify()
                    continue
                if once and all(s.drained() for s in sources) and self._delivered(spool):
                    return "stuck" if self._stuck(spool) else "done"
                self.signals.sleep(self.config.agent.poll_interval)
            return "stop"
        finally:
            for source in sources:
                source.close()
            drains.stop()
            log.info("Stopped.", extra={"spool": str(self.config.agent.spool)})

    def _turn(self, spool: Spool, sources: list[FileSource]) -> bool:
        """Give every source one step; True when anything was committed."""
        moved = False
        for source in sources:
            if self.signals.stop or self.signals.reload:
                break
            try:
                result = source.step(BLOCKS_PER_TURN, paused=lambda: self._spool_full(spool))
            except SpoolFull as exc:
                # Stays paused until an attempt FULL_RETRY later succeeds: resuming on the next
                # poll logged a pause and a resume ten times a second and kept `status` blank.
                self._pause(spool, str(exc))
                self._full_until = time.monotonic() + FULL_RETRY
                continue
            except SpoolBusy as exc:
                if self._busy_since is None:
                    self._busy_since = time.time() - BUSY_TIMEOUT_MS / 1000
                if self._quiet.allow("busy"):
                    log.warning("Spool busy; will retry.", extra={"source": source.name, "error": str(exc)})
                continue
            except OSError as exc:
                if self._quiet.allow(f"read:{source.name}"):
                    log.warning("Read error; will retry (logged every 30 s).",
                                extra={"source": source.name, "error": str(exc)})
                continue
            except Exception:  # a bug must not stop the other sources or the drains
                if self._quiet.allow(f"bug:{source.name}"):
                    log.exception("Unexpected error while reading; will retry.", extra={"source": source.name})
                self.signals.sleep(1.0)
                continue
            moved = moved or result.bytes > 0
            if self._busy_since is not None:
                self._busy_over(spool)
        return moved

    def _busy_over(self, spool: Spool) -> None:
        """A step succeeded after SpoolBusy: say in `status` (and the log) how long it lasted.

        While the lock is held nothing can be written to the spool, `status` included; the
        episode is published once it is over, so an operator sees that it happened.
        """
        since, self._busy_since = self._busy_since, None
        assert since is not None
        took = time.time() - since
        text = (f"spool was locked by another process for about {took:.0f} s until "
                f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime())}; retried, nothing lost")
        log.warning("Spool lock released; reading again.", extra={"locked_s": round(took, 1)})
        try:
            spool.set_state("busy", text)
        except SpoolError:
            self._busy_since = since

    def _spool_full(self, spool: Spool) -> bool:
        if self.signals.stop:
            return True
        if self._full_until:
            if time.monotonic() < self._full_until:
                return True
            self._full_until = 0.0   # try a block; another SpoolFull pauses again, quietly
            if self._unpublished:
                self._publish(spool)
            return False
        used = spool.used_bytes()
        cap = self.config.agent.spool_max_bytes
        if used >= cap:
            self._pause(spool, f"spool holds {format_size(used)}, at its cap of {format_size(cap)} "
                               "(spool_max_bytes); reading resumes as sinks deliver")
            return True
        if self.paused_reason is not None:
            self._pause(spool, None)
        return False

    def _pause(self, spool: Spool, reason: Optional[str]) -> None:
        if reason == self.paused_reason:
            return
        self.paused_reason = reason
        if reason:
            log.warning("Reading paused.", extra={"reason": reason})
        else:
            log.info("Reading resumed.")
        self._publish(spool)

    def _publish(self, spool: Spool) -> None:
        """Write the pause reason for `status`; on a full filesystem that may fail: retried."""
        try:
            spool.set_state("paused", self.paused_reason)
            self._unpublished = False
        except SpoolError:
            self._unpublished = True

    def _delivered(self, spool: Spool) -> bool:
        """Everything spooled was delivered, or its sink is stopped (misconfigured)."""
        state = spool.get_state()
        return all(chunks.backlog(spool.db, s.name).records == 0 for s in self.config.sinks
                   if f"sink:{s.name}" not in state)

    def _stuck(self, spool: Spool) -> bool:
        """With --once: records left for a stopped sink mean the run did not do its job."""
        state = spool.get_state()
        stuck = False
        for sink in self.config.sinks:
            reason = state.get(f"sink:{sink.name}")
            left = chunks.backlog(spool.db, sink.name).records
            if reason and left:
                log.error("Records left undelivered: the sink is stopped.",
                          extra={"sink": sink.name, "records": left, "error": reason})
                stuck = True
        return stuck

    def _prune(self, spool: Spool) -> None:
        now = time.time()
        # A short checkpoint_ttl is honoured: pruning at least twice per ttl.
        if now - self._last_prune < min(PRUNE_EVERY, max(1.0, self.config.agent.checkpoint_ttl / 2)):
            return
        self._last_prune = now
        try:
            with spool.transaction() as db:
                removed = checkpoints.prune(db, now - self.config.agent.checkpoint_ttl)
            if removed:
                log.info("Forgot checkpoints of files gone for a while.", extra={"rows": removed})
            # Give disk back once a backlog has drained (with nothing left, VACUUM is quick).
            freed = spool.shrink()
            if freed:
                log.info("Spool shrank.", extra={"freed": format_size(freed)})
        except SpoolError as exc:
            log.warning("Checkpoint pruning failed; will retry.", extra={"error": str(exc)})
