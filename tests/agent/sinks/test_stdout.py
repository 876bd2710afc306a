"""The stdout sink writes the spooled bytes to standard output and flushes them."""
from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from agent.envelope import EnvelopeEncoder, file_record_id
from agent.sinks import SINKS, Batch, Delivered, Misconfigured
from agent.sinks.stdout import Config, StdoutSink
from parsers import Parsed


def make_batch(n: int) -> Batch:
    encoder = EnvelopeEncoder("jobs", "json", "headnode1", None)
    return Batch([encoder.encode(file_record_id("jobs", "fp2", i * 30, b'{"job":%d}' % i),
                                 Parsed("record", None, {"job": i})) for i in range(n)])


def test_a_batch_reaches_stdout_as_the_spooled_ndjson(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    batch = make_batch(3)
    sink = SINKS["stdout"].open(Config.model_validate({"name": "console", "type": "stdout"}))
    assert sink.send(sink.encode(batch)) == Delivered()
    assert capsysbinary.readouterr().out == batch.ndjson()


def test_a_closed_pipe_is_misconfigured() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    with open(write_end, "wb", buffering=0) as stream:
        outcome = StdoutSink(stream).send(make_batch(1).ndjson())
    assert outcome == Misconfigured("cannot write to stdout: the reading end of the pipe is closed")


def test_stdout_takes_no_keys_of_its_own() -> None:
    with pytest.raises(ValidationError, match="path"):
        Config.model_validate({"name": "console", "type": "stdout", "path": "/tmp/x"})
