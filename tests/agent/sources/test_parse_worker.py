"""The parse worker: a block split between two processes encodes exactly as one, and a dead worker loses nothing."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import orjson
import pytest

from agent.envelope import EnvelopeEncoder
from agent.sources import parse_worker
from agent.sources.line_block import Block, encode_block
from agent.sources.parse_worker import ParseWorker
from parsers import parser_for

SAMPLE = Path(__file__).parents[2] / "parsers" / "samples" / "uge-accounting" / "gridengine-accounting_ug82_accounting"


def block_of(lines: int) -> bytes:
    """UGE accounting lines with a malformed line and an over-long line among them."""
    rows = [r for r in SAMPLE.read_bytes().splitlines(keepends=True) if not r.startswith(b"#")]
    out = [rows[i % len(rows)] for i in range(lines)]
    out[lines // 3] = b"q:h:g:o:name:NOT-A-NUMBER:" + b"x:" * 50 + b"\n"
    out[lines // 2] = b"y" * 5000 + b"\n"
    return b"".join(out)


def flat(block: Block) -> tuple[bytes, list[tuple[str, bytes, str]], int, int, int]:
    return (b"".join(c for c, _ in block.chunks), block.dead, block.consumed, block.records, block.parse_errors)


def test_a_split_block_encodes_to_the_same_records_ids_and_dead_letters(tmp_path: Path) -> None:
    data = block_of(3000)
    assert len(data) > parse_worker.MIN_SPLIT
    encoder = EnvelopeEncoder("acct", "uge-accounting", "h", "c")
    worker = ParseWorker("uge-accounting", encoder, 4096, None)
    try:
        split = worker.encode(data, 100, "fp", "acct", "/x/accounting", final=False)
        assert worker.pid is not None and not worker.failed
    finally:
        worker.close()
    whole = encode_block(data, 100, "fp", "acct", parser_for("uge-accounting"), encoder, 4096, "/x/accounting")
    assert flat(split) == flat(whole)
    assert split.records == 2998 and split.parse_errors == 1 and len(split.dead) == 2
    ids = [orjson.loads(line)["id"] for c, _ in split.chunks for line in c.splitlines()]
    assert len(set(ids)) == 2998


def test_a_small_block_is_encoded_here_without_starting_a_worker() -> None:
    worker = ParseWorker("uge-accounting", EnvelopeEncoder("a", "uge-accounting", "h", "c"), 4096, None)
    block = worker.encode(block_of(30)[:2000], 0, "fp", "a", "x", final=False)
    assert worker.pid is None and block.records > 0


def test_a_worker_killed_mid_run_costs_nothing_but_the_second_core(caplog: pytest.LogCaptureFixture) -> None:
    data = block_of(3000)
    encoder = EnvelopeEncoder("acct", "uge-accounting", "h", "c")
    worker = ParseWorker("uge-accounting", encoder, 4096, None, source="acct")
    try:
        worker.encode(data, 0, "fp", "acct", "x", final=False)
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGKILL)
        again = worker.encode(data, 0, "fp", "acct", "x", final=False)
        assert worker.failed and worker.pid is None
        [said] = [r for r in caplog.records if r.getMessage().startswith("Parse worker failed")]
        assert (said.__dict__["source"], said.__dict__["format"]) == ("acct", "uge-accounting")  # which one failed
        later = worker.encode(data, 0, "fp", "acct", "x", final=False)  # no new worker: inline from now on
        assert worker.pid is None
    finally:
        worker.close()
    whole = encode_block(data, 0, "fp", "acct", parser_for("uge-accounting"), encoder, 4096, "x")
    assert flat(again) == flat(whole) == flat(later)


def test_the_share_moves_away_from_the_side_that_waits_and_stays_in_range() -> None:
    share = parse_worker.WORKER_SHARE
    slower = parse_worker.next_share(share, own=1.0, waited=0.5)    # the worker came in late: it gets less
    faster = parse_worker.next_share(share, own=1.0, waited=0.001)  # it was done first: it gets more
    assert slower < share < faster
    low, high = parse_worker.SHARE_RANGE
    s = share
    for _ in range(100):
        s = parse_worker.next_share(s, 1.0, 0.5)
    assert s == low
    for _ in range(100):
        s = parse_worker.next_share(s, 1.0, 0.0)
    assert s == high
