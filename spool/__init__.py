"""The SQLite spool: records and read checkpoints committed together, a chunk queue per sink.

Imports nothing from agent/ (DESIGN.md: the flow is one way).
"""
from __future__ import annotations

from . import checkpoints, chunks, counters, dead_letters
from .db import Spool
from .errors import SpoolBusy, SpoolCorrupt, SpoolError, SpoolFull, SpoolLocked
from .lock import InstanceLock
from .sink_state import SpoolSinkState

__all__ = ["InstanceLock", "Spool", "SpoolBusy", "SpoolCorrupt", "SpoolError", "SpoolFull", "SpoolLocked",
           "SpoolSinkState", "checkpoints", "chunks", "counters", "dead_letters"]
