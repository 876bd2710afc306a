#!/usr/bin/env python3
"""Chaos harness: does every written line arrive, under one record id, whatever happens meanwhile?

Each trial builds a fresh site (benchmarks/chaos_site.py): four logs written at a fixed
rate and rotated with the real logrotate (create + compress + delaycompress, dateext,
copytruncate behind the `logspool prerotate` hook) and by LSF-style renames. Meanwhile
the real `logspool run` is SIGKILLed (its process group) at random moments, while the
endpoint holds one of its requests, the moment its spool's WAL changes (a commit being
written), and while the prerotate hook runs (sometimes the hook is killed too), and
restarted; the endpoint (tests/doubles/chaos_receiver.py) refuses
connections for a while, resets requests mid-body, answers 500, 429 with Retry-After, or
slower than the sink's timeout. With `--sql`, every line also goes to an sql sink on the
machine's MariaDB or PostgreSQL whose connections a gate cuts now and then. Then writing stops, the faults stop, the agent drains,
and the records received are compared with the lines written:

- lost: a written line that never arrived (must be 0);
- split: a line that arrived under more than one record id (must be 0: an idempotent
  sink could not absorb it);
- duplicate deliveries: deliveries of a record id beyond its first (reported; allowed);
- mangled/strays: a record whose message is not exactly a written line (must be 0).

    python benchmarks/chaos.py --trials 200 --seed 1
    python benchmarks/chaos.py --trials 40 --seed 1 --sql both   # also an sql sink (chaos_sql.py)
    python benchmarks/chaos.py --trials 1 --seed 1 --first 17 --keep   # rerun trial 17, keep its dir

Exits 1 if any trial lost a line, split one, mangled one or failed to drain.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from chaos_sql import SqlTarget, dialect_for  # noqa: E402
from chaos_site import Site, spool_totals  # noqa: E402

from tests.doubles.chaos_receiver import ChaosReceiver  # noqa: E402
from tests.e2e.conftest import Agent, logspool_command, wait_until, write_config  # noqa: E402

TOKEN = re.compile(r"SEQ=\d+-[a-z]+-\d{7}")


@dataclass
class Settings:
    """One trial's shape; the defaults are the benchmark's, CI passes a shorter `write_seconds`."""

    write_seconds: float = 4.0
    drain_timeout: float = 60.0
    fault_rate: float = 0.3
    sink_timeout: str = "1s"
    slow_seconds: float = 1.5
    batch_records: int = 50
    sql: Optional[str] = None  # none, mysql, postgresql or both (alternating): a second sink (chaos_sql.py)


@dataclass
class TrialResult:
    trial: int
    seed: int
    written: int = 0
    lost: int = 0
    split: int = 0
    mangled: int = 0
    requests: int = 0
    lines_during_hook: int = 0
    deliveries: int = 0
    duplicates: int = 0
    drained: bool = False
    kills: dict[str, int] = field(default_factory=dict)
    rotations: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)
    wall: float = 0.0
    tracebacks: int = 0  # in the agent's output: not a failure by itself, worth a look
    examples: list[str] = field(default_factory=list)
    site: str = ""
    sql: str = ""  # the database of the second sink, if any
    sql_lost: int = 0
    sql_split: int = 0
    sql_mangled: int = 0
    sql_rows: int = 0
    counted_read: int = 0       # the spool's counters: records spooled by all sources
    counted_delivered: int = 0  # ... and acknowledged by the http sink, minus its dead letters
    distinct: int = 0           # distinct record ids the receiver accepted

    @property
    def ok(self) -> bool:
        return (self.drained and self.lost == 0 and self.split == 0 and self.mangled == 0
                and self.sql_lost == 0 and self.sql_split == 0 and self.sql_mangled == 0
                and self.counters_agree)

    @property
    def counters_agree(self) -> bool:
        """The metrics' totals saw each line once read and once delivered, resends and kills aside."""
        return self.counted_read == self.written and self.counted_delivered == self.distinct

    def line(self) -> str:
        k = ", ".join(f"{n} {v}" for n, v in sorted(self.kills.items()))
        r = ", ".join(f"{n} {v}" for n, v in sorted(self.rotations.items()))
        f = ", ".join(f"{n} {v}" for n, v in sorted(self.faults.items()))
        return (f"trial {self.trial:3d} seed {self.seed}: {'ok  ' if self.ok else 'FAIL'} written {self.written} "
                f"lost {self.lost} split {self.split} mangled {self.mangled} duplicates {self.duplicates} "
                f"requests {self.requests} | counters: read {self.counted_read} delivered {self.counted_delivered} "
                f"(distinct ids {self.distinct}) "
                + (f"| {self.sql}: rows {self.sql_rows} lost {self.sql_lost} split {self.sql_split} "
                   f"mangled {self.sql_mangled} " if self.sql else "")
                + f"| kills {sum(self.kills.values())} ({k}) | rotations {r} ({self.lines_during_hook} lines written "
                f"during prerotate hooks) | faults {f} | {self.wall:.1f}s"
                + (f" | {self.tracebacks} tracebacks in the agent's output" if self.tracebacks else "")
                + (f"\n    {'; '.join(self.examples)}\n    site kept: {self.site}" if not self.ok else ""))


