"""The `openlava-acct` format: openlava and IBM LSF `lsb.acct`, one JOB_FINISH record per line.

The records are read exactly as JOB_FINISH events in lsb.events are (`parsers.lsb_job_finish`).
Other types that LSF also writes to lsb.acct (JOB_RESIZE, EVENT_ADRSV_FINISH) and anything
else become unknown records (`"unknown": true` and the raw `fields`), not errors.
"""
from __future__ import annotations

from typing import Callable, Optional

from .lsb_events import LAYOUTS, LSF_VERIFIED
from .lsb_record import EventLog
from .record import Parsed

NAME = "openlava-acct"
_LOG = EventLog({"JOB_FINISH": LAYOUTS["JOB_FINISH"]}, LSF_VERIFIED)


#: One lsb.acct line -> its JOB_FINISH record; None for blank and `#` lines (a bound method:
#: one call less per line).
parse: Callable[[bytes], Optional[Parsed]] = _LOG.parse
