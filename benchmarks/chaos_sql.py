"""The chaos harness's second sink: an `sql` sink (profile `records`) on the machine's real MariaDB
or PostgreSQL, behind a TCP gate that cuts every connection now and then.

The same lines go to the HTTP endpoint and to a fresh database per trial; the table is keyed by
record id (ON DUPLICATE KEY / ON CONFLICT DO NOTHING), so a replay stores nothing twice and the
judgement is the HTTP one: every written line is a row, under exactly one id, exactly as written.
The gate stands for a server restart or a network cut (tests/sql_servers.py's Gate); the daemon's
SIGKILLs land in the sink's transactions as they do everywhere else.
"""
from __future__ import annotations

import json
import random
import re
import threading
from collections import Counter
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

from tests.sql_servers import MYSQL_URL, PG_URL, Gate, make_database

TABLE = "logspool_records"


class SqlTarget:
    """One fresh database for one trial, reached through a gate."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.db, self._drop = make_database(dialect)
        admin = urlsplit(MYSQL_URL if dialect == "mysql" else PG_URL)
        self.gate = Gate(admin.hostname or "127.0.0.1", admin.port or (3306 if dialect == "mysql" else 5432))
        self.faults: Counter[str] = Counter()

    def sink(self, timeout: str, batch_records: int) -> dict[str, Any]:
        scheme = "mysql" if self.dialect == "mysql" else "postgresql"
        url = f"{scheme}://{self.db.admin.username}@127.0.0.1:{self.gate.port}/{self.db.name}"
        return {"name": "db", "type": "sql", "url": url, "profile": "records", "timeout": timeout,
                "batch_records": batch_records, "retry": {"initial": "50ms", "max": "1s"}}

    def outage_loop(self, rnd: random.Random, stop: threading.Event) -> None:
        """Now and then every connection to the database is cut and new ones are refused."""
        while not stop.wait(rnd.uniform(0.5, 2.0)):
            if rnd.random() < 0.5:
                self.gate.shut()
                self.faults["database cut"] += 1
                stop.wait(rnd.uniform(0.2, 1.2))
                self.gate.reopen()

    def rows(self) -> list[tuple[str, str]]:
        """(record id, data.message) of every row; none while the table does not exist yet."""
        try:
            found = self.db.query(f"SELECT id, data FROM {TABLE}")
        except Exception:  # noqa: BLE001 - no table yet: the sink creates it with its first batch
            return []
        out = []
        for rid, data in found:
            value = json.loads(data) if isinstance(data, (str, bytes)) else data
            out.append((str(rid), str((value or {}).get("message", ""))))
        return out

    def tokens(self, token: "re.Pattern[str]") -> set[str]:
        return {m.group(0) for _, message in self.rows() if (m := token.search(message))}

    def judge(self, written: dict[str, str], token: "re.Pattern[str]",
              note: Callable[[str], None]) -> tuple[int, int, int, int]:
        """(lost, split, mangled, rows) of the table against the lines written."""
        ids_of: dict[str, set[str]] = {}
        mangled = 0
        rows = self.rows()
        for rid, message in rows:
            message = message.rstrip("\n")
            m = token.search(message)
            if m is None or written.get(m.group(0)) != message:
                mangled += 1
                note(f"sql row {rid} is no written line: {message[:120]!r}")
                continue
            ids_of.setdefault(m.group(0), set()).add(rid)
        lost = sorted(set(written) - ids_of.keys())
        split = {t: ids for t, ids in ids_of.items() if len(ids) > 1}
        if lost:
            note(f"sql lost e.g. {lost[:5]}")
        if split:
            note(f"sql split e.g. {sorted(split.items())[:2]}")
        return len(lost), len(split), mangled, len(rows)

    def close(self) -> None:
        self.gate.close()
        self._drop()


def dialect_for(choice: Optional[str], trial: int) -> Optional[str]:
    """--sql none|mysql|postgresql|both: `both` alternates the servers trial by trial."""
    if choice in (None, "none"):
        return None
    if choice == "both":
        return "mysql" if trial % 2 == 0 else "postgresql"
    return choice
