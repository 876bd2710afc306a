"""The chaos harness, short: kills, rotations and endpoint and database faults lose no line and split none.

Runs benchmarks/chaos.py's own trial (not a copy of it) for $LOGSPOOL_CHAOS_TRIALS trials
(default 20) of $LOGSPOOL_CHAOS_SECONDS of writing each, seeded by $LOGSPOOL_CHAOS_SEED;
a failure prints the command that reruns the failing trial and keeps its directory.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

TRIALS = int(os.environ.get("LOGSPOOL_CHAOS_TRIALS", "20"))
SECONDS = float(os.environ.get("LOGSPOOL_CHAOS_SECONDS", "1.0"))
SEED = int(os.environ.get("LOGSPOOL_CHAOS_SEED", "20261122"))


def load_chaos() -> Any:
    """benchmarks/chaos.py (the benchmarks are scripts, not a package)."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "chaos.py"
    spec = importlib.util.spec_from_file_location("chaos", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["chaos"] = module
    spec.loader.exec_module(module)
    return module


def test_chaos_trials_lose_no_line_and_deliver_each_under_one_id(tmp_path: Path) -> None:
    chaos = load_chaos()
    # a shorter sink timeout (and slow answers just past it) keeps each trial near 3 s
    # every line also goes to an sql sink, MariaDB and PostgreSQL in turn, whose connections are cut now and then
    settings = chaos.Settings(write_seconds=SECONDS, drain_timeout=45.0, sink_timeout="500ms", slow_seconds=0.8,
                              sql="both")
    results = [chaos.run_trial(trial, SEED, tmp_path, settings) for trial in range(TRIALS)]
    failed = [r for r in results if not r.ok]
    report = "\n".join(r.line() for r in failed)
    rerun = [f"LOGSPOOL_CHAOS_SEED={SEED} python benchmarks/chaos.py --seed {SEED} --trials 1 --first {r.trial} "
             f"--seconds {SECONDS} --keep" for r in failed]
    assert failed == [], f"seed {SEED}: {len(failed)} of {TRIALS} trials failed\n{report}\n" + "\n".join(rerun)
    assert sum(r.written for r in results) > 0
    assert {r.sql for r in results} == {"mysql", "postgresql"}
    assert sum(r.sql_rows for r in results) == sum(r.written for r in results)  # each line one row, by id
    # the trials did what they claim: the agent was killed and the files were rotated in most of them
    assert sum(bool(r.kills) for r in results) >= TRIALS // 2, [r.kills for r in results]
    rotated = [sum(n for k, n in r.rotations.items() if "deferred" not in k) for r in results]
    assert sum(n > 0 for n in rotated) >= TRIALS // 2, rotated
