"""The drain: per sink, lease the oldest chunks, send a batch, ack or back off or dead-letter.

One drain per sink, in its own thread, so a sink that is down never holds up the
others or the reading. Order is the chunk order, per sink. The drain alone decides
about retries, acks and dead letters; sinks only classify answers (sinks/base.py).

A rejected batch (Reject without ids) is bisected: each half is sent on its own
until the single records the endpoint refuses are found; they go to dead_letters with
the endpoint's answer and everything else is delivered. Progress is acked after each
delivered piece, so a crash mid-bisection re-sends only what was not acknowledged.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Optional

from agent.acker import Acker
from agent.backoff import Backoff
from agent.envelope import record_id, split_lines
from agent.sinks.base import Batch, Delivered, Misconfigured, Reject, Retry, Sink, SinkConfig
from spool import Spool, SpoolError, chunks, dead_letters

log = logging.getLogger("logspool.drain")

#: How often an idle drain looks for chunks another process (prerotate, backfill) added.
IDLE_WAIT = 0.5
#: A repeated retry warning for one sink is logged at most this often (Vector: 10 s).
LOG_EVERY = 10.0


class SinkStopped(Exception):
    """The sink is misconfigured; it stays stopped until the config is reloaded."""


class _Stopping(Exception):
    """The agent is shutting down in the middle of a backoff wait."""


class Drain:
    def __init__(self, config: SinkConfig, sink: Sink, spool: Spool, stop: threading.Event,
                 wake: Optional[threading.Event] = None, backoff: Optional[Backoff] = None,
                 clock: Callable[[], float] = time.time, acker: Optional[Acker] = None) -> None:
        self.config = config
        self.acker = acker  # None: acks are committed in line (tests, one-off use)
        self.name = config.name
        self.sink = sink
        self.spool = spool
        self.stop = stop
        self.wake = wake or threading.Event()
        self.backoff = backoff or Backoff(config.retry.initial, config.retry.max)
        self.clock = clock
        self.stopped_reason: Optional[str] = None
        self.delivered = 0
        self._cache: dict[int, list[bytes]] = {}
        self._last_log = 0.0

    # ---- the loop --------------------------------------------------------------------
    def run(self) -> None:
        """Deliver until `stop` is set or the sink turns out misconfigured."""
        while not self.stop.is_set():
            try:
                if self.step():
                    continue
            except SinkStopped as exc:
                self.stopped_reason = str(exc)
                log.error("Sink stopped: it is misconfigured; fix the config and reload (SIGHUP).",
                          extra={"sink": self.name, "error": str(exc)})
                self._publish_state(f"stopped: {exc}")
                return
            except _Stopping:
                return
            except SpoolError as exc:
                log.warning("Spool error in drain; retrying.", extra={"sink": self.name, "error": str(exc)})
                self.stop.wait(1.0)
                continue
            self.wake.wait(IDLE_WAIT)
            self.wake.clear()

    def step(self) -> bool:
        """Deliver one batch; False when there was nothing to deliver."""
        cfg = self.config
        leased = chunks.lease(self.spool.db, self.name, cfg.batch_records, cfg.batch_bytes,
                              done_for=self.acker.done_for() if self.acker else None)
        if not leased:
            return False
        parts: list[bytes] = []
        segments: list[tuple[int, int, int, int, str]] = []  # chunk, done before, taken, total, source
        count = size = 0
        for chunk in leased:
            left = chunk.records - chunk.done
            per_record = max(1, len(chunk.payload) // max(chunk.records, 1))
            room = cfg.batch_records - count
            if count:  # the byte cap is soft for the first chunk: at least one record goes
                room = min(room, (cfg.batch_bytes - size) // per_record)
            take = min(left, max(room, 0 if count else 1))
            if take <= 0 or (count and take < left):
                break  # never split a chunk to top up a batch: a whole chunk is sent without a split
            if chunk.done == 0 and take == chunk.records:
                parts.append(chunk.payload)  # a whole chunk: sent as spooled, never split
            else:
                lines = self._cache.get(chunk.chunk_id)
                if lines is None:
                    lines = split_lines(chunk.payload)
                    self._cache = {chunk.chunk_id: lines}
                parts.append(b"".join(lines[chunk.done:chunk.done + take]))
            segments.append((chunk.chunk_id, chunk.done, take, chunk.records, chunk.source))
            count += take
            size += take * per_record
            if count >= cfg.batch_records or size >= cfg.batch_bytes:
                break
        if not count:
            return False
        self._deliver(Batch(parts=parts, count=count), None, segments, [])
        self.delivered += count
        return True

    # ---- one batch, with bisection ---------------------------------------------------
    def _deliver(self, whole: Batch, idx: Optional[list[int]], segments: list[tuple[int, int, int, int, str]],
                 dead: list[tuple[int, str]]) -> None:
        """Deliver `whole.records[i] for i in idx` (all of `whole` when idx is None).

        On return every record up to the last index is handled: delivered or in `dead`.
        `dead` collects refused records; they are written in the same transaction as the
        ack that covers them, so a crash never leaves one both dead-lettered and pending.
        """
        batch = whole if idx is None else Batch([whole.records[i] for i in idx])
        index = list(range(len(whole))) if idx is None else idx
        attempt = 0
        failing_since = 0.0
        while True:
            outcome = self.sink.send(self.sink.encode(batch))
            if isinstance(outcome, Delivered):
                self._ack(segments, index[-1] + 1, dead, whole)
                if attempt:  # the failures were logged (rate-limited): say when they ended
                    log.info("Delivery recovered.", extra={"sink": self.name, "attempts": attempt + 1,
                                                           "outage_s": round(self.clock() - failing_since, 1)})
                return
            if isinstance(outcome, Misconfigured):
                raise SinkStopped(outcome.reason)
            if isinstance(outcome, Retry):
                max_retries = self.config.retry.max_retries
                if max_retries is not None and attempt >= max_retries:
                    dead.extend((i, f"gave up after {attempt} retries: {outcome.reason}") for i in index)
                    self._ack(segments, index[-1] + 1, dead, whole)
                    return
                wait = self.backoff.delay(attempt, outcome.after)
                if not attempt:
                    failing_since = self.clock()
                attempt += 1
                self._note_failure(segments, attempt, wait, outcome.reason)
                if self.stop.wait(wait):
                    raise _Stopping()
                continue
            assert isinstance(outcome, Reject)
            if outcome.record_ids is not None:
                bad = {i for i in index if record_id(whole.records[i]) in outcome.record_ids}
                if bad:
                    dead.extend((i, outcome.reason) for i in sorted(bad))
                    rest = [i for i in index if i not in bad]
                    if rest:
                        self._deliver(whole, rest, segments, dead)
                    else:
                        self._ack(segments, index[-1] + 1, dead, whole)
                    return
            if len(index) == 1:
                dead.append((index[0], outcome.reason))
                self._ack(segments, index[0] + 1, dead, whole)
                return
            mid = len(index) // 2
            self._deliver(whole, index[:mid], segments, dead)
            self._deliver(whole, index[mid:], segments, dead)
            return

    def _ack(self, segments: list[tuple[int, int, int, int, str]], upto: int, dead: list[tuple[int, str]],
             whole: Batch) -> None:
        """Mark records [0, upto) of the batch handled; dead-letter `dead` in the same transaction."""
        progress = []
        start = 0
        for chunk_id, done, taken, total, _source in segments:
            if start >= upto:
                break
            progress.append((chunk_id, done + min(taken, upto - start), total))
            start += taken
        if self.acker is not None:
            if not dead:
                self.acker.push(progress)  # committed behind us; leasing already sees it
                return
            self.acker.flush()  # acks are absolute counts: queued ones must land first
        sources = self._sources(segments)
        with self.spool.transaction() as db:
            dead_letters.add_many(db, self.name, ((sources(index), record_id(whole.records[index]),
                                                   whole.records[index], reason) for index, reason in dead))
            if progress:
                chunks.ack(db, self.name, progress)
        if dead:
            log.warning("Endpoint rejected records; kept in dead_letters.",
                        extra={"sink": self.name, "records": len(dead), "error": dead[0][1][:200]})
            dead.clear()

    @staticmethod
    def _sources(segments: list[tuple[int, int, int, int, str]]) -> Callable[[int], Optional[str]]:
        def source(index: int) -> Optional[str]:
            start = 0
            for _cid, _done, taken, _total, src in segments:
                if index < start + taken:
                    return src
                start += taken
            return None
        return source

    def _note_failure(self, segments: list[tuple[int, int, int, int, str]], attempt: int, wait: float,
                      reason: str) -> None:
        now = self.clock()
        if now - self._last_log >= LOG_EVERY:
            self._last_log = now
            log.warning("Delivery failed; will retry.", extra={"sink": self.name, "attempt": attempt,
                                                                "retry_in_s": round(wait, 2), "error": reason})
        if segments:
            try:
                with self.spool.transaction() as db:
                    chunks.record_failure(db, self.name, segments[0][0], attempt, now + wait, reason)
            except SpoolError:
                pass  # status only; the schedule is in memory

    def _publish_state(self, value: Optional[str]) -> None:
        try:
            self.spool.set_state(f"sink:{self.name}", value)
        except SpoolError:
            pass