class Crasher:
    """Starts `logspool run` and SIGKILLs its process group; one lock so kills and restarts never race."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.lock = threading.Lock()
        self.kills: Counter[str] = Counter()

    def ensure_running(self) -> None:
        with self.lock:
            if not self.agent.alive():
                self.agent.start()

    def kill(self, kind: str) -> None:
        with self.lock:
            if self.agent.alive():
                self.agent.kill9()
                self.kills[kind] += 1


def build_site(root: Path, trial: int, rnd: random.Random, rx: ChaosReceiver, s: Settings,
               crasher_box: list[Crasher], db: Optional[SqlTarget] = None) -> tuple[Site, Agent]:
    config, spool = root / "agent.toml", root / "spool.db"

    def on_hook(pid: int) -> None:
        """While the prerotate hook runs: kill the daemon, and sometimes the hook itself."""
        time.sleep(rnd.uniform(0.0, 0.4))
        crasher_box[0].kill("during prerotate")
        if rnd.random() < 0.3:
            try:
                os.kill(pid, signal.SIGKILL)
                crasher_box[0].kills["prerotate hook itself"] += 1
            except ProcessLookupError:
                pass

    site = Site(root, trial, random.Random(rnd.random()), spool, config, logspool_command(), on_hook=on_hook)
    write_config(
        config,
        {"spool": str(spool), "host": "chaos", "log_level": "info", "poll_interval": "100ms"},
        [{"name": name, "type": "file", "paths": [glob], "format": "lines", "sinks": ["rx"] + (["db"] if db else [])}
         for name, glob in site.globs().items()],
        [{"name": "rx", "type": "http", "url": rx.url, "timeout": s.sink_timeout,
          "batch_records": s.batch_records, "retry": {"initial": "50ms", "max": "1s"}}]
        + ([db.sink("2s", s.batch_records)] if db else []))
    return site, Agent(root, config, spool, site.logs_dir / "app.log")


def chaos_loop(crasher: Crasher, rx: ChaosReceiver, rnd: random.Random, until: float) -> None:
    """Run, kill, restart until `until`: at a random moment, while the endpoint holds a request,
    or the moment the spool's WAL changes (a commit being written)."""
    while time.monotonic() < until:
        crasher.ensure_running()
        draw = rnd.random()
        if draw < 0.3:
            rx.hold()
            if rx.held.wait(min(3.0, max(0.0, until - time.monotonic()))):
                time.sleep(rnd.uniform(0.0, 0.2))
                crasher.kill("while the endpoint holds a request")
            rx.release(accept=rnd.random() < 0.5)  # stored or not: the replay decides nothing else
        elif draw < 0.5:
            time.sleep(rnd.uniform(0.3, 1.0))
            if wal_changes(Path(f"{crasher.agent.spool}-wal"), min(2.0, max(0.0, until - time.monotonic()))):
                crasher.kill("as the spool's WAL changed")
        else:
            time.sleep(rnd.uniform(0.1, 2.0))  # startup takes ~0.6 s: some kills land there
            crasher.kill("at a random moment")
        time.sleep(rnd.uniform(0.0, 0.4))


def wal_changes(wal: Path, timeout: float) -> bool:
    """Poll the WAL's size and mtime every ~1 ms; True as soon as either moves."""
    def look() -> tuple[int, int]:
        try:
            st = os.stat(wal)
            return st.st_size, st.st_mtime_ns
        except FileNotFoundError:
            return -1, -1
    before, end = look(), time.monotonic() + timeout
    while time.monotonic() < end:
        if look() != before:
            return True
        time.sleep(0.001)
    return False


