#!/usr/bin/env python3
"""What each step of backfill -> LavaFlow costs per record, measured alone in one process.

`scheduler.py` measures the pipeline end to end; this script takes it apart, to say how
far the end-to-end figure can move on this machine. Each step runs over the same
generated LSF 10 JOB_FINISH lines (gen_lsb_acct.py) with the code the pipeline runs,
and is timed in CPU seconds (time.process_time, so the other core's load does not
count), best of `--repeat`:

    parse              the openlava-acct parser, line -> record
    split baseline     the issue's calibration: split on the quote, then on whitespace
    parse+envelope     encode_block: parse, record id, envelope (the reader's work)
    spool              enqueue ~1 MiB NDJSON chunks and commit (WAL, synchronous=NORMAL)
    drain encode       the lavaflow sink's encode_lines + request body
    double decode      orjson.loads of the request body and freeing it (the double's floor)
    double views       the double's import views over the decoded records

Two cores give at most 2 / (sum of every process's CPU per record) records per second,
and a single-threaded server caps it at 1 / (its CPU per record); HTTP, the ack path
and process hand-offs come on top, so the bound printed is an upper bound.

    python benchmarks/scheduler_floor.py --records 20000
"""
from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from agent.envelope import EnvelopeEncoder, split_lines  # noqa: E402
from agent.sinks.lavaflow.encode import encode_lines  # noqa: E402
from agent.sources.line_block import encode_block  # noqa: E402
from parsers import parser_for  # noqa: E402
from spool import Spool  # noqa: E402
from spool.chunks import enqueue  # noqa: E402
from tests.doubles.lavaflow_views import LavaFlowTables  # noqa: E402


def best(fn: Callable[[], Any], repeat: int) -> float:
    """Least CPU seconds of `repeat` runs (the machine's noise only ever adds)."""
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return min(times)


def split_baseline(lines: list[bytes]) -> None:
    for line in lines:
        pieces = line.split(b'"')
        for i in range(0, len(pieces), 2):
            pieces[i].split()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--chunk-size", type=int, default=1000, help="records per LavaFlow request")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="logspool-floor-"))
    data_path = work / "lsb.acct"
    subprocess.run([sys.executable, str(HERE / "gen_lsb_acct.py"), str(args.records), str(data_path), "1"],
                   check=True, stdout=subprocess.DEVNULL)
    data = data_path.read_bytes()
    lines = data.splitlines()
    n = len(lines)
    parse = parser_for("openlava-acct")
    encoder = EnvelopeEncoder("acct", "openlava-acct", "head01", None)

    def do_parse() -> None:
        for line in lines:
            parse(line)

    blocks: list[Any] = []

    def do_encode() -> None:
        blocks.clear()
        step = 1 << 20
        offset = 0
        while offset < len(data):
            chunk = data[offset:offset + step]
            block = encode_block(chunk, offset, "f" * 16, "acct", parse, encoder, 1 << 20, str(data_path))
            if block.consumed == 0:
                block = encode_block(chunk, offset, "f" * 16, "acct", parse, encoder, 1 << 20, str(data_path),
                                     final=True)
            blocks.append(block)
            offset += block.consumed

    do_encode()
    chunks = [c for b in blocks for c in b.chunks]
    envelope_bytes = sum(len(p) for p, _ in chunks)
    assert sum(r for _, r in chunks) == n, "every line must give one record"

    def do_spool() -> None:
        spool = Spool(Path(tempfile.mkdtemp(dir=work)) / "spool.db")
        for payload, records in chunks:
            with spool.transaction() as db:
                enqueue(db, "acct", payload, records, ["lavaflow"])
        spool.close()

    envelope_lines = [line for payload, _ in chunks for line in split_lines(payload)]
    batches = [envelope_lines[i:i + args.chunk_size] for i in range(0, n, args.chunk_size)]
    bodies: list[bytes] = []

    def do_drain_encode() -> None:
        bodies.clear()
        for batch in batches:
            enc = encode_lines(batch, "bench", frozenset({"JOB_NEW", "JOB_FINISH"}), lambda: "bench", "k")
            for part in enc.parts:
                bodies.append(b'{"key":%s,"payload":%s}' % (orjson.dumps("bench-key"), part.records))

    do_drain_encode()
    body_bytes = sum(len(b) for b in bodies)

    def do_double_decode() -> None:
        for body in bodies:
            orjson.loads(body)

    decoded = [orjson.loads(b)["payload"] for b in bodies]

    def do_double_views() -> None:
        tables = LavaFlowTables()
        gc.disable()
        try:
            for payload in decoded:
                for record in payload:
                    tables._openlava("bench", record)
        finally:
            gc.enable()
        assert tables.job_count() == n

    rows = [
        ("parse", "reader/worker", best(do_parse, args.repeat)),
        ("split baseline (issue's calibration)", "-", best(lambda: split_baseline(lines), args.repeat)),
        ("parse+envelope (encode_block)", "reader/worker", best(do_encode, args.repeat)),
        ("spool enqueue+commit", "reader", best(do_spool, args.repeat)),
        ("drain encode (encode_lines+body)", "drain", best(do_drain_encode, args.repeat)),
        ("double: decode body", "double", best(do_double_decode, args.repeat)),
        ("double: import views", "double", best(do_double_views, args.repeat)),
    ]
    print(f"{n:,} JOB_FINISH lines, {len(data) / n:.0f} B/line; envelope {envelope_bytes / n:.0f} B/record; "
          f"LavaFlow body {body_bytes / n:.0f} B/record; chunk_size {args.chunk_size}")
    for name, where, seconds in rows:
        print(f"  {name:<40} {where:<14} {seconds / n * 1e6:7.1f} µs/record")
    per = {name: seconds / n * 1e6 for name, _, seconds in rows}
    logspool = per["parse+envelope (encode_block)"] + per["spool enqueue+commit"] + per["drain encode (encode_lines+body)"]
    double = per["double: decode body"] + per["double: import views"]
    print(f"logspool steps: {logspool:.1f} µs/record; double: {double:.1f} µs/record")
    print(f"upper bound on 2 cores, against the double: {2e6 / (logspool + double):,.0f} records/s "
          f"(the double alone caps it at {1e6 / double:,.0f}); with a server that costs nothing: "
          f"{2e6 / logspool:,.0f} records/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
