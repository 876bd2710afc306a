"""The file sink appends the spooled bytes and classifies filesystem errors."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.envelope import EnvelopeEncoder, file_record_id
from agent.sinks import Batch, Delivered, Misconfigured, Retry
from agent.sinks.file import Config, open as open_file_sink
from parsers import Parsed


def make_batch(n: int, first: int = 0) -> Batch:
    encoder = EnvelopeEncoder("transfers", "lines", "headnode1", "hpc1")
    lines = [f"2024-05-01T12:00:{i % 60:02d} transfer {i} ok".encode() for i in range(first, first + n)]
    return Batch([encoder.encode(file_record_id("transfers", "fp1", i * 40, line),
                                 Parsed("line", 1714564800.0 + i, {"line": line.decode()}))
                  for i, line in enumerate(lines, start=first)])


def deliver(path: Path | str, batch: Batch, **keys: object) -> object:
    sink = open_file_sink(Config.model_validate({"name": "local", "type": "file", "path": str(path), **keys}))
    return sink.send(sink.encode(batch))


def test_two_batches_are_appended_byte_for_byte_in_a_new_directory(tmp_path: Path) -> None:
    path = tmp_path / "archive" / "2024" / "records.ndjson"
    first, second = make_batch(3), make_batch(2, first=3)
    assert deliver(path, first) == Delivered()
    assert deliver(path, second, fsync=True) == Delivered()
    assert path.read_bytes() == first.ndjson() + second.ndjson()


def test_a_relative_path_is_relative_to_the_config_file(tmp_path: Path) -> None:
    config = Config.model_validate({"name": "local", "type": "file", "path": "out/records.ndjson"},
                                   context={"base_dir": tmp_path})
    assert config.path == tmp_path / "out" / "records.ndjson"


def test_a_directory_that_is_a_regular_file_is_misconfigured(tmp_path: Path) -> None:
    (tmp_path / "archive").write_text("not a directory")
    outcome = deliver(tmp_path / "archive" / "records.ndjson", make_batch(1))
    assert isinstance(outcome, Misconfigured)
    assert outcome.reason == f"cannot create directory {tmp_path / 'archive'}: File exists (EEXIST)"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_is_retried() -> None:
    outcome = deliver("/dev/full", make_batch(2))
    assert outcome == Retry("cannot write /dev/full: No space left on device (ENOSPC)")
