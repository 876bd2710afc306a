"""How long `logspool prerotate FILE` takes while the daemon is busy on the same file.

    python benchmarks/prerotate_bound.py                 # 50 calls
    python benchmarks/prerotate_bound.py --calls 20 --burst 400

A `logspool run` tails app.log into a receiver that answers every request 50 ms late
(a slow sink: the spool fills); a writer appends `--burst` lines every 5 ms; prerotate
is called `--calls` times in a row. Prints p50/p99/max of its wall time (process start
included) and checks at the end that every line arrived once by id.

Reuses the end-to-end fixtures (tests/e2e/conftest.py), so run it from the repository.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.doubles.http_receiver import HttpReceiver  # noqa: E402
from tests.e2e.conftest import Agent, Lines, wait_delivered, write_config  # noqa: E402
from tests.e2e.test_limits_prerotate import prerotate_times, slow  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calls", type=int, default=50)
    p.add_argument("--burst", type=int, default=100, help="lines appended every 5 ms")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="logspool-prerotate-"))
    rx = HttpReceiver(plan=slow)
    cfg, spool = work / "agent.toml", work / "spool.db"
    write_config(cfg, {"spool": str(spool), "host": "bench", "poll_interval": "100ms"},
                 [{"name": "app", "type": "file", "paths": [str(work / "app.log*")], "format": "lines",
                   "sinks": ["rx"]}],
                 [{"name": "rx", "type": "http", "url": rx.url, "retry": {"initial": "100ms", "max": "1s"}}])
    agent = Agent(work, cfg, spool, work / "app.log")
    lines = Lines(work / "app.log")
    lines.write(1000)
    agent.start()
    try:
        times = sorted(prerotate_times(agent, lines, args.calls, args.burst))
        rx.plan = None
        report = wait_delivered(rx, lines.written, timeout=600)
    finally:
        agent.kill9()
        rx.stop()
    p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
    print(f"prerotate x{len(times)} while busy ({len(lines.written):,} lines written at "
          f"{args.burst} per 5 ms): p50 {statistics.median(times):.2f} s, p99 {p99:.2f} s, max {times[-1]:.2f} s")
    print("every line once by id" if not report else f"DELIVERY PROBLEM: {report}")
    return 0 if not report else 1


if __name__ == "__main__":
    sys.exit(main())
