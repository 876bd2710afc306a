"""A command run in its own session, with the CPU time and peak memory of its whole process tree.

`logspool run` and `backfill` fork the drains into a child process, so the CPU and
memory of the parent alone would hide half the work. Two sources are combined:

* while it runs, /proc is sampled (every `sample()`): utime+stime of every live
  process in the tree (plus cutime+cstime, which holds children already reaped) and
  each process's VmHWM (peak RSS), parent and children kept apart;
* when the leader exits, os.wait4 gives its rusage, which includes every descendant
  it waited for (the drain child is waited for by `logspool`), so the final CPU figure
  does not depend on the sampling rate.

Linux only (/proc, /proc/PID/task/TID/children).
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class ProcSample:
    cpu_s: float      # utime + stime + cutime + cstime
    hwm_kb: int       # VmHWM


@dataclass
class TreeStats:
    cpu_s: float = 0.0                 # whole tree
    parent_hwm_kb: int = 0
    child_hwm_kb: int = 0              # the largest of the descendants
    child_cpu_s: float = 0.0           # descendants, as last sampled (a dead one: up to one step short)
    children_seen: int = 0


def read_proc(pid: int) -> Optional[ProcSample]:
    """utime+stime(+children reaped) and VmHWM of one process, None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
        status = Path(f"/proc/{pid}/status").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat[stat.rindex(b")") + 2:].split()   # after "pid (comm) "; field 3 is fields[0]
    ticks = sum(int(x) for x in fields[11:15])      # utime stime cutime cstime (fields 14-17)
    hwm = 0
    for line in status.splitlines():
        if line.startswith(b"VmHWM:"):
            hwm = int(line.split()[1])
            break
    return ProcSample(ticks / CLK_TCK, hwm)


def descendants(pid: int) -> list[int]:
    """Every live descendant of `pid` (children of all its threads, recursively)."""
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:   # gone (ENOENT, or ESRCH while it exits)
            continue
        for tid in tids:
            try:
                kids = Path(f"/proc/{p}/task/{tid}/children").read_text().split()
            except OSError:
                continue
            for k in kids:
                out.append(int(k))
                todo.append(int(k))
    return out


def tree_cpu_s(root: int) -> float:
    """utime+stime of `root` and its live descendants now, in seconds (children already reaped
    not included: the figure is for "what does the agent spend while it waits", read twice)."""
    total = 0
    for pid in [root, *descendants(root)]:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def tree_rss_mb(root: int) -> float:
    """VmRSS summed over `root` and its live descendants, in MB (now, not the peak)."""
    total = 0
    for pid in [root, *descendants(root)]:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


@dataclass
class Tree:
    """A running command in a new session (so the whole group can be signalled)."""

    cmd: list[str]
    cwd: Path
    log: Path
    proc: subprocess.Popen[bytes] = field(init=False)
    t0: float = field(init=False)            # time.time() just before the exec
    t_exit: Optional[float] = None
    exit_code: Optional[int] = None
    rusage_cpu_s: Optional[float] = None
    rusage_maxrss_kb: Optional[int] = None
    _peak: dict[int, int] = field(default_factory=dict)   # pid -> VmHWM kB seen
    _cpu: dict[int, float] = field(default_factory=dict)  # pid -> CPU s when last seen
    _waiter: Optional[threading.Thread] = None

    def start(self) -> "Tree":
        with open(self.log, "ab") as log:
            self.t0 = time.time()
            self.proc = subprocess.Popen(self.cmd, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        # a blocking wait4 in a thread stamps the exit time exactly, without a busy poll
        self._waiter = threading.Thread(target=self._wait, daemon=True)
        self._waiter.start()
        return self

    def _wait(self) -> None:
        _, status, ru = os.wait4(self.proc.pid, 0)
        self.t_exit = time.time()
        self.exit_code = os.waitstatus_to_exitcode(status)
        self.proc.returncode = self.exit_code     # so Popen never waits on a reaped pid
        self.rusage_cpu_s = ru.ru_utime + ru.ru_stime
        self.rusage_maxrss_kb = ru.ru_maxrss

    def running(self) -> bool:
        return self.t_exit is None

    def sample(self) -> TreeStats:
        """CPU of the live tree now; peak RSS so far (kept per pid across samples)."""
        st = TreeStats()
        if not self.running():
            return self.final()
        pids = [self.proc.pid] + descendants(self.proc.pid)
        for pid in pids:
            s = read_proc(pid)
            if s is None:
                continue
            st.cpu_s += s.cpu_s
            self._cpu[pid] = s.cpu_s
            self._peak[pid] = max(self._peak.get(pid, 0), s.hwm_kb)
        return self._fill_rss(st)

    def _fill_rss(self, st: TreeStats) -> TreeStats:
        st.parent_hwm_kb = self._peak.get(self.proc.pid, 0)
        kids = [v for p, v in self._peak.items() if p != self.proc.pid]
        st.child_hwm_kb = max(kids, default=0)
        st.children_seen = len(kids)
        st.child_cpu_s = sum(v for p, v in self._cpu.items() if p != self.proc.pid)
        return st

    def final(self) -> TreeStats:
        """After exit: rusage CPU of the tree; RSS from the samples (at least wait4's maxrss)."""
        assert self.t_exit is not None
        st = self._fill_rss(TreeStats(cpu_s=self.rusage_cpu_s or 0.0))
        if not st.parent_hwm_kb and not st.child_hwm_kb:
            st.parent_hwm_kb = self.rusage_maxrss_kb or 0
        return st

    def wait(self, timeout: float, step: float = 0.05) -> bool:
        """Sample until exit or `timeout` s; True when it exited."""
        end = time.monotonic() + timeout
        while self.running() and time.monotonic() < end:
            self.sample()
            time.sleep(step)
        if self._waiter is not None:
            self._waiter.join(0.5)
        return not self.running()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> float:
        """Signal the whole group, wait (SIGKILL after `timeout`); seconds it took to exit."""
        t = time.time()
        if self.running():
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            if not self.wait(timeout):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.wait(5.0)
        return (self.t_exit or time.time()) - t