def outage_loop(rx: ChaosReceiver, rnd: random.Random, stop: threading.Event) -> None:
    """Now and then the endpoint is down: connections are refused for a while."""
    while not stop.wait(rnd.uniform(0.5, 2.0)):
        if rnd.random() < 0.5:
            rx.stop()
            rx.faults["refused (down)"] += 1
            stop.wait(rnd.uniform(0.2, 1.2))
            rx.start()


def compare(result: TrialResult, written: dict[str, str], rx: ChaosReceiver) -> None:
    """Fill lost/split/mangled/duplicates from what the receiver accepted."""
    ids_of: dict[str, set[str]] = {}
    for rid, rec in rx.records().items():
        message = str((rec.get("data") or {}).get("message", "")).rstrip("\n")
        m = TOKEN.search(message)
        if m is None or written.get(m.group(0)) != message:
            result.mangled += 1
            result.examples.append(f"record {rid} is no written line: {message[:120]!r}")
            continue
        ids_of.setdefault(m.group(0), set()).add(rid)
    lost = sorted(set(written) - ids_of.keys())
    split = {t: ids for t, ids in ids_of.items() if len(ids) > 1}
    result.lost, result.split = len(lost), len(split)
    if lost:
        result.examples.append(f"lost e.g. {lost[:5]}")
    if split:
        result.examples.append(f"split e.g. {sorted(split.items())[:2]}")
    counts = rx.id_counts()
    result.deliveries = sum(counts.values())
    result.requests = len(rx.requests())
    result.duplicates = result.deliveries - len(counts)


def run_trial(trial: int, seed: int, workdir: Path, s: Optional[Settings] = None, keep: bool = False) -> TrialResult:
    """One trial in a fresh directory under `workdir` (removed unless it failed or `keep`)."""
    s = s or Settings()
    trial_seed = seed * 100_003 + trial
    rnd = random.Random(trial_seed)
    result = TrialResult(trial, trial_seed)
    root = workdir / f"trial-{trial_seed}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    started = time.monotonic()
    rx = ChaosReceiver(seed=rnd.randrange(1 << 30), fault_rate=s.fault_rate, slow_seconds=s.slow_seconds)
    box: list[Crasher] = []
    dialect = dialect_for(s.sql, trial)
    db = SqlTarget(dialect) if dialect else None
    site, agent = build_site(root, trial, rnd, rx, s, box, db)
    crasher = Crasher(agent)
    box.append(crasher)
    stop_outages = threading.Event()
    outages = threading.Thread(target=outage_loop, args=(rx, random.Random(rnd.random()), stop_outages), daemon=True)
    db_outages = threading.Thread(target=db.outage_loop, args=(random.Random(rnd.random()), stop_outages),
                                  daemon=True) if db else None
    try:
        site.start()
        outages.start()
        if db_outages:
            db_outages.start()
        chaos_loop(crasher, rx, random.Random(rnd.random()), time.monotonic() + s.write_seconds)
        site.stop()
        stop_outages.set()
        outages.join()
        if db_outages:
            db_outages.join()
        rx.calm()
        crasher.ensure_running()
        written = site.written()
        result.written = len(written)
        want = set(written)
        result.drained = wait_until(lambda: received_tokens(rx) >= want and (db is None or db.tokens(TOKEN) >= want),
                                    s.drain_timeout, step=0.2)
        time.sleep(0.3)  # a late duplicate would land now
        compare(result, written, rx)
        result.distinct = len(rx.id_counts())
        wait_until(lambda: spool_totals(agent.spool)[1] >= result.distinct, 10, step=0.2)  # acks trail receipts
        result.counted_read, result.counted_delivered = spool_totals(agent.spool)
        if not result.counters_agree:
            result.examples.append(f"counters: read {result.counted_read} of {result.written} lines, delivered "
                                   f"{result.counted_delivered} of {result.distinct} distinct ids received")
        if db:
            result.sql = db.dialect
            result.sql_lost, result.sql_split, result.sql_mangled, result.sql_rows = db.judge(
                written, TOKEN, result.examples.append)
        if not result.drained:
            result.examples.append(f"not drained in {s.drain_timeout}s: {agent.output_tail(1500)!r}")
    finally:
        with crasher.lock:
            agent.kill9()
        stop_outages.set()
        rx.stop()
        if db:
            result.faults = dict(db.faults)
            db.close()
    result.kills = dict(crasher.kills)
    result.tracebacks = agent.output_tail(1 << 30).count("Traceback")
    result.rotations = dict(site.rotations)
    result.lines_during_hook = site.lines_during_hook
    result.faults = {**result.faults, **rx.faults}
    result.wall = time.monotonic() - started
    result.site = str(root)
    if result.ok and not keep:
        shutil.rmtree(root, ignore_errors=True)
    return result


