#!/usr/bin/env python3
"""Scheduler accounting benchmark: `logspool backfill` of an LSF 10 lsb.acct into the LavaFlow double.

Generates N JOB_FINISH records (gen_lsb_acct.py, ~857 bytes each, seeded), starts the
LavaFlow double (tests/doubles/lavaflow.py, the server's import views over in-memory
tables) in its own process, and runs `logspool backfill FILE --format openlava-acct
--sink lavaflow` to it: wall s, records/s, MB/s, CPU s of logspool's process tree
(the forked drain included) and of the double, peak RSS of logspool's reader and
drain. Exactly-once is checked at the double: N distinct jobs, N attempts, and the
number of records it was sent (a re-sent record shows as received > N).

`--server counter` runs against benchmarks/lavaflow_counter.py instead: the same answers,
and the same counts taken from the request bodies without decoding a record, so the
server's share of the two cores is small; by default each run is made against both, one
after the other, and reported apart.

Example:
    python benchmarks/scheduler.py                       # 1,000,000 records
    python benchmarks/scheduler.py --records 200000 --repeat 3 --chunk-size 200,1000
    python benchmarks/scheduler.py --server counter

Exits 0 when every run delivered every record exactly once.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from process_tree import Tree  # noqa: E402
from run import logspool_command  # noqa: E402

SERVER = """
import json, signal, sys, threading
sys.path.insert(0, {root!r})
from tests.doubles.lavaflow import LavaFlowServer
server = LavaFlowServer(keys=["bench-key"])
print(server.url, flush=True)
done = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: done.set())
done.wait()
server.stop()
print(json.dumps({{"jobs": server.job_count(), "attempts": server.attempt_count(), "received": server.received,
                  "accepted": server.accepted, "requests": server.requests,
                  "statuses": dict(server.statuses)}}), flush=True)
"""


def generate(work: Path, records: int, seed: int) -> Path:
    data = work / f"lsb.acct-{records}-seed{seed}"
    if not data.exists():
        tmp = data.with_suffix(".tmp")
        subprocess.run([sys.executable, str(HERE / "gen_lsb_acct.py"), str(records), str(tmp), str(seed)], check=True)
        tmp.rename(data)
    return data


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


SERVERS = ("double", "counter")
LINE = ("chunk_size {chunk_size}: {records_per_s:,} records/s, {mb_per_s} MB/s, wall {wall_s} s, CPU {cpu_s} s "
        "({server} {double_cpu_s} s), RSS reader {reader_rss_mb} MB / drain {drain_rss_mb} MB, jobs {jobs:,}, "
        "attempts {attempts:,}, received {received:,}, requests {requests:,}, ok={ok}")


def server_command(kind: str) -> list[str]:
    if kind == "counter":
        return [sys.executable, str(HERE / "lavaflow_counter.py"), "--key", "bench-key"]
    return [sys.executable, "-c", SERVER.format(root=str(HERE.parent))]


def one_run(exe: list[str], data: Path, records: int, chunk_size: int, work: Path, timeout: float,
            kind: str = "double") -> dict[str, Any]:
    run_dir = Path(tempfile.mkdtemp(prefix=f"chunk{chunk_size}-{kind}-", dir=work))
    server = subprocess.Popen(server_command(kind), stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    url = server.stdout.readline().strip()
    (run_dir / "key").write_text("bench-key\n")
    (run_dir / "agent.toml").write_text(f"""
[agent]
spool = "spool/spool.db"
log_level = "info"

[[sources]]
name = "acct"
type = "file"
paths = ["{data}"]
format = "openlava-acct"
sinks = ["lavaflow"]

[[sinks]]
name = "lavaflow"
type = "lavaflow"
url = "{url}"
key_file = "{run_dir / 'key'}"
cluster = "bench"
chunk_size = {chunk_size}
""")
    log = run_dir / "agent.log"
    server_cpu0 = cpu_of(server.pid)
    tree = Tree(exe + ["backfill", str(data), "--format", "openlava-acct", "--sink", "lavaflow",
                       "--config", str(run_dir / "agent.toml")], run_dir, log).start()
    if not tree.wait(timeout):
        tree.stop()
    code = tree.exit_code
    wall = (tree.t_exit or time.time()) - tree.t0
    stats = tree.final()
    server_cpu = cpu_of(server.pid) - server_cpu0
    server.send_signal(signal.SIGTERM)
    out, _ = server.communicate(timeout=30)
    counts = json.loads(out.strip().splitlines()[-1])
    size = data.stat().st_size
    ok = code == 0 and counts["jobs"] == records and counts["attempts"] == records and counts["received"] == records
    return {"server": kind, "chunk_size": chunk_size, "ok": ok, "exit": code, "wall_s": round(wall, 2),
            "records_per_s": round(records / wall), "mb_per_s": round(size / wall / 1e6, 1),
            "cpu_s": round(stats.cpu_s, 2), "double_cpu_s": round(server_cpu, 2),
            "reader_rss_mb": round(stats.parent_hwm_kb / 1024, 1), "drain_rss_mb": round(stats.child_hwm_kb / 1024, 1),
            **counts, "log": str(log) if code else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--chunk-size", default="200", help="comma-separated chunk_size values, e.g. 200,1000")
    ap.add_argument("--workdir", help="work here and reuse the generated input")
    ap.add_argument("--logspool", help="the logspool command (default: $LOGSPOOL or logspool on PATH)")
    ap.add_argument("--json", action="store_true", help="print every run as JSON")
    ap.add_argument("--server", choices=SERVERS, help="the LavaFlow double or the lean counter (default: both, "
                                                      "one after the other)")
    args = ap.parse_args()
    exe = logspool_command(args.logspool)
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="logspool-sched-"))
    work.mkdir(parents=True, exist_ok=True)
    data = generate(work, args.records, args.seed)
    size = data.stat().st_size
    print(f"input: {args.records:,} JOB_FINISH records, {size / 1e6:.0f} MB ({size / args.records:.0f} B/record)",
          file=sys.stderr)
    runs = []
    servers = [args.server] if args.server else list(SERVERS)
    label = "" if args.server else "{server}: "
    for _ in range(args.repeat):
        for chunk in (int(c) for c in args.chunk_size.split(",")):
            for kind in servers:
                runs.append(one_run(exe, data, args.records, chunk, work, 120 + args.records / 2000, kind))
                print(json.dumps(runs[-1]) if args.json else (label + LINE).format(**runs[-1]), flush=True)
    for kind in servers:
        for chunk in sorted({r["chunk_size"] for r in runs}):
            rates = [r["records_per_s"] for r in runs if r["chunk_size"] == chunk and r["server"] == kind]
            print(f"{label.format(server=kind)}chunk_size {chunk}: median {statistics.median(rates):,.0f} records/s "
                  f"over {len(rates)} run(s)", file=sys.stderr)
    return 0 if all(r["ok"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
