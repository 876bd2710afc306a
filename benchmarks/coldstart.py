"""Cold start of the frozen binary, one-file vs one-dir: `--version` and `prerotate FILE`.

    python benchmarks/coldstart.py                      # dist/logspool vs dist/logspool-onedir/logspool, 15 runs each
    python benchmarks/coldstart.py -n 30 --json out.json
    python benchmarks/coldstart.py --onefile /usr/local/bin/logspool --onedir /opt/logspool/logspool

Why: the logrotate hook starts the binary once per rotated file, and every start of the one-file
form unpacks ~40 MB before Python runs. The issue's target is < 1 s for the one-dir form.

Each form gets a throwaway site (a config with a file source and a file sink, its own spool, a
5-line log) in a temporary directory; the one-file form unpacks into a private TMPDIR there, as
under logspool.service. `prerotate FILE` runs after one line was appended, so every call spools
exactly one record, as the hook does on a live log. The runs are interleaved (round i runs every
form and command once, the order alternating between rounds) so that a change in the machine's
load hits every cell alike. The first run of each cell is reported apart (page cache, the
bootloader's first unpack) and not in the statistics.

Columns: wall = from spawn to exit; CPU = user+sys of the child and every descendant it waited
for (the one-file bootloader waits for its Python child), from the rusage of the wait.
Exit code 0 when every run exited 0.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.e2e.conftest import write_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Cell:
    """The runs of one command on one form."""

    form: str
    command: str
    first_wall: float = 0.0
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def site(root: Path) -> tuple[Path, Path]:
    """A throwaway config and log under `root`: (config, log)."""
    (root / "tmp").mkdir(parents=True)
    log = root / "app.log"
    log.write_text("".join(f"2026-11-22T10:00:0{i}Z host=n1 SEQ={i:06d} msg=coldstart\n" for i in range(5)))
    config = root / "agent.toml"
    write_config(config, {"spool": str(root / "spool.db")},
                 [{"name": "app", "type": "file", "paths": [f"{root}/app.log*"], "format": "lines", "sinks": ["local"]}],
                 [{"name": "local", "type": "file", "path": str(root / "out.ndjson")}])
    return config, log


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, int, str]:
    """Run argv to its end: (wall s, CPU s of its tree, exit code, stderr tail)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    return wall, usage.ru_utime + usage.ru_stime, proc.returncode, err.decode(errors="replace")[-300:]


def machine() -> str:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()}: {os.cpu_count()} CPUs ({model}), {platform.system()} {platform.release()}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--onefile", type=Path, default=ROOT / "dist" / "logspool")
    p.add_argument("--onedir", type=Path, default=ROOT / "dist" / "logspool-onedir" / "logspool",
                   help="the one-dir executable (or a symlink to it)")
    p.add_argument("-n", "--runs", type=int, default=15, help="runs per form and command, after the first")
    p.add_argument("--json", type=Path, help="also write every run here")
    args = p.parse_args()
    forms = {"one-file": args.onefile, "one-dir": args.onedir}
    for name, path in forms.items():
        if not os.access(path, os.X_OK):
            p.error(f"{name}: {path} is not executable (packaging/build.sh builds both)")

    work = Path(tempfile.mkdtemp(prefix="logspool-coldstart-"))
    sites = {name: site(work / name) for name in forms}
    envs = {name: dict(os.environ, TMPDIR=str(work / name / "tmp")) for name in forms}

    def argv(form: str, command: str) -> list[str]:
        config, log = sites[form]
        if command == "prerotate":
            with log.open("a") as f:  # one new line per call, as on a live log
                f.write(f"2026-11-22T11:00:00Z host=n1 SEQ={time.time_ns()} msg=coldstart-append\n")
            return [str(forms[form]), "prerotate", str(log), "--config", str(config)]
        return [str(forms[form]), "--version"]

    cells = {(f, c): Cell(f, c) for f in forms for c in ("--version", "prerotate")}
    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    for round_no in range(args.runs + 1):
        order = list(cells) if round_no % 2 == 0 else list(reversed(cells))
        for key in order:
            cell = cells[key]
            wall, cpu, rc, err = timed(argv(*key), envs[key[0]])
            if rc != 0:
                cell.failures.append(f"exit {rc}: {err.strip()}")
            if round_no == 0:
                cell.first_wall = wall
            else:
                cell.walls.append(wall)
                cell.cpus.append(cpu)
    load_after = os.getloadavg()

    sizes = {"one-file": args.onefile.resolve().stat().st_size,
             "one-dir": sum(f.lstat().st_size for f in args.onedir.resolve().parent.rglob("*")
                            if f.is_file() and not f.is_symlink())}
    print(f"cold start, {started}, {args.runs} runs per cell (interleaved) after a first run")
    print(f"machine: {machine()}")
    print(f"load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    for name, path in forms.items():
        print(f"{name}: {path} ({sizes[name] / 1048576:.1f} MiB{' unpacked' if name == 'one-dir' else ''})")
    print()
    print(f"| {'form':<8} | {'command':<15} | wall median (min) | CPU median | first run |")
    print(f"|{'-' * 10}|{'-' * 17}|-------------------|------------|-----------|")
    for cell in cells.values():
        command = "--version" if cell.command == "--version" else "prerotate FILE"
        if cell.walls:
            wall_text = f"{statistics.median(cell.walls):.2f} s ({min(cell.walls):.2f})"
            print(f"| {cell.form:<8} | {command:<15} | {wall_text:<17} | {statistics.median(cell.cpus):.2f} s     "
                  f"| {cell.first_wall:.2f} s    |")
    print()
    worst = max(statistics.median(c.walls) for c in cells.values() if c.form == "one-dir" and c.walls)
    print(f"one-dir target < 1 s: {'met' if worst < 1 else 'MISSED'} (slowest median {worst:.2f} s)")
    failures = [f"{c.form} {c.command}: {msg}" for c in cells.values() for msg in c.failures]
    for msg in failures[:10]:
        print(f"FAILED {msg}")
    if args.json:
        args.json.write_text(json.dumps({
            "started": started, "machine": machine(), "load_before": load_before, "load_after": load_after,
            "sizes": sizes, "forms": {k: str(v) for k, v in forms.items()},
            "cells": [{"form": c.form, "command": c.command, "first_wall": c.first_wall, "walls": c.walls,
                       "cpus": c.cpus, "failures": c.failures} for c in cells.values()]}, indent=1))
    # the one-file runs leave nothing behind in TMPDIR (the bootloader removes its _MEI dir)
    leftovers = list((work / "one-file" / "tmp").iterdir())
    if leftovers:
        print(f"FAILED one-file left {len(leftovers)} entries in its TMPDIR")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if not failures and not leftovers else 1


if __name__ == "__main__":
    sys.exit(main())
