"""A backlog far beyond the spool cap, and 50,000 matching files: what `logspool run` costs.

    python benchmarks/backlog.py                      # 2,000,000 lines, spool cap 64 MiB
    python benchmarks/backlog.py --lines 200000 --cap 16MiB --down 10
    python benchmarks/backlog.py --files 50000        # many files: start-up rate, CPU per poll, churn

Backlog: the sink refuses connections while N lines arrive; the spool must stay at its cap
(`status` says reading is paused), the agent's RSS flat and its CPU near zero while it
waits (`--down` seconds, sampled from /proc). Then the receiver starts: the backlog
drains in full batches (records per request) at full speed, compared with a run whose
receiver is up from the start. Every line must arrive once by id (SEQ -> one id).

Files: N files of one line each under one glob; the time until all are delivered, then the
CPU of the agent per poll once idle, and the checkpoint rows.

The receiver is `--serve` of this script in its own process (so its JSON parsing does
not share the sampler's interpreter); it counts records per request and maps each
line's SEQ to the ids it came under.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from process_tree import tree_cpu_s as cpu_s, tree_rss_mb as rss_mb  # noqa: E402
from receiver import free_port  # noqa: E402

SEQ = re.compile(rb"SEQ=(\d+)")


# ---- the receiver process -------------------------------------------------------------------
def serve(port: int, out: Path) -> None:
    import gzip

    import orjson
    sizes: list[tuple[float, int]] = []
    ids: dict[int, set[str]] = {}
    deliveries = [0]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Content-Encoding", "").lower() == "gzip":
                body = gzip.decompress(body)
            n = 0
            for line in body.splitlines():
                if not line.strip():
                    continue
                rec = orjson.loads(line)
                m = SEQ.search(str((rec.get("data") or {}).get("message", "")).encode())
                if m:
                    ids.setdefault(int(m.group(1)), set()).add(str(rec.get("id")))
                n += 1
            deliveries[0] += n
            sizes.append((time.monotonic(), n))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True

    def dump(*_: Any) -> None:
        split = sum(1 for s in ids.values() if len(s) > 1)
        out.write_text(json.dumps({"sizes": sizes, "seqs": len(ids), "split": split,
                                   "deliveries": deliveries[0], "max_seq": max(ids) if ids else 0,
                                   "min_seq": min(ids) if ids else 0}))
        os._exit(0)

    signal.signal(signal.SIGTERM, dump)
    (out.parent / (out.name + ".ready")).write_text("1")
    server.serve_forever(0.05)


class Rx:
    def __init__(self, work: Path, port: int, name: str) -> None:
        self.out = work / f"{name}.json"
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port), str(self.out)])
        ready = work / f"{name}.json.ready"
        end = time.monotonic() + 10
        while not ready.exists() and time.monotonic() < end:
            time.sleep(0.02)

    def stop(self) -> dict[str, Any]:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        result: dict[str, Any] = json.loads(self.out.read_text())
        return result


# ---- the agent --------------------------------------------------------------------------------
def write_config(work: Path, port: int, cap: str, paths: str, extra_source: str = "",
                 extra_agent: str = "") -> Path:
    cfg = work / "agent.toml"
    cfg.write_text(f"""[agent]
spool = "{work / 'spool.db'}"
host = "bench"
poll_interval = "250ms"
spool_max_bytes = "{cap}"
{extra_agent}
[[sources]]
name = "app"
type = "file"
paths = ["{paths}"]
format = "lines"
sinks = ["rx"]
{extra_source}
[[sinks]]
name = "rx"
type = "http"
url = "http://127.0.0.1:{port}/ingest"
batch_records = 1000
retry = {{ initial = "200ms", max = "2s" }}
""")
    return cfg


def status(cfg: Path) -> dict[str, Any]:
    r = subprocess.run(["logspool", "status", "--json", "--config", str(cfg)], capture_output=True, text=True)
    return json.loads(r.stdout) if r.returncode == 0 else {}


def generate(path: Path, n: int) -> None:
    pad = "x" * 120
    with open(path, "w") as fh:
        step = 100_000
        for start in range(1, n + 1, step):
            fh.write("".join(f"2026-11-22T10:00:00Z host=n{i % 97} SEQ={i:08d} user=u{i % 500} {pad}\n"
                             for i in range(start, min(n, start + step - 1) + 1)))


def caught_up(agent_cfg: Path) -> bool:
    """The agent's backlog is empty, reading is not paused and no file is behind (from status)."""
    st = status(agent_cfg)
    return bool(st) and not st.get("paused") and st["sinks"][0]["backlog_records"] == 0 and all(
        f["behind"] == 0 for s in st["sources"] for f in s["files"])


