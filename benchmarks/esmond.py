#!/usr/bin/env python3
"""GridFTP benchmark: `logspool backfill` of a transfer log, into a file sink and into the esmond double.

Generates N transfer lines (gen_gridftp_pairs.py: ~300 bytes, 100 endpoint pairs -> at most
200 esmond metadata, 5 % of FILEs with spaces and `=`, 3 % failed transfers; seeded) and
runs two cases, one after the other:

    spool    `backfill FILE --format gridftp --sink file`: parse + spool + NDJSON out
    esmond   `backfill FILE --format gridftp --sink esmond` against the esmond double
             (tests/doubles/esmond.py, in its own process): metadata find-or-create,
             one bulk PUT per metadata per batch, every point validated and stored

For each: wall s, records/s, MB/s, CPU s of logspool's process tree (the forked drain
included), the server's CPU s, peak RSS of the reader and the drain. Exactly-once is
checked at the destination: the file holds N distinct ids; the double holds one
throughput point per successful transfer and one failures point per failed one, no
point refused as a duplicate (a re-sent batch would be) and no point dropped.

    python benchmarks/esmond.py --records 1000000
    python benchmarks/esmond.py --records 200000 --case esmond --batch-records 5000,20000

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
from tests.doubles.esmond import EsmondServer
server = EsmondServer(tokens={{"bench-key": "bench"}}, keep_requests=False)
print(server.url, flush=True)
done = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: done.set())
done.wait()
server.stop()
a = server.archive
points = {{}}
for (key, et), series in a.series.items():
    points[et] = points.get(et, 0) + len(series)
print(json.dumps({{"metadata": len(a.metadata), "points": points, "conflicts": a.conflicts,
                  "dropped": sum(a.dropped.values()), "requests": server.request_count,
                  "statuses": {{str(k): v for k, v in server.statuses.items()}}}}), flush=True)
"""


def generate(work: Path, records: int, seed: int) -> tuple[Path, int]:
    """The input file and how many of its transfers succeeded (CODE 226)."""
    data = work / f"gridftp-pairs-{records}-seed{seed}.log"
    if not data.exists():
        tmp = data.with_suffix(".tmp")
        subprocess.run([sys.executable, str(HERE / "gen_gridftp_pairs.py"), str(records), str(tmp), str(seed)],
                       check=True)
        tmp.rename(data)
    ok = 0
    with open(data, "rb") as fh:
        for line in fh:
            ok += line.endswith(b" CODE=226\n") or b" CODE=226 " in line
    return data, ok


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def config(run_dir: Path, data: Path, sink: str) -> Path:
    path = run_dir / "agent.toml"
    path.write_text(f"""
[agent]
spool = "spool/spool.db"
log_level = "info"

[[sources]]
name = "transfers"
type = "file"
paths = ["{data}"]
format = "gridftp"
sinks = ["out"]

{sink}
""")
    return path


def one_run(exe: list[str], data: Path, records: int, succeeded: int, case: str, batch: int, work: Path,
            timeout: float) -> dict[str, Any]:
    run_dir = Path(tempfile.mkdtemp(prefix=f"{case}-{batch}-", dir=work))
    server = None
    if case == "esmond":
        server = subprocess.Popen([sys.executable, "-c", SERVER.format(root=str(HERE.parent))],
                                  stdout=subprocess.PIPE, text=True)
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        (run_dir / "key").write_text("bench-key\n")
        sink = (f'[[sinks]]\nname = "out"\ntype = "esmond"\nurl = "{url}"\nkey_file = "{run_dir / "key"}"\n'
                f'measurement_agent = "192.0.2.10"\n' + (f"batch_records = {batch}\n" if batch else ""))
    else:
        sink = (f'[[sinks]]\nname = "out"\ntype = "file"\npath = "{run_dir / "out.ndjson"}"\n'
                + (f"batch_records = {batch}\n" if batch else ""))
    cfg = config(run_dir, data, sink)
    log = run_dir / "agent.log"
    server_cpu0 = cpu_of(server.pid) if server else 0.0
    tree = Tree(exe + ["backfill", str(data), "--format", "gridftp", "--sink", "out", "--config", str(cfg)],
                run_dir, log).start()
    if not tree.wait(timeout):
        tree.stop()
    code = tree.exit_code
    wall = (tree.t_exit or time.time()) - tree.t0
    stats = tree.final()
    result: dict[str, Any] = {"case": case, "batch_records": batch, "exit": code, "wall_s": round(wall, 2),
                              "records_per_s": round(records / wall), "mb_per_s": round(data.stat().st_size / wall / 1e6, 1),
                              "cpu_s": round(stats.cpu_s, 2), "reader_rss_mb": round(stats.parent_hwm_kb / 1024, 1),
                              "drain_rss_mb": round(stats.child_hwm_kb / 1024, 1), "log": str(log) if code else None}
    if server is not None:
        result["server_cpu_s"] = round(cpu_of(server.pid) - server_cpu0, 2)
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=60)
        counts = json.loads(out.strip().splitlines()[-1])
        result.update(counts)
        points = counts["points"]
        result["ok"] = (code == 0 and points.get("throughput", 0) == succeeded
                        and points.get("failures", 0) == records - succeeded
                        and counts["conflicts"] == 0 and counts["dropped"] == 0)
    else:
        ids = set()
        with open(run_dir / "out.ndjson", "rb") as fh:
            for line in fh:
                ids.add(line[7:line.index(b'"', 7)])
        result["distinct"] = len(ids)
        result["ok"] = code == 0 and len(ids) == records
        (run_dir / "out.ndjson").unlink()
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--repeat", type=int, default=1, help="runs of each case, alternating (medians printed)")
    ap.add_argument("--case", choices=("spool", "esmond"), help="one case only (default: both)")
    ap.add_argument("--batch-records", default="", help="comma-separated batch_records values for the sink "
                                                         "(default: the sink's own default)")
    ap.add_argument("--workdir", help="work here and reuse the generated input")
    ap.add_argument("--logspool", help="the logspool command (default: $LOGSPOOL or logspool on PATH)")
    args = ap.parse_args()
    exe = logspool_command(args.logspool)
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="logspool-esmond-"))
    work.mkdir(parents=True, exist_ok=True)
    data, succeeded = generate(work, args.records, args.seed)
    size = data.stat().st_size
    print(f"input: {args.records:,} transfers ({succeeded:,} succeeded), {size / 1e6:.0f} MB "
          f"({size / args.records:.0f} B/record)", file=sys.stderr)
    runs = []
    cases = [args.case] if args.case else ["spool", "esmond"]
    batches = [int(b) for b in args.batch_records.split(",") if b] or [0]
    for _ in range(args.repeat):
        for case in cases:
            for batch in batches:
                runs.append(one_run(exe, data, args.records, succeeded, case, batch, work, 120 + args.records / 2000))
                print(json.dumps(runs[-1]), flush=True)
    for case in cases:
        for batch in batches:
            mine = [r for r in runs if r["case"] == case and r["batch_records"] == batch]
            rate = statistics.median(r["records_per_s"] for r in mine)
            cpu = statistics.median(r["cpu_s"] for r in mine)
            print(f"{case} (batch_records {batch or 'default'}): median {rate:,.0f} records/s, CPU {cpu} s, over "
                  f"{len(mine)} run(s); all exactly once: {all(r['ok'] for r in mine)}", file=sys.stderr)
    return 0 if all(r["ok"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
