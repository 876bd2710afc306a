"""The `lavaflow` sink: openlava/LSF and Grid Engine accounting imported into a LavaFlow server.

Split by role (STYLE.md §2): `config` the `[[sinks]]` keys, `encode` the records as
LavaFlow's import views read them, `client` the requests and what each answer means.
"""
from __future__ import annotations

from .client import LavaFlowSink, open, outcome_for_response
from .config import Config
from .encode import Encoded, Part

__all__ = ["Config", "Encoded", "LavaFlowSink", "Part", "open", "outcome_for_response"]
