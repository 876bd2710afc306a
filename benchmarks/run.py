#!/usr/bin/env python3
"""Throughput benchmark: logspool's backfill and live tailing beside a naive shipper, on one generated log.

Generates N GridFTP-style key=value lines (~296 B each, seeded, every DATE unique),
then measures, side by side in one run: a naive shipper (no spool) to a local HTTP
receiver as the yardstick; `logspool backfill` to a file sink and to the receiver;
`logspool run` tailing the complete file to the receiver and to a file sink. For each:
wall s, lines/s, MB/s (input bytes / wall), CPU s of the whole process tree (the
forked drain child included), peak RSS of parent and child, the ratio to the naive
shipper, and an exactly-once check (distinct DATE keys == N, duplicates counted).

Example:
    python benchmarks/run.py --lines 200000
    python benchmarks/run.py --repeat 3 --json > bench.json
    python benchmarks/run.py --lines 1000000 --json results.json   # table on stdout, details in the file

Exits 0 when every case of every repetition delivered every line exactly once.
See benchmarks/README.md for what is measured and how to read it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cases import CASES, BATCH_RECORDS, HERE, Result, Setup  # noqa: E402


def logspool_command(explicit: str | None) -> list[str]:
    """$LOGSPOOL / --logspool, else `logspool` on PATH; a pyenv shim is resolved to the real script,
    so neither its start-up nor an extra bash process lands in the measurement."""
    given = explicit or os.environ.get("LOGSPOOL")
    if given and len(shlex.split(given)) > 1:      # e.g. "python3 -m agent.cli" with PYTHONPATH set
        return shlex.split(given)
    exe = given or shutil.which("logspool")
    if not exe:
        sys.exit("no logspool command: install the project (pip install -e .) or pass --logspool PATH")
    try:
        head = Path(exe).read_bytes()[:4096]
    except OSError:
        head = b""
    if b"pyenv" in head and head.startswith(b"#!") and shutil.which("pyenv"):
        real = subprocess.run(["pyenv", "which", "logspool"], capture_output=True, text=True)
        if real.returncode == 0 and real.stdout.strip():
            exe = real.stdout.strip()
    return [exe]


def source_revision() -> str:
    """The git commit of the checkout this script sits in, and whether the agent's code differs from it
    (an editable install runs the working tree, so uncommitted changes are what gets measured)."""
    root = HERE.parent
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "agent", "parsers", "spool"],
                               capture_output=True, text=True, timeout=10).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    changed = [line[3:] for line in dirty if line.strip()]
    return (head or "unknown") + (f" + uncommitted changes to {', '.join(changed)}" if changed else "")


def generate(work: Path, lines: int, seed: int) -> tuple[Path, int, float]:
    """The input file (reused if present in --workdir), its size, and seconds spent generating it."""
    data = work / f"gridftp-{lines}-seed{seed}.log"
    t = time.monotonic()
    if not data.exists():
        tmp = data.with_suffix(".tmp")
        subprocess.run([sys.executable, str(HERE / "gen_gridftp_log.py"), "-n", str(lines), "-o", str(tmp),
                        "--seed", str(seed)], check=True, stderr=subprocess.DEVNULL)
        tmp.rename(data)
    took = time.monotonic() - t
    with open(data, "rb") as fh:          # into the page cache: the runs measure CPU, not the disk
        while fh.read(16 << 20):
            pass
    return data, data.stat().st_size, took


def machine_load() -> dict[str, Any]:
    """Load average and CPU pressure (PSI): on a shared box they say how much the wall times can be trusted."""
    out: dict[str, Any] = {"loadavg_1m": float(Path("/proc/loadavg").read_text().split()[0])}
    try:
        some = Path("/proc/pressure/cpu").read_text().splitlines()[0].split()
        out["cpu_pressure_avg60_pct"] = float(some[2].split("=")[1])
    except (OSError, IndexError, ValueError):
        pass
    return out


def median(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def summarize(name: str, runs: list[Result], lines: int, size: int) -> dict[str, Any]:
    good = [r for r in runs if r.ok]
    out: dict[str, Any] = {"case": name, "label": runs[0].case, "runs": len(runs), "ok": len(good),
                           "errors": [r.error for r in runs if r.error]}
    if not good:
        return out
    wall = median([r.wall_s for r in good])
    out.update(
        wall_s=wall, wall_s_min=min(r.wall_s for r in good), wall_s_max=max(r.wall_s for r in good),
        lines_per_s=lines / wall, mb_per_s=size / wall / 1e6,
        cpu_s=median([r.cpu_s for r in good]),
        cpu_s_per_m_lines=median([r.cpu_s for r in good]) * 1e6 / lines,
        parent_rss_mb=median([r.parent_rss_mb for r in good]),
        child_rss_mb=median([r.child_rss_mb for r in good]),
        exit_s=median([r.exit_s for r in good if r.exit_s is not None]),
        distinct=min(r.distinct for r in good), duplicates=max(r.duplicates for r in runs),
        requests=median([r.requests for r in good if r.requests is not None]),
        receiver_cpu_s=median([r.receiver_cpu_s for r in good if r.receiver_cpu_s is not None]),
    )
    for key in sorted({k for r in good for k in r.extra}):
        out[key] = median([r.extra[key] for r in good if key in r.extra])
    return out


def add_ratios(rows: list[dict[str, Any]]) -> None:
    base = rows[0]
    for row in rows:
        if "wall_s" in row and "wall_s" in base:
            row["x_naive_rate"] = base["wall_s"] / row["wall_s"]
            row["x_naive_cpu"] = row["cpu_s"] / base["cpu_s"] if base["cpu_s"] else float("nan")


def table(rows: list[dict[str, Any]]) -> str:
    cols = [("case", "label", "{}"), ("ok", None, "{}"), ("wall s", "wall_s", "{:.2f}"), ("(min-max)", None, "{}"),
            ("lines/s", "lines_per_s", "{:,.0f}"), ("MB/s", "mb_per_s", "{:.1f}"),
            ("CPU s", "cpu_s", "{:.2f}"), ("CPU s/M", "cpu_s_per_m_lines", "{:.2f}"),
            ("RSS MB par/child", None, "{}"), ("rate x naive", "x_naive_rate", "{:.2f}"),
            ("CPU x naive", "x_naive_cpu", "{:.2f}"), ("distinct", "distinct", "{:,}"),
            ("dups", "duplicates", "{:,}"), ("exit/stop s", "exit_s", "{:.2f}")]
    grid = [[c[0] for c in cols]]
    for row in rows:
        cells = []
        for title, key, fmt in cols:
            if title == "ok":
                cells.append(f"{row['ok']}/{row['runs']}")
            elif title == "(min-max)":
                cells.append(f"({row['wall_s_min']:.2f}-{row['wall_s_max']:.2f})" if "wall_s" in row else "-")
            elif title.startswith("RSS"):
                child = f"{row['child_rss_mb']:.0f}" if row.get("child_rss_mb") else "-"
                cells.append(f"{row['parent_rss_mb']:.0f}/{child}" if "parent_rss_mb" in row else "-")
            elif key in row and row[key] == row[key]:   # not NaN
                cells.append(fmt.format(row[key]))
            else:
                cells.append("-")
        grid.append(cells)
    widths = [max(len(r[i]) for r in grid) for i in range(len(cols))]
    lines = []
    for n, r in enumerate(grid):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000, help="lines to generate (default 1,000,000)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of every case; the median is reported")
    ap.add_argument("--seed", type=int, default=42, help="generator seed (42 = the peer baseline's input)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (input, spools, outputs, logs)")
    ap.add_argument("--workdir", type=Path, help="where to work (default: a new temporary directory)")
    ap.add_argument("--cases", default=",".join(n for n, _ in CASES),
                    help="comma-separated subset, in order (default: all; the first is the ratio base)")
    ap.add_argument("--timeout", type=float, help="seconds per case (default 60 + N/4000)")
    ap.add_argument("--logspool", help='the logspool command, e.g. "python3 -m agent.cli" '
                                       "(default: $LOGSPOOL, else logspool on PATH)")
    ap.add_argument("--json", nargs="?", const="-", metavar="FILE",
                    help="print one JSON object instead of the table; with FILE, write it there and print the table")
    args = ap.parse_args()

    if args.lines < 1 or args.repeat < 1:
        ap.error("--lines and --repeat must be at least 1")
    chosen = [c for c in CASES if c[0] in args.cases.split(",")]
    if not chosen:
        ap.error(f"--cases: expected some of {', '.join(n for n, _ in CASES)}")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="logspool-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    say = (lambda m: print(m, file=sys.stderr, flush=True))
    exe = logspool_command(args.logspool)
    probe = subprocess.run(exe + ["--version"], capture_output=True, text=True, timeout=60)
    version = probe.stdout.strip()
    if probe.returncode != 0 or not version:
        sys.exit(f"{' '.join(exe)} --version failed: {probe.stderr.strip()[-300:]}")
    revision = source_revision()
    say(f"work dir {work}; {version} at {exe[0]}; source {revision}")
    data, size, gen_s = generate(work, args.lines, args.seed)
    say(f"input {data.name}: {args.lines:,} lines, {size:,} bytes ({size / args.lines:.1f} B/line), "
        f"generated in {gen_s:.1f}s")
    setup = Setup(exe=exe, python=sys.executable, data=data, lines=args.lines,
                  timeout=args.timeout or 60 + args.lines / 4000)
    runs: dict[str, list[Result]] = {n: [] for n, _ in chosen}
    load_before = machine_load()
    try:
        for rep in range(args.repeat):
            for name, case in chosen:       # interleaved, so drift in the machine's load hits every case
                d = work / f"rep{rep + 1}-{name}"
                if d.exists():
                    shutil.rmtree(d)
                d.mkdir()
                try:
                    res = case(setup, d)
                except Exception as exc:     # a broken case is reported, the others still run
                    res = Result(name, error=f"{type(exc).__name__}: {exc}")
                runs[name].append(res)
                say(f"[{rep + 1}/{args.repeat}] {name}: " + (
                    f"{res.wall_s:.2f}s, {args.lines / res.wall_s:,.0f} lines/s, CPU {res.cpu_s:.2f}s, "
                    f"distinct {res.distinct:,}, dups {res.duplicates:,}" if res.ok else f"FAILED: {res.error}"))
                if not args.keep:
                    shutil.rmtree(d, ignore_errors=True)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    load_after = machine_load()
    rows = [summarize(name, runs[name], args.lines, size) for name, _ in chosen]
    add_ratios(rows)
    all_ok = all(r.ok for rs in runs.values() for r in rs)
    if args.json:
        doc = json.dumps({"lines": args.lines, "input_bytes": size, "seed": args.seed, "repeat": args.repeat,
                          "batch_records": BATCH_RECORDS, "logspool": version, "revision": revision,
                          "python": platform.python_version(),
                          "cpus": os.cpu_count(), "load_before": load_before, "load_after": load_after,
                          "results": rows,
                          "runs": {n: [r.as_dict() for r in rs] for n, rs in runs.items()}}, indent=1)
        if args.json == "-":
            print(doc)
        else:
            Path(args.json).write_text(doc + "\n")
    if args.json != "-":
        print(f"{args.lines:,} lines, {size / 1e6:.1f} MB input, {args.repeat} run(s) each (median), "
              f"{os.cpu_count()} CPUs, {version} (git {revision})")
        print("machine load before/after: " + ", ".join(
            f"{k} {load_before.get(k, float('nan')):.1f}/{load_after.get(k, float('nan')):.1f}" for k in load_before)
            + " (a busy box stretches wall times; CPU s is the steadier figure)")
        print(table(rows))
        for row in rows:
            for err in row["errors"]:
                print(f"{row['case']}: {err}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
