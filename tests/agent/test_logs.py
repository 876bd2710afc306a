"""Log lines: key=value context, and repeated warnings rate-limited per key."""
from __future__ import annotations

import logging

from agent.logs import KeyValueFormatter, RateLimit


def test_context_is_printed_as_key_value_after_the_message() -> None:
    record = logging.LogRecord("logspool", logging.WARNING, "", 0, "Cannot open file.", None, None)
    record.path = "/var/log/a b.log"
    record.error = "Permission denied"
    line = KeyValueFormatter().format(record)
    assert line.endswith("warning Cannot open file. path='/var/log/a b.log' error='Permission denied'")


def test_a_repeated_message_is_allowed_once_per_interval_per_key() -> None:
    now = [100.0]
    limit = RateLimit(30.0, clock=lambda: now[0])
    assert [limit.allow("a"), limit.allow("a"), limit.allow("b")] == [True, False, True]
    now[0] += 30.0
    assert limit.allow("a") and limit.suppressed == {"a": 1}
