"""Rotation as sites do it, with the real logrotate binary: every line still arrives exactly once.

Covers `create`, `copytruncate` behind a `logspool prerotate` hook, `compress` with
`delaycompress`, plain truncation, inode reuse and rotation while the agent is down, a
partial last line, and `prerotate` racing the daemon over the same file.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from tests.doubles.http_receiver import HttpReceiver
from tests.e2e.conftest import Agent, Lines, Writer, logspool_command, wait_delivered, wait_until

pytestmark = pytest.mark.e2e

LOGROTATE = "/usr/sbin/logrotate"


def logrotate(agent: Agent, directives: str) -> None:
    """`logrotate -f -s <state> <conf>` for the site's app.log, which must succeed."""
    conf = agent.dir / "logrotate.conf"
    conf.write_text(f"{agent.log} {{\n{directives}\n}}\n")
    r = subprocess.run([LOGROTATE, "-f", "-s", str(agent.dir / "logrotate.state"), str(conf)],
                       capture_output=True, text=True, timeout=60, env=agent.env)
    assert r.returncode == 0, f"logrotate exited {r.returncode}: {r.stderr}"


def rotate_while_writing(agent: Agent, lines: Lines, rx: HttpReceiver, directives: str, times: int) -> None:
    """Rotate `times` times while a writer keeps appending; wait for the readers between rotations
    so no generation is deleted (rotate 3) or compressed before the agent could read it."""
    with Writer(lines) as writer:
        for _ in range(times):
            with writer.paused():
                before = len(lines.written)
                logrotate(agent, directives)
            caught_up = wait_until(lambda: len(rx.unique_ids()) >= before, 20)
            assert caught_up, f"{len(rx.unique_ids())} of {before} lines arrived; agent alive: {agent.alive()}"
            wait_until(lambda: len(lines.written) >= before + 300, 5)


def test_create_rotations_while_writing_deliver_every_line_once(
        agent: Agent, lines: Lines, receiver: HttpReceiver) -> None:
    lines.write(200)
    agent.start()
    rotate_while_writing(agent, lines, receiver, "rotate 3\ncreate\nmissingok", times=4)
    assert sorted(p.name for p in agent.dir.glob("app.log*")) == ["app.log", "app.log.1", "app.log.2", "app.log.3"]
    assert wait_delivered(receiver, lines.written) == ""


def test_copytruncate_behind_a_prerotate_hook_delivers_every_line_once(
        agent: Agent, lines: Lines, receiver: HttpReceiver) -> None:
    hook = shlex.join([*logspool_command(), "prerotate", str(agent.log), "--config", str(agent.config)])
    lines.write(200)
    agent.start()
    rotate_while_writing(agent, lines, receiver,
                         f"rotate 3\ncopytruncate\nsharedscripts\nprerotate\n    {hook}\nendscript", times=3)
    assert wait_delivered(receiver, lines.written) == ""


def test_compressed_generations_are_not_read_and_nothing_is_lost(
        agent: Agent, lines: Lines, receiver: HttpReceiver) -> None:
    lines.write(200)
    agent.start()
    rotate_while_writing(agent, lines, receiver, "rotate 3\ncreate\ncompress\ndelaycompress", times=4)
    assert {"app.log.1", "app.log.2.gz", "app.log.3.gz"} <= {p.name for p in agent.dir.iterdir()}
    assert wait_delivered(receiver, lines.written) == ""


def test_truncation_to_zero_then_more_lines_delivers_the_new_lines(
        agent: Agent, lines: Lines, receiver: HttpReceiver) -> None:
    lines.write(300)
    agent.start()
    assert wait_delivered(receiver, lines.written) == ""
    os.truncate(agent.log, 0)
    lines.write(100)
    assert wait_delivered(receiver, lines.written) == ""


def recreate_on_the_same_inode(path: Path, last_chance: bool) -> bool:
    """Delete `path` and create it anew, hoping ext4 hands back the freed inode.

    Another process may take it first; then the caller reads the new file and tries again.
    On the last chance (and on tmpfs, which never reuses) the file is emptied in place
    instead: the agent sees the same thing, its (device, inode) with other content.
    """
    if last_chance:
        os.truncate(path, 0)
        return True
    old = os.stat(path).st_ino
    for _ in range(20):
        path.unlink()
        path.touch()
        if os.stat(path).st_ino == old:
            return True
        time.sleep(0.01)
    return False


def test_inode_reused_by_a_new_file_while_down_delivers_its_whole_content(
        agent: Agent, lines: Lines, receiver: HttpReceiver) -> None:
    lines.write(100)
    agent.start()
    for attempt in range(3):
        assert wait_delivered(receiver, lines.written) == ""
        assert agent.term() == 0
        old_inode = os.stat(agent.log).st_ino
        if recreate_on_the_same_inode(agent.log, last_chance=attempt == 2):
            break
        lines.write(100)
        agent.start()
    assert os.stat(agent.log).st_ino == old_inode
    lines.write(300)  # longer than the old file: trusting the inode alone would skip its start
    agent.start()
    assert wait_delivered(receiver, lines.written) == ""


def test_rotation_while_down_finishes_the_rotated_file_and_reads_the_new_one(
        agent: Agent, lines: Lines, receiver: HttpReceiver) -> None:
    lines.write(300)
    agent.start()
    assert wait_delivered(receiver, lines.written) == ""
    agent.kill9()
    lines.write(200)
    agent.log.rename(agent.dir / "app.log.1")
    lines.write(300)
    agent.start()
    assert wait_delivered(receiver, lines.written) == ""


def test_partial_last_line_is_delivered_once_and_whole_after_its_newline(
        agent: Agent, lines: Lines, receiver: HttpReceiver) -> None:
    lines.write(100)
    agent.start()
    assert wait_delivered(receiver, lines.written) == ""
    whole = Lines.text(lines.next)
    with open(agent.log, "a") as fh:
        fh.write(whole[:45])
    assert not wait_until(lambda: len(receiver.unique_ids()) > 100, 1.0), "a line without newline was sent"
    with open(agent.log, "a") as fh:
        fh.write(whole[45:] + "\n")
    lines.written.add(lines.next)
    lines.next += 1
    lines.write(50)
    assert wait_delivered(receiver, lines.written) == ""
    assert Lines.text(101) in [r["data"]["message"].rstrip("\n") for r in receiver.records().values()]


def test_prerotate_racing_the_daemon_neither_loses_nor_repeats_a_record(
        agent: Agent, lines: Lines, receiver: HttpReceiver) -> None:
    lines.write(200)
    agent.start()
    with Writer(lines, burst=50):
        for _ in range(4):
            r = agent.cli("prerotate", str(agent.log))
            assert r.returncode == 0, f"logspool prerotate exited {r.returncode}: {r.stderr}"
    assert wait_delivered(receiver, lines.written) == ""
    repeated = {i: n for i, n in receiver.id_counts().items() if n > 1}
    assert repeated == {}, f"{len(repeated)} ids delivered more than once"
