"""A forked helper process that parses part of each large block, so parsing uses a second core.

Formats with real parsers cost 20-30 µs a line (openlava's JOB_FINISH: ~120 fields),
against ~3 µs for raw lines, and the reader that parses, encodes and spools is then the
slowest stage: 29k records/s for LSF lsb.acct on one core while the drain process idles
half the time. So a block of at least `MIN_SPLIT` bytes is cut at a line boundary; the
worker encodes the first part while this process encodes the rest, and the two results
are joined in file order. The result is the block `encode_block` gives for the whole,
chunked differently: every record has the same id and bytes, and the commit (records
and checkpoint in one transaction) stays in this process.

The worker holds no spool connection (it is forked after the spool is open and never
touches it) and exits when its request pipe reaches EOF, which is also what happens
when the reader dies, even by SIGKILL. If the worker fails in any way, the part is
encoded here instead: a worker is an optimisation, never a new way to lose a line.
"""
from __future__ import annotations

import logging
import os
import pickle
import struct
import time
from typing import Optional

from agent.envelope import EnvelopeEncoder
from agent.sources.line_block import Block, encode_block
from parsers import FRAMERS, parser_for

log = logging.getLogger("logspool.source.file")

#: Blocks smaller than this are encoded in one piece (live tailing: a few lines a poll).
MIN_SPLIT = 256 << 10
#: The worker's first share of a split block; `next_share` then moves it, block by block,
#: to where neither side waits for the other (it depends on the parser, the sink and
#: what else runs on the two cores: 0.45 beat 0.55 and 0.68 for GridFTP into a file sink).
WORKER_SHARE = 0.55
SHARE_RANGE = (0.25, 0.75)
_LEN = struct.Struct("!Q")


def _write(fd: int, payload: bytes) -> None:
    view = memoryview(_LEN.pack(len(payload)) + payload)
    while view:
        view = view[os.write(fd, view):]


def _read(fd: int) -> Optional[bytes]:
    """One length-prefixed message, or None at EOF."""
    head = _read_exact(fd, _LEN.size)
    if head is None:
        return None
    body = _read_exact(fd, _LEN.unpack(head)[0])
    return body


def _read_exact(fd: int, n: int) -> Optional[bytes]:
    parts: list[bytes] = []
    while n:
        data = os.read(fd, min(n, 1 << 20))
        if not data:
            return None
        parts.append(data)
        n -= len(data)
    return b"".join(parts)


class ParseWorker:
    """Encodes one source's blocks: inline, or split with a forked worker (forked on the
    first large block; format and envelope fixed at fork time). `split=False` never forks."""

    def __init__(self, format: str, encoder: EnvelopeEncoder, max_line_bytes: int,
                 text: Optional[tuple[str, str]], split: bool = True, source: str = "") -> None:
        self.format, self.encoder, self.max_line_bytes, self.text = format, encoder, max_line_bytes, text
        self.source = source   # named in the log if the worker fails
        self.parser = parser_for(format)
        self.framer = FRAMERS.get(format)
        self.pid: Optional[int] = None
        self._to: Optional[int] = None
        self._from: Optional[int] = None
        self.failed = not split  # `split=False`: every block is encoded here (one core, or cheap lines)
        self.share = WORKER_SHARE

    def start(self) -> None:
        req_r, req_w = os.pipe()
        res_r, res_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker: parse until the reader hangs up
            code = 0
            try:
                os.close(req_w)
                os.close(res_r)
                _serve(req_r, res_w, self.format, self.encoder, self.max_line_bytes, self.text)
            except BaseException:  # pragma: no cover - the reader sees EOF and encodes inline
                code = 1
            finally:
                os._exit(code)
        os.close(req_r)
        os.close(res_w)
        self.pid, self._to, self._from = pid, req_w, res_r

    def encode(self, data: bytes, offset: int, fingerprint: str, source: str, where: str, final: bool) -> Block:
        """`encode_block` of `data`, with the worker doing the first part when `data` is large."""
        parser = self.parser
        cut = -1
        if not self.failed and not final and len(data) >= MIN_SPLIT:
            share = int(len(data) * self.share)
            # The cut must fall between two records: a line end, or the framer's unit end.
            cut = data.rfind(b"\n", 0, share) + 1 if self.framer is None else self.framer(data[:share], False)[1]
        if cut <= 0:
            return encode_block(data, offset, fingerprint, source, parser, self.encoder, self.max_line_bytes,
                                where, final=final, text=self.text, framer=self.framer)
        if self.pid is None:
            self.start()
        head = data[:cut]
        sent = self._send((head, offset, fingerprint, source, where))
        started = time.perf_counter()
        tail = encode_block(data[cut:], offset + cut, fingerprint, source, parser, self.encoder,
                            self.max_line_bytes, where, final=final, text=self.text, framer=self.framer)
        done = time.perf_counter()
        first = self._receive() if sent else None
        self.share = next_share(self.share, done - started, time.perf_counter() - done)
        if first is None:
            first = encode_block(head, offset, fingerprint, source, parser, self.encoder, self.max_line_bytes,
                                 where, text=self.text, framer=self.framer)
        return _joined(first, tail)

    def _send(self, request: tuple[bytes, int, str, str, str]) -> bool:
        assert self._to is not None
        try:
            _write(self._to, pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL))
            return True
        except OSError as exc:
            self._fail(f"cannot reach the parse worker: {exc}")
            return False

    def _receive(self) -> Optional[Block]:
        assert self._from is not None
        try:
            body = _read(self._from)
        except OSError as exc:
            body = None
            log.debug("Parse worker read failed.", extra={"error": str(exc)})
        if body is None:
            self._fail("the parse worker exited")
            return None
        block = pickle.loads(body)
        return block if isinstance(block, Block) else None

    def _fail(self, reason: str) -> None:
        log.warning("Parse worker failed; parsing in the reader alone from now on.",
                    extra={"source": self.source, "format": self.format, "error": reason})
        self.failed = True
        self.close()

    def close(self) -> None:
        """Hang up: the worker reads EOF and exits; reap it."""
        for fd in (self._to, self._from):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._to = self._from = None
        if self.pid is not None:
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
            self.pid = None


def next_share(share: float, own: float, waited: float) -> float:
    """The worker's share for the next block, from how long this process encoded its part
    (`own`) and then waited for the worker's (`waited`): a worker that finished late gets
    less, one that was done first gets more, in small steps so one noisy block moves little."""
    low, high = SHARE_RANGE
    if waited > 0.05 * own:
        return max(low, share - 0.02)
    return min(high, share + 0.01)


def _serve(req: int, res: int, format: str, encoder: EnvelopeEncoder, max_line_bytes: int,
           text: Optional[tuple[str, str]]) -> None:
    parser = parser_for(format)
    framer = FRAMERS.get(format)
    while True:
        body = _read(req)
        if body is None:
            return
        data, offset, fingerprint, source, where = pickle.loads(body)
        block = encode_block(data, offset, fingerprint, source, parser, encoder, max_line_bytes, where, text=text,
                             framer=framer)
        _write(res, pickle.dumps(block, protocol=pickle.HIGHEST_PROTOCOL))


def _joined(first: Block, second: Block) -> Block:
    """Two consecutive blocks as one (the first ends at a line boundary, so it is consumed whole)."""
    return Block(chunks=first.chunks + second.chunks, dead=first.dead + second.dead,
                 consumed=first.consumed + second.consumed, records=first.records + second.records,
                 skipped=first.skipped + second.skipped, parse_errors=first.parse_errors + second.parse_errors)
