"""One chaos site: log files written at a fixed rate and rotated the ways README's Rotation table claims.

Every line carries a token `SEQ=<trial>-<file>-<n>` that no other line carries, so what
the receiver gets maps back to exactly one written line. The writers behave as services
do: `app.log` and `web.log` keep their file open across a logrotate `create` rename and
reopen afterwards (lines written in between land in the renamed generation, which the agent
must finish through its handle); `svc.log` is rotated by `copytruncate` behind the
`logspool prerotate` hook: its writer goes on while the hook runs (those lines are in the
copy, past the offset the hook committed, and must be read from it) and is held still
only from the hook's end until logrotate has copied and truncated, because lines written
in that window are lost to everyone (packaging/logrotate.example says so);
`lsb.events` is renamed down a chain lsb.events -> .1 -> .2 ... by the writer itself, as
LSF's mbatchd does.

A rotation that would compress or delete a generation waits until the agent has spooled
that generation to its end (`fully_read`): on a real site a day passes between two
rotations, and `delaycompress` exists so an agent gets that day. A generation that is
still unread at rotation time defers the rotation (counted), never the check.
"""
from __future__ import annotations

import os
import random
import shlex
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Optional, TextIO

import apsw

from spool import Spool, SpoolError, counters

LOGROTATE = "/usr/sbin/logrotate"

#: name -> (how it is rotated, the logrotate directives if logrotate does it)
FILES: dict[str, tuple[str, str]] = {
    "app.log": ("create", "rotate 4\ncreate\ncompress\ndelaycompress\nmissingok"),
    "web.log": ("dateext", "rotate 4\ncreate\ndateext\ndateformat -%Y%m%d-%H%M%S\ncompress\ndelaycompress\nmissingok"),
    "svc.log": ("copytruncate", "rotate 3\ncopytruncate\nmissingok\nprerotate\n    {hook} \"$1\"\nendscript"),
    "lsb.events": ("lsf", ""),
}
COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".zip")


def source_name(file: str) -> str:
    return file.split(".")[0]


class LogFile:
    """One log and its writer's open handle; `lock` holds the writer still."""

    def __init__(self, path: Path, trial: int) -> None:
        self.path = path
        self.name = path.name
        self.prefix = f"SEQ={trial}-{source_name(self.name)}-"
        self.lock = threading.Lock()
        self.next = 1
        self.written: dict[str, str] = {}  # token -> the exact line
        self.fh: TextIO = open(path, "a")
        self.last_rotation = 0.0

    def write(self, count: int) -> None:
        with self.lock:
            out = []
            for _ in range(count):
                token = f"{self.prefix}{self.next:07d}"
                line = f"2026-11-22T10:00:00Z host=n1 {token} msg=\"chaos payload\""
                self.written[token] = line
                out.append(line + "\n")
                self.next += 1
            self.fh.write("".join(out))
            self.fh.flush()

    def reopen(self) -> None:
        """The service's reopen after rotation (logrotate's postrotate, or mbatchd's switch)."""
        self.fh.close()
        self.fh = open(self.path, "a")

    def generations(self) -> list[Path]:
        """Rotated generations the agent must read: same prefix, not the live file, not compressed."""
        return sorted(p for p in self.path.parent.glob(self.name + "*")
                      if p != self.path and not p.name.endswith(COMPRESSED))

    def close(self) -> None:
        self.fh.close()


def fully_read(spool: Path, source: str, paths: list[Path]) -> bool:
    """Whether the spool's checkpoints cover every byte of `paths` (by device and inode)."""
    if not paths:
        return True
    try:
        db = apsw.Connection(str(spool), flags=apsw.SQLITE_OPEN_READONLY)
    except apsw.Error:
        return False
    try:
        db.set_busy_timeout(2000)
        for p in paths:
            try:
                st = os.stat(p)
            except FileNotFoundError:
                continue
            row = db.execute("SELECT MAX(offset) FROM checkpoints WHERE source=? AND dev=? AND ino=?",
                             (source, st.st_dev, st.st_ino)).fetchone()
            if row is None or row[0] is None or row[0] < st.st_size:
                return False
        return True
    except apsw.Error:
        return False
    finally:
        db.close()


def spool_totals(spool: Path) -> tuple[int, int]:
    """(records read by all sources, records delivered to `rx`) as the metrics endpoint counts them."""
    try:
        sp = Spool(spool, readonly=True)
    except SpoolError:
        return 0, 0
    try:
        t = counters.read(sp.db)
    finally:
        sp.close()
    read = sum(v for (scope, _name, c), v in t.items() if scope == "source" and c == "records")
    return int(read), int(t.get(("sink", "rx", "handled"), 0) - t.get(("sink", "rx", "dead_lettered"), 0))


