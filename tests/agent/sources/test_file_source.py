"""The file source, one `step()` at a time, on the cases that need more than one block or reader."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from agent.envelope import EnvelopeEncoder
from agent.sources import file as file_source
from spool import Spool, dead_letters


def reader(spool: Spool, paths: list[str], now: list[float] | None = None, **cfg: Any) -> file_source.FileSource:
    config = file_source.Config(name="app", type="file", paths=paths, format="lines", sinks=["s"], **cfg)
    clock = (lambda: now[0]) if now is not None else None
    kwargs: dict[str, Any] = {"clock": clock} if clock else {}
    return file_source.FileSource(config, spool, EnvelopeEncoder("app", "lines", "h", None), **kwargs)


def messages(spool: Spool) -> list[str]:
    out = []
    for (payload,) in spool.query("SELECT payload FROM chunks ORDER BY id"):
        out += [orjson.loads(line)["data"]["message"] for line in payload.splitlines()]
    return out


def ids(spool: Spool) -> list[str]:
    return [orjson.loads(line)["id"] for (p,) in spool.query("SELECT payload FROM chunks ORDER BY id")
            for line in p.splitlines()]


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path / "spool.db")


def test_an_over_long_line_spanning_blocks_is_dead_lettered_and_the_file_goes_on(tmp_path: Path, spool: Spool) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"before\n" + b"x" * 5000 + b"\nafter\n")
    r = reader(spool, [str(log)], max_line_bytes="1KiB")
    r.read_block = 1500  # smaller than the line: it is seen in pieces
    for _ in range(10):
        r.step()
    assert messages(spool) == ["before", "after"]
    (letter,) = dead_letters.select(spool.db)
    assert letter.reason == f"{log}: byte 7: line is longer than max_line_bytes (1024); the rest of it is skipped"
    assert letter.record == b"x" * 1024


def test_an_over_long_line_is_still_skipped_after_a_restart(tmp_path: Path, spool: Spool) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"y" * 3000)
    reader(spool, [str(log)], max_line_bytes="1KiB").step()
    with open(log, "ab") as fh:
        fh.write(b"y" * 100 + b"\nnext\n")
    reader(spool, [str(log)], max_line_bytes="1KiB").step()  # a new process: skip_line comes from the spool
    assert messages(spool) == ["next"]
    assert dead_letters.count(spool.db) == 1


def test_empty_and_one_byte_files_are_read_once_they_have_a_line(tmp_path: Path, spool: Spool) -> None:
    (tmp_path / "empty.log").touch()
    (tmp_path / "tiny.log").write_bytes(b"a")
    r = reader(spool, [str(tmp_path / "*.log")])
    r.step()
    assert messages(spool) == []
    with open(tmp_path / "tiny.log", "ab") as fh:
        fh.write(b"\n")
    r.step()
    assert messages(spool) == ["a"]


def test_invalid_utf8_is_kept_not_fatal(tmp_path: Path, spool: Spool) -> None:
    (tmp_path / "app.log").write_bytes(b"ok \xff\xfe bytes\nnext\n")
    reader(spool, [str(tmp_path / "app.log")]).step()
    assert messages(spool) == ["ok \ufffd\ufffd bytes", "next"]


def test_read_from_end_skips_what_was_there_on_the_very_first_start(tmp_path: Path, spool: Spool) -> None:
    log = tmp_path / "app.log"
    log.write_text("old 1\nold 2\n")
    r = reader(spool, [str(log)], read_from="end")
    r.step()
    with open(log, "a") as fh:
        fh.write("new\n")
    r.step()
    assert messages(spool) == ["new"]


def test_a_file_that_left_the_glob_is_finished_and_its_last_unterminated_line_emitted(tmp_path: Path,
                                                                                     spool: Spool) -> None:
    now = [1000.0]
    log = tmp_path / "app.log"
    log.write_text("one\ntwo without newline")
    r = reader(spool, [str(log)], now=now, rotate_wait="10s")
    r.step()
    os.rename(log, tmp_path / "archived.old")  # out of the glob
    r.step()
    assert messages(spool) == ["one"]
    now[0] += 11
    r.step()
    assert messages(spool) == ["one", "two without newline"]
    assert spool.query("SELECT state FROM checkpoints") == [("gone",)]


def test_two_readers_on_one_file_never_spool_a_line_twice(tmp_path: Path, spool: Spool) -> None:
    """`prerotate` and the daemon: both commit through the same checkpoint row."""
    log = tmp_path / "app.log"
    daemon = reader(spool, [str(log)])
    prerotate = reader(Spool(tmp_path / "spool.db"), [str(log)])
    for n in range(20):
        with open(log, "a") as fh:
            fh.write("".join(f"line {n}.{i}\n" for i in range(50)))
        (daemon if n % 3 else prerotate).step()
        if n % 2:
            prerotate.step()
    daemon.step()
    assert messages(spool) == [f"line {n}.{i}" for n in range(20) for i in range(50)]


def test_record_ids_are_the_same_whoever_reads_the_file(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("a\nb\nc\n")
    first, second = Spool(tmp_path / "one.db"), Spool(tmp_path / "two.db")
    reader(first, [str(log)]).step()
    r = reader(second, [str(log)])
    r.read_block = 2  # one line at a time: different block boundaries, same ids
    for _ in range(5):
        r.step()
    assert ids(first) == ids(second) and len(ids(first)) == 3


def test_max_lines_reads_that_many_lines_a_step_and_resumes_after_them(tmp_path: Path, spool: Spool) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"one\ntwo\nthree\n")
    config = file_source.Config(name="app", type="file", paths=[str(log)], format="lines", sinks=["s"],
                                read_from="beginning")
    first = file_source.FileSource(config, spool, EnvelopeEncoder("app", "lines", "h", None), max_lines=1)
    first.step()
    assert messages(spool) == ["one"]
    first.close()
    again = file_source.FileSource(config, spool, EnvelopeEncoder("app", "lines", "h", None), max_lines=1)
    again.step()
    assert messages(spool) == ["one", "two"]