def received_tokens(rx: ChaosReceiver) -> set[str]:
    out = set()
    for rec in rx.records().values():
        m = TOKEN.search(str((rec.get("data") or {}).get("message", "")))
        if m:
            out.add(m.group(0))
    return out


def summary(results: list[TrialResult], wall: float) -> dict[str, Any]:
    def total(key: str) -> dict[str, int]:
        c: Counter[str] = Counter()
        for r in results:
            c.update(getattr(r, key))
        return dict(sorted(c.items()))
    return {
        "trials": len(results), "failed_trials": sum(not r.ok for r in results),
        "lines_written": sum(r.written for r in results), "lost": sum(r.lost for r in results),
        "lines_under_several_ids": sum(r.split for r in results), "mangled": sum(r.mangled for r in results),
        "sql_trials": Counter(r.sql for r in results if r.sql), "sql_rows": sum(r.sql_rows for r in results),
        "sql_lost": sum(r.sql_lost for r in results), "sql_split": sum(r.sql_split for r in results),
        "sql_mangled": sum(r.sql_mangled for r in results),
        "counted_read": sum(r.counted_read for r in results),
        "counted_delivered": sum(r.counted_delivered for r in results),
        "distinct_ids_received": sum(r.distinct for r in results),
        "deliveries": sum(r.deliveries for r in results), "duplicate_deliveries": sum(r.duplicates for r in results),
        "not_drained": sum(not r.drained for r in results),
        "agent_tracebacks": sum(r.tracebacks for r in results),
        "kills": sum(sum(r.kills.values()) for r in results), "kills_by_kind": total("kills"),
        "rotations": total("rotations"), "lines_during_hook": sum(r.lines_during_hook for r in results),
        "faults": total("faults"),
        "wall_s": round(wall, 1),
    }


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--first", type=int, default=0, help="number of the first trial (to rerun one)")
    p.add_argument("--seconds", type=float, default=Settings.write_seconds, help="writing time per trial")
    p.add_argument("--workdir", type=Path, help="where trial directories go (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep every trial's directory")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--sql", choices=("none", "mysql", "postgresql", "both"), default="none",
                   help="also route every line to an sql sink (profile records) on the machine's MariaDB/PostgreSQL, "
                        "behind a gate that cuts its connections now and then (both: alternate by trial)")
    a = p.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so run_trial's cleanup kills the agent it started
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = a.workdir or Path(tempfile.mkdtemp(prefix="logspool-chaos-"))
    workdir.mkdir(parents=True, exist_ok=True)
    settings = Settings(write_seconds=a.seconds, sql=a.sql)
    started = time.monotonic()
    results = []
    for trial in range(a.first, a.first + a.trials):
        r = run_trial(trial, a.seed, workdir, settings, keep=a.keep)
        results.append(r)
        print(r.line(), flush=True)
        if not r.ok:
            print(f"    rerun: python benchmarks/chaos.py --trials 1 --seed {a.seed} --first {trial} "
                  f"--seconds {a.seconds} --keep", flush=True)
    s = summary(results, time.monotonic() - started)
    if a.json:
        print(json.dumps(s, indent=2))
    else:
        print(f"\n{s['trials']} trials, {s['lines_written']} lines written, lost {s['lost']}, "
              f"lines under >1 id {s['lines_under_several_ids']}, mangled {s['mangled']}, "
              f"duplicate deliveries {s['duplicate_deliveries']} (of {s['deliveries']}), "
              f"counters: read {s['counted_read']}, delivered {s['counted_delivered']} "
              f"(distinct ids received {s['distinct_ids_received']}), "
              + (f"sql trials {dict(s['sql_trials'])}: rows {s['sql_rows']}, lost {s['sql_lost']}, "
                 f"lines under >1 id {s['sql_split']}, mangled {s['sql_mangled']}, " if s['sql_trials'] else "")
              + f"not drained {s['not_drained']}, agent tracebacks {s['agent_tracebacks']}, kills {s['kills']} {s['kills_by_kind']}, "
              f"rotations {s['rotations']} ({s['lines_during_hook']} lines written during prerotate hooks), faults {s['faults']}, wall {s['wall_s']}s")
    if not a.workdir and not any(not r.ok for r in results) and not a.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if s["failed_trials"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
