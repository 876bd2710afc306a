"""The `perfsonar` sink: GridFTP transfers and bwctl/iperf3 results archived in a perfSONAR 5 archive.

Split by role (STYLE.md §2): `config` the `[[sinks]]` keys, `result` the records as the
pScheduler results psConfig's http archiver sends (pure), `client` the request and what
each answer means.
"""
from __future__ import annotations

from .client import PerfsonarSink, open, outcome_for_response
from .config import Config
from .result import Encoded, encode_lines, result_for

__all__ = ["Config", "Encoded", "PerfsonarSink", "encode_lines", "open", "outcome_for_response", "result_for"]
