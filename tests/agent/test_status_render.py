"""`logspool status` for a person: a sources table and a sinks table, aligned, nothing left out."""
from __future__ import annotations

from agent.status import render

STATUS = {
    "spool": "/var/lib/logspool/spool.db", "spool_bytes": 3 << 20, "paused": True,
    "pause_reason": "spool holds 70.0 MiB, at its cap of 64.0 MiB", "last_busy": None, "dead_letters": 4,
    "sources": [{"name": "transfers", "files": [
        {"path": "/var/log/gridftp.log", "offset": 100, "size": 2148, "behind": 2048, "state": "active"},
        {"path": "/var/log/gridftp.log.1", "offset": 50, "size": None, "behind": 0, "state": "rotated"}]}],
    "sinks": [
        {"name": "esmond", "state": "retrying", "backlog_records": 12345, "backlog_bytes": 5 << 20,
         "oldest_age_s": 5400.0, "next_retry_in_s": 12.34, "attempts": 7,
         "last_error": "HTTP 503 from https://ma.example.org/esmond/perfsonar/archive/: Service Unavailable"},
        {"name": "file", "state": "idle", "backlog_records": 0, "backlog_bytes": 0, "oldest_age_s": None,
         "next_retry_in_s": None, "attempts": 0, "last_error": None}],
}


def test_status_is_two_aligned_tables_with_every_figure() -> None:
    lines = render(STATUS).splitlines()
    assert lines[0] == ("spool /var/lib/logspool/spool.db (3.0 MiB)  "
                        "PAUSED: spool holds 70.0 MiB, at its cap of 64.0 MiB")
    source_head = lines.index(next(x for x in lines if x.startswith("SOURCE")))
    assert lines[source_head + 1].split() == ["transfers", "2", "2.0", "KiB"]
    assert lines[source_head + 2].split() == ["/var/log/gridftp.log", "2.0", "KiB", "active,", "offset", "100/2148"]
    assert "offset 50/?" in lines[source_head + 3]
    sink_head = next(i for i, x in enumerate(lines) if x.startswith("SINK"))
    head, esmond, file = lines[sink_head:sink_head + 3]
    assert head.split() == ["SINK", "STATE", "BACKLOG", "BYTES", "OLDEST", "NEXT", "RETRY", "LAST", "ERROR"]
    assert esmond.startswith("esmond  retrying") and "12,345" in esmond and "1.5h" in esmond
    assert "in 12.3s (attempt 7)" in esmond and esmond.endswith("Service Unavailable")  # the error is whole
    assert file.split()[:6] == ["file", "idle", "0", "0", "B", "-"]
    for row in (esmond, file):  # the columns line up under their headings
        assert row.index(row.split()[1]) == head.index("STATE")
    assert lines[-1] == "dead letters: 4"
