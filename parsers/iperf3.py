"""The `iperf3` format: the output of `iperf3 -J`, one JSON document per test.

A document format: the source hands over the whole output as one unit (there is no framer). The
record is the one `parsers.iperf3_result` builds, with no bwctl context: `input_source`,
`input_destination`, `local_sender`, `local_receiver` and `bwctl` are None. A test that failed
(`"error": "unable to connect to server: ..."`) is a `failure` record, so that a sink can report
the failure instead of the run vanishing.
"""
from __future__ import annotations

from typing import Optional

from .iperf3_result import build, load_object
from .record import Parsed

NAME = "iperf3"


def parse(raw: bytes) -> Optional[Parsed]:
    """Parse one whole `iperf3 -J` output.

    Returns None for empty or blank input (nothing was written); raises `ParseError` naming the
    byte where the JSON broke, or the JSON path of a missing or mistyped field.
    """
    if not raw.strip():
        return None
    return build(load_object(raw))