class Site:
    """The log directory, the logrotate configs and the threads that write and rotate."""

    def __init__(self, root: Path, trial: int, rnd: random.Random, spool: Path, config: Path,
                 logspool: list[str], burst: tuple[int, int] = (1, 4), tick: float = 0.02,
                 rotate_every: tuple[float, float] = (0.3, 1.0),
                 on_hook: Optional[Callable[[int], None]] = None) -> None:
        self.root, self.rnd, self.spool, self.config = root, rnd, spool, config
        self.logs_dir = root / "logs"
        self.logs_dir.mkdir(parents=True)
        self.burst, self.tick, self.rotate_every = burst, tick, rotate_every
        self.on_hook = on_hook
        self.files = {name: LogFile(self.logs_dir / name, trial) for name in FILES}
        self.rotations: Counter[str] = Counter()
        self.lines_during_hook = 0  # svc.log lines written while `logspool prerotate` ran: only the copy has them
        self.hook_pid, self.hook_done, self.hook_go = root / "hook.pid", root / "hook.done", root / "hook.go"
        hook = root / "prerotate.sh"
        q = shlex.quote
        # the hook runs `logspool prerotate` (its pid published, so it can be killed), then says so
        # and waits for the harness to hold the writer still before logrotate copies
        hook.write_text(
            f"#!/bin/sh\n{shlex.join(logspool)} prerotate \"$1\" --config {q(str(config))} &\n"
            f"echo $! > {q(str(self.hook_pid))}\nwait $! || exit $?\ntouch {q(str(self.hook_done))}\n"
            f"while [ ! -e {q(str(self.hook_go))} ]; do sleep 0.01; done\n")
        hook.chmod(0o755)
        for name, (_, directives) in FILES.items():
            if directives:
                (root / f"{name}.logrotate").write_text(
                    f"{self.logs_dir / name} {{\n{directives.format(hook=hook)}\n}}\n")
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._guard(self._rotate_loop), daemon=True)] + [
            threading.Thread(target=self._guard(self._write_loop), args=(f, random.Random(rnd.random())), daemon=True)
            for f in self.files.values()]  # one writer each: a log held still for copytruncate holds no other
        self.errors: list[BaseException] = []

    def globs(self) -> dict[str, str]:
        """Source name -> its glob (the live file and every rotated name)."""
        return {source_name(n): str(self.logs_dir / n) + "*" for n in FILES}

    def written(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for f in self.files.values():
            with f.lock:
                out.update(f.written)
        return out

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        """Stop writing and rotating; a thread that died is an error of the trial."""
        self._stop.set()
        for t in self._threads:
            t.join()
        for f in self.files.values():
            f.close()
        if self.errors:
            raise self.errors[0]

    def _guard(self, loop: Callable[..., None]) -> Callable[..., None]:
        def run(*args: object) -> None:
            try:
                loop(*args)
            except BaseException as e:  # surfaced by stop()
                self.errors.append(e)
        return run

    def _write_loop(self, f: LogFile, rnd: random.Random) -> None:
        while not self._stop.is_set():
            f.write(rnd.randint(*self.burst))
            time.sleep(self.tick)

    def _rotate_loop(self) -> None:
        rnd = random.Random(self.rnd.random())
        while not self._stop.wait(rnd.uniform(*self.rotate_every)):
            self.rotate(rnd.choice(sorted(self.files)), rnd)

    # -- rotations ------------------------------------------------------------------
    def rotate(self, name: str, rnd: random.Random) -> None:
        f, mode = self.files[name], FILES[name][0]
        if mode == "dateext" and time.time() - f.last_rotation < 1.1:
            return  # the generation's name has 1 s resolution
        if mode != "lsf" and not self._wait_read(f):
            self.rotations[f"{mode} deferred (older generation unread)"] += 1
            return
        if mode == "lsf":
            with f.lock:
                gens = sorted((int(p.name.rsplit(".", 1)[1]) for p in f.generations()), reverse=True)
                for k in gens:
                    os.rename(f"{f.path}.{k}", f"{f.path}.{k + 1}")
                os.rename(f.path, f"{f.path}.1")
                f.reopen()
            self.rotations[mode] += 1
            return
        if mode == "copytruncate":
            ok = self._logrotate(name, f, watch_hook=rnd.random() < 0.5)
        else:
            ok = self._logrotate(name, None, watch_hook=False)  # the writer goes on, into the renamed file
            with f.lock:
                f.reopen()
        f.last_rotation = time.time()
        self.rotations[mode if ok else f"{mode} refused by the prerotate hook (it was killed)"] += 1

    def _wait_read(self, f: LogFile, timeout: float = 1.5) -> bool:
        end = time.monotonic() + timeout
        while True:
            if fully_read(self.spool, source_name(f.name), f.generations()):
                return True
            if time.monotonic() > end or self._stop.is_set():
                return False
            time.sleep(0.05)

    def _logrotate(self, name: str, hold: Optional[LogFile], watch_hook: bool) -> bool:
        """Run logrotate for `name`; with `hold`, hold that file's writer from the hook's end
        until logrotate is done (the copy-to-truncate window); `watch_hook` hands the hook's
        pid to `on_hook` while it runs."""
        for p in (self.hook_pid, self.hook_done, self.hook_go):
            p.unlink(missing_ok=True)
        proc = subprocess.Popen([LOGROTATE, "-f", "-s", str(self.root / "logrotate.state"),
                                 str(self.root / f"{name}.logrotate")],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            if watch_hook and self.on_hook:
                while proc.poll() is None and not self.hook_pid.exists():
                    time.sleep(0.005)
                pid = self._hook_pid()
                if pid and proc.poll() is None:
                    self.on_hook(pid)
            if hold is not None:
                first = hold.next
                while proc.poll() is None and not self.hook_done.exists():
                    time.sleep(0.005)
                with hold.lock:
                    self.lines_during_hook += hold.next - first
                    self.hook_go.touch()
                    out, _ = proc.communicate(timeout=120)
            else:
                out, _ = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if proc.returncode != 0 and "prerotate" not in out:
            raise RuntimeError(f"logrotate {name} exited {proc.returncode}: {out}")
        return proc.returncode == 0

    def _hook_pid(self) -> int:
        for _ in range(20):
            try:
                return int(self.hook_pid.read_text().strip())
            except (FileNotFoundError, ValueError):
                time.sleep(0.005)
        return 0
