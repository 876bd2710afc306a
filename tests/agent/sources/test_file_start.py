"""Where a file not followed yet is started: the lsb.events history offset, and read_from = "end".

An lsb.events switch, as openlava's mbatchd does it (scheduler.md §2.4): the old file
is replaced by rename (a new inode at the same path) whose first line `#<pos>` says
where the genuinely new events begin; bytes before it re-contain events of the old
file. The hook is injected so these tests do not depend on the openlava parser.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Optional

import orjson
import pytest

from agent.envelope import EnvelopeEncoder
from agent.sources import file as file_source
from spool import Spool


def header_offset(line: bytes) -> Optional[int]:
    m = re.fullmatch(rb"#(\d+) *", line)
    return int(m.group(1)) if m else None


def reader(spool: Spool, path: Path, **cfg: Any) -> file_source.FileSource:
    config = file_source.Config(name="ev", type="file", paths=[str(path)], format="lines", sinks=["s"], **cfg)
    return file_source.FileSource(config, spool, EnvelopeEncoder("ev", "lines", "h", None),
                                  history_offset=header_offset)


def messages(spool: Spool) -> list[str]:
    """The events read, without header lines (the openlava parser skips those; `lines` does not)."""
    return [m for (p,) in spool.query("SELECT payload FROM chunks ORDER BY id") for line in p.splitlines()
            if not (m := orjson.loads(line)["data"]["message"]).startswith("#")]


def switched(logdir: Path, preserved: list[str], new: list[str]) -> None:
    """Write lsb.events.tmp with a `#<pos>` header and rename it over lsb.events."""
    body = "".join(f"{e}\n" for e in preserved).encode()
    header_len = 81
    pos = header_len + len(body)
    head = f"#{pos}".ljust(80).encode() + b"\n"
    tmp = logdir / "lsb.events.tmp"
    tmp.write_bytes(head + body + "".join(f"{e}\n" for e in new).encode())
    os.rename(tmp, logdir / "lsb.events")


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path / "spool.db")


def test_after_a_switch_the_re_contained_events_are_not_emitted_again(tmp_path: Path, spool: Spool) -> None:
    events = tmp_path / "lsb.events"
    events.write_bytes(b"#0".ljust(80) + b"\nNEW 1\nNEW 2\nFINISH 1\n")
    r = reader(spool, events)
    r.step()
    switched(tmp_path, preserved=["NEW 2"], new=["LOG_SWITCH", "NEW 3"])
    r.step()
    assert messages(spool) == ["NEW 1", "NEW 2", "FINISH 1", "LOG_SWITCH", "NEW 3"]


def test_events_written_to_the_old_file_just_before_the_switch_are_still_read(tmp_path: Path, spool: Spool) -> None:
    events = tmp_path / "lsb.events"
    events.write_bytes(b"#0\nNEW 1\n")
    r = reader(spool, events)
    r.step()
    with open(events, "ab") as fh:  # the old inode grows, then is replaced before the next poll
        fh.write(b"FINISH 1\n")
    switched(tmp_path, preserved=[], new=["NEW 2"])
    r.step()
    assert messages(spool) == ["NEW 1", "FINISH 1", "NEW 2"]


def test_a_cold_start_reads_the_re_contained_events_too(tmp_path: Path, spool: Spool) -> None:
    switched(tmp_path, preserved=["NEW 2"], new=["NEW 3"])
    reader(spool, tmp_path / "lsb.events").step()
    assert messages(spool) == ["NEW 2", "NEW 3"]


def test_a_switch_while_the_agent_was_down_reads_the_new_file_whole(tmp_path: Path, spool: Spool) -> None:
    events = tmp_path / "lsb.events"
    events.write_bytes(b"#0\nNEW 1\nNEW 2\n")
    first = reader(spool, events)
    first.step()
    first.close()
    switched(tmp_path, preserved=["NEW 2"], new=["NEW 3"])
    reader(spool, events).step()  # the old file is gone unread: nothing may be missed
    assert messages(spool) == ["NEW 1", "NEW 2", "NEW 2", "NEW 3"]


def test_a_header_that_is_not_a_line_boundary_is_ignored(tmp_path: Path, spool: Spool) -> None:
    events = tmp_path / "lsb.events"
    events.write_bytes(b"#0\nA\n")
    r = reader(spool, events)
    r.step()
    tmp = tmp_path / "x.tmp"
    tmp.write_bytes(b"#5\nNEW 2\nNEW 3\n")  # byte 5 is inside "NEW 2"
    os.rename(tmp, events)
    r.step()
    assert messages(spool) == ["A", "NEW 2", "NEW 3"]


def test_read_from_end_applies_only_to_files_there_at_the_very_first_start(tmp_path: Path, spool: Spool) -> None:
    log = tmp_path / "app.log"
    log.write_text("old\n")
    config = file_source.Config(name="app", type="file", paths=[str(tmp_path / "app.log*")], format="lines",
                                sinks=["s"], read_from="end")
    r = file_source.FileSource(config, spool, EnvelopeEncoder("app", "lines", "h", None))
    r.step()
    os.rename(log, tmp_path / "app.log.1")
    log.write_text("first line of the new file\n")  # appears after the start: read it whole
    r.step()
    assert messages(spool) == ["first line of the new file"]


def test_lsb_acct_archiving_sends_nothing_twice(tmp_path: Path, spool: Spool) -> None:
    """openlava's switchAcctLog: copy lsb.acct to lsb.acct.0, unlink lsb.acct, create it anew,
    then shift lsb.acct.N to N+1 (scheduler.md §2.4), under a `lsb.acct*` glob."""
    acct = tmp_path / "lsb.acct"
    acct.write_text("FINISH 1\nFINISH 2\n")
    config = file_source.Config(name="acct", type="file", paths=[str(tmp_path / "lsb.acct*")], format="lines",
                                sinks=["s"])
    r = file_source.FileSource(config, spool, EnvelopeEncoder("acct", "lines", "h", None))
    r.step()
    with open(acct, "a") as fh:
        fh.write("FINISH 3\n")
    (tmp_path / "lsb.acct.0").write_bytes(acct.read_bytes())
    acct.unlink()
    acct.write_text("FINISH 4\n")
    os.rename(tmp_path / "lsb.acct.0", tmp_path / "lsb.acct.1")
    r.step()
    r.step()
    assert messages(spool) == ["FINISH 1", "FINISH 2", "FINISH 3", "FINISH 4"]


def test_the_openlava_events_format_brings_its_own_history_offset(tmp_path: Path, spool: Spool) -> None:
    sample = Path(__file__).parents[2] / "parsers" / "samples" / "openlava-events" / "hpccostsim_lsf10_lsb.events"
    job_new = [line for line in sample.read_bytes().splitlines(keepends=True) if line.startswith(b'"JOB_NEW"')][:3]
    events = tmp_path / "lsb.events"
    events.write_bytes(b"#80".ljust(80) + b"\n" + job_new[0] + job_new[1])
    config = file_source.Config(name="ev", type="file", paths=[str(events)], format="openlava-events", sinks=["s"])
    r = file_source.FileSource(config, spool, EnvelopeEncoder("ev", "openlava-events", "h", None))
    r.step()
    pos = 81 + len(job_new[1])  # job 2 is still in core: mbatchd re-writes its JOB_NEW first
    (tmp_path / "lsb.events.tmp").write_bytes(f"#{pos}".ljust(80).encode() + b"\n" + job_new[1] + job_new[2])
    os.rename(tmp_path / "lsb.events.tmp", events)
    r.step()
    jobs = [orjson.loads(line)["data"]["jobId"] for (p,) in spool.query("SELECT payload FROM chunks ORDER BY id")
            for line in p.splitlines()]
    assert jobs == [orjson.loads(b"[" + j.split()[3] + b"]")[0] for j in job_new] and len(set(jobs)) == 3
