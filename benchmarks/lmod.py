#!/usr/bin/env python3
"""Lmod benchmark: `logspool backfill` of a module-load log into MariaDB and PostgreSQL (profile lmod_tracking).

Generates N Lmod tracking lines (RFC 3164 prefix, `ModuleUsageTracking:` tag, user / jobid /
module / path / host / time; 500 users, 300 modules, 2,000 hosts; time strictly increasing
so no two lines share the unique key (time, host, user, module); seeded), then for each
server creates a fresh database, runs `backfill FILE --format lmod --sink db` and reports
rows/s, MB/s, CPU s of logspool's process tree, peak RSS, and the row count the table
holds (it must be N: each line once).

    python benchmarks/lmod.py --records 1000000
    python benchmarks/lmod.py --records 200000 --server mariadb
    python benchmarks/lmod.py --records 1000000 --repeat 3   # servers alternate; medians at the end

Servers: MariaDB at mysql://root@127.0.0.1:3306 and PostgreSQL at postgresql://postgres@127.0.0.1:5432
(override with LOGSPOOL_TEST_MYSQL_URL / LOGSPOOL_TEST_PG_URL). Exits 0 when every run stored N rows.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from process_tree import Tree  # noqa: E402
from run import logspool_command  # noqa: E402

from tests.sql_servers import make_database  # noqa: E402

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def generate(path: Path, n: int, seed: int) -> None:
    rnd = random.Random(seed)
    modules = [f"{p}/{v}" for p in ("gcc", "openmpi", "python", "cuda", "hdf5", "netcdf", "fftw", "intel", "matlab",
                                    "r") for v in range(30)]
    t = 1682407234.0
    with open(path, "w", buffering=1 << 20) as fh:
        for i in range(n):
            t += rnd.random() * 0.5 + 0.000001
            tm = time.gmtime(t)
            node = f"node{rnd.randrange(2000):04d}"
            module = rnd.choice(modules)
            jobid = "nil" if rnd.random() < 0.2 else str(1000000 + i // 7)
            fh.write(f"{MONTHS[tm.tm_mon - 1]} {tm.tm_mday:2d} {tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d} "
                     f"{node} ModuleUsageTracking: user=user{rnd.randrange(500)} jobid={jobid} module={module} "
                     f"path=/software/modulefiles/{module}.lua host={node}.cluster.example.edu time={t:.6f}\n")


def one_run(exe: list[str], data: Path, n: int, dialect: str, work: Path, timeout: float) -> dict[str, Any]:
    db, drop = make_database(dialect)
    run_dir = Path(tempfile.mkdtemp(prefix=f"{dialect}-", dir=work))
    try:
        cfg = run_dir / "agent.toml"
        password = f'password = "{db.password}"\n' if db.password else ""
        cfg.write_text(f'[agent]\nspool = "spool/spool.db"\n\n[[sinks]]\nname = "db"\ntype = "sql"\n'
                       f'url = "{db.url}"\nprofile = "lmod_tracking"\n{password}')
        log = run_dir / "agent.log"
        tree = Tree(exe + ["backfill", str(data), "--format", "lmod", "--sink", "db", "--config", str(cfg)],
                    run_dir, log).start()
        if not tree.wait(timeout):
            tree.stop()
        wall = (tree.t_exit or time.time()) - tree.t0
        stats = tree.final()
        rows = int(db.query("SELECT count(*) FROM log_data")[0][0])
        return {"server": "mariadb" if dialect == "mysql" else "postgresql", "exit": tree.exit_code,
                "wall_s": round(wall, 2), "rows_per_s": round(n / wall), "mb_per_s": round(data.stat().st_size / wall / 1e6, 1),
                "cpu_s": round(stats.cpu_s, 2), "reader_rss_mb": round(stats.parent_hwm_kb / 1024, 1),
                "drain_rss_mb": round(stats.child_hwm_kb / 1024, 1), "rows": rows,
                "ok": tree.exit_code == 0 and rows == n, "log": None if tree.exit_code == 0 else str(log)}
    finally:
        drop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--server", choices=("mariadb", "postgresql"), help="one server only (default: both)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per server, alternating (default 1)")
    ap.add_argument("--workdir", help="work here and reuse the generated input")
    ap.add_argument("--logspool", help="the logspool command (default: $LOGSPOOL or logspool on PATH)")
    args = ap.parse_args()
    exe = logspool_command(args.logspool)
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="logspool-lmod-"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / f"lmod-{args.records}-seed{args.seed}.log"
    if not data.exists():
        generate(data, args.records, args.seed)
    print(f"input: {args.records:,} Lmod lines, {data.stat().st_size / 1e6:.0f} MB", file=sys.stderr)
    runs = []
    servers = [args.server] if args.server else ["mariadb", "postgresql"]
    for _ in range(args.repeat):
        for server in servers:
            dialect = "mysql" if server == "mariadb" else "postgresql"
            runs.append(one_run(exe, data, args.records, dialect, work, 120 + args.records / 1000))
            print(json.dumps(runs[-1]), flush=True)
    if args.repeat > 1:
        for server in servers:
            mine = [r for r in runs if r["server"] == server]
            rates = sorted(r["rows_per_s"] for r in mine)
            print(json.dumps({"server": server, "runs": len(mine), "median_rows_per_s": statistics.median(rates),
                              "min": rates[0], "max": rates[-1],
                              "median_cpu_s": statistics.median(r["cpu_s"] for r in mine),
                              "max_rss_mb": max(max(r["reader_rss_mb"], r["drain_rss_mb"]) for r in mine),
                              "all_exactly_n": all(r["ok"] for r in mine)}), flush=True)
    return 0 if all(r["ok"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