def drain_rate(sizes: list[tuple[float, int]]) -> float:
    if len(sizes) < 2:
        return 0.0
    t0, t1 = sizes[0][0], sizes[-1][0]
    return sum(n for _, n in sizes[1:]) / max(1e-9, t1 - t0)


def backlog(args: argparse.Namespace, work: Path) -> int:
    log = work / "app.log"
    t = time.monotonic()
    generate(log, args.lines)
    print(f"generated {args.lines:,} lines, {log.stat().st_size / 1e6:.0f} MB in {time.monotonic() - t:.1f} s")
    ok = True
    results = {}
    for mode in ("down-first", "up-from-start"):
        run = work / mode
        run.mkdir()
        port = free_port()
        cfg = write_config(run, port, args.cap, str(log))
        rx: Optional[Rx] = Rx(run, port, "rx") if mode == "up-from-start" else None
        out = open(run / "agent.out", "wb")
        agent = subprocess.Popen(["logspool", "run", "--config", str(cfg)], stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        r: dict[str, Any] = {}
        try:
            if mode == "down-first":
                end = time.monotonic() + 60
                while time.monotonic() < end and not status(cfg).get("paused"):
                    time.sleep(0.5)
                st = status(cfg)
                r["paused"] = bool(st.get("paused"))
                r["pause_reason"] = st.get("pause_reason")
                cpu0, t0 = cpu_s(agent.pid), time.monotonic()
                rss, used, files = [], [], []
                while time.monotonic() - t0 < args.down:
                    rss.append(rss_mb(agent.pid))
                    st = status(cfg)
                    used.append(st.get("spool_bytes", 0))
                    spool = run / "spool.db"
                    files.append(spool.stat().st_size + (Path(str(spool) + "-wal").stat().st_size
                                                         if Path(str(spool) + "-wal").exists() else 0))
                    time.sleep(1.0)
                r["down_s"] = round(time.monotonic() - t0, 1)
                r["down_cpu_s"] = round(cpu_s(agent.pid) - cpu0, 2)
                r["rss_mb"] = (round(min(rss)), round(max(rss)))
                r["spool_used_mb"] = (round(min(used) / 2**20, 1), round(max(used) / 2**20, 1))
                r["spool_file_plus_wal_mb"] = round(max(files) / 2**20, 1)
                rx = Rx(run, port, "rx")
            t1 = time.monotonic()
            rss2: list[float] = []
            end = time.monotonic() + args.timeout
            while time.monotonic() < end:
                rss2.append(rss_mb(agent.pid))
                if caught_up(cfg):
                    break
                time.sleep(1.0)
            r["drain_wall_s"] = round(time.monotonic() - t1, 1)
            r["rss_mb_while_draining"] = (round(min(rss2)), round(max(rss2))) if rss2 else None
        finally:
            agent.send_signal(signal.SIGTERM)
            try:
                agent.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(agent.pid, signal.SIGKILL)
            out.close()
            got = rx.stop() if rx else {}
        sizes = [n for _, n in got.get("sizes", [])]
        r["requests"] = len(sizes)
        r["records_per_request_median"] = statistics.median(sizes) if sizes else 0
        r["full_batches"] = sum(1 for s in sizes if s == 1000)
        r["request_size_histogram"] = dict(sorted(Counter(
            "1000" if s == 1000 else "500-999" if s >= 500 else "100-499" if s >= 100 else "1-99"
            for s in sizes).items()))
        r["records_per_s"] = round(drain_rate(got.get("sizes", [])))
        r["deliveries"] = got.get("deliveries")
        r["lines_arrived"] = got.get("seqs")
        r["lines_under_two_ids"] = got.get("split")
        r["every_line_once_by_id"] = (got.get("seqs") == args.lines and got.get("split") == 0
                                      and got.get("min_seq") == 1 and got.get("max_seq") == args.lines)
        ok = ok and r["every_line_once_by_id"]
        results[mode] = r
        print(f"{mode}: {json.dumps(r)}", flush=True)
    return 0 if ok else 1


def poll_cost(cfg: Path) -> float:
    """CPU seconds of one idle poll over the source's files: a `FileSource.step` in a process
    of its own (on a scratch spool, reading paused), once it follows every file."""
    code = (
        "import time, sys\n"
        "from pathlib import Path\n"
        "from agent import config as cm\n"
        "from agent.pipeline import file_sources\n"
        "from spool import Spool\n"
        "c = cm.load(Path(sys.argv[1]))\n"
        "src = file_sources(c, Spool(Path(sys.argv[2])))[0]\n"
        "while True:\n"
        "    before = len(src.tracked)\n"
        "    r = src.step(16)\n"
        "    if len(src.tracked) == before and not r.bytes: break\n"
        "t = time.process_time()\n"
        "for _ in range(5): src.step(16, paused=lambda: True)\n"
        "print((time.process_time() - t) / 5)\n")
    probe = cfg.parent / "probe.db"
    r = subprocess.run([sys.executable, "-c", code, str(cfg), str(probe)], capture_output=True, text=True)
    probe.unlink(missing_ok=True)
    return float(r.stdout.strip() or "nan")


def files(args: argparse.Namespace, work: Path) -> int:
    logs = work / "many"
    logs.mkdir()
    for i in range(1, args.files + 1):
        (logs / f"f{i:06d}.log").write_text(f"2026-11-22T10:00:00Z SEQ={i:08d} one line\n")
    port = free_port()
    cfg = write_config(work, port, "1GiB", str(logs / "*.log"), extra_source='rotate_wait = "5s"',
                       extra_agent='checkpoint_ttl = "10s"')
    rx = Rx(work, port, "rx")
    out = open(work / "agent.out", "wb")
    t0 = time.monotonic()
    agent = subprocess.Popen(["logspool", "run", "--config", str(cfg)], stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True)
    r: dict[str, Any] = {}
    try:
        end = time.monotonic() + args.timeout
        while time.monotonic() < end:
            st = status(cfg)
            if st and len(st["sources"][0]["files"]) == args.files and st["sinks"][0]["backlog_records"] == 0:
                break
            time.sleep(2.0)
        r["all_delivered_s"] = round(time.monotonic() - t0, 1)
        r["files_per_s"] = round(args.files / r["all_delivered_s"])
        time.sleep(3.0)
        c0, w0 = cpu_s(agent.pid), time.monotonic()
        time.sleep(20.0)
        idle_cpu = cpu_s(agent.pid) - c0
        r["idle_cpu_s_per_20s"] = round(idle_cpu, 2)   # a poll takes longer than poll_interval here
        r["idle_cpu_cores"] = round(idle_cpu / (time.monotonic() - w0), 2)
        r["cpu_s_per_poll"] = round(poll_cost(cfg), 3)
        r["rss_mb"] = round(rss_mb(agent.pid))
        r["open_fds"] = len(os.listdir(f"/proc/{agent.pid}/fd"))
        # churn: delete a tenth, create as many; rows must come back to the number of files
        victims = sorted(logs.iterdir())[: args.files // 10]
        for p in victims:
            p.unlink()
        for i in range(args.files + 1, args.files + 1 + len(victims)):
            (logs / f"f{i:06d}.log").write_text(f"2026-11-22T10:00:00Z SEQ={i:08d} one line\n")
        t1 = time.monotonic()
        rows = -1
        while time.monotonic() < t1 + 120:
            db = sqlite3.connect(f"file:{work / 'spool.db'}?mode=ro", uri=True)
            rows = db.execute("SELECT count(*) FROM checkpoints").fetchone()[0]
            live = {p for (p,) in db.execute("SELECT path FROM checkpoints WHERE state IN ('active','rotated')")}
            db.close()
            st = status(cfg)
            # settled: the new files followed, the deleted ones pruned, nothing left to send
            if rows == args.files and live == {str(p) for p in logs.iterdir()} and st and \
                    st["sinks"][0]["backlog_records"] == 0:
                break
            time.sleep(2.0)
        r["checkpoint_rows_after_churn"] = rows
        r["churn_settled_s"] = round(time.monotonic() - t1, 1)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(60)
        out.close()
        got = rx.stop()
    total = args.files + args.files // 10
    r["every_line_once_by_id"] = got.get("seqs") == total and got.get("split") == 0
    r["too_many_variables"] = "too many SQL variables" in (work / "agent.out").read_text()
    print(json.dumps(r))
    return 0 if r["every_line_once_by_id"] and r["checkpoint_rows_after_churn"] == args.files else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lines", type=int, default=2_000_000)
    p.add_argument("--cap", default="64MiB", help="spool_max_bytes")
    p.add_argument("--down", type=float, default=20.0, help="seconds the sink stays down after the pause")
    p.add_argument("--files", type=int, default=0, help="instead: this many one-line files under one glob")
    p.add_argument("--timeout", type=float, default=900.0)
    p.add_argument("--keep", action="store_true")
    p.add_argument("--serve", nargs=2, metavar=("PORT", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        serve(int(args.serve[0]), Path(args.serve[1]))
        return 0
    work = Path(tempfile.mkdtemp(prefix="logspool-backlog-"))
    try:
        return files(args, work) if args.files else backlog(args, work)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            import shutil
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
