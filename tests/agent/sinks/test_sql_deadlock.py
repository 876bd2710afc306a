"""A real deadlock between the sink's batch and another writer: the server picks the sink as its
victim (MariaDB 1213, PostgreSQL 40P01), the sink answers Retry, and the retried batch stores
nothing twice. No error is simulated: two transactions take the same two unique keys in
opposite orders on the machine's servers."""
from __future__ import annotations

import threading
import time
from typing import Any

from agent.sinks.base import Delivered, Retry
from agent.sinks.sql.encode import encode_lines
from agent.sinks.sql.schema import for_profile
from tests.agent.sinks.test_sql import LOADS, lmod_lines, send, sink_for
from tests.sql_servers import Database, sql_db  # noqa: F401 - fixture

FILLER = 200  # rows the other writer holds first, so MariaDB (which kills the lighter side) picks the sink


def test_a_deadlock_victim_batch_is_retried_and_lands_once(sql_db: Database) -> None:
    sink = sink_for(sql_db)
    assert send(sink, lmod_lines(LOADS[2:4], start=100)) == Delivered()  # the table exists now
    dialect = "mysql" if sql_db.dialect == "mysql" else "postgresql"
    schema = for_profile("lmod_tracking", dialect, "log_data")
    insert = schema.insert_head + schema.row
    contested = lmod_lines(LOADS[:2])
    key_one, key_two = encode_lines(contested, "lmod_tracking").rows
    filler = [(f"f{i}", *key_two[1:3], f"filler{i}", *key_two[4:]) for i in range(FILLER)]

    other = sql_db.connect(sql_db.name)
    if dialect == "mysql":
        other.autocommit(False)
    else:
        other.autocommit = False
    with other.cursor() as cur:
        for row in filler + [key_two]:
            cur.execute(insert, row)
    outcome: list[Any] = []
    batch = threading.Thread(target=lambda: outcome.append(send(sink, contested)))
    batch.start()  # inserts key one, then waits for the other writer's key two
    time.sleep(0.5)
    with other.cursor() as cur:
        cur.execute(insert, key_one)  # waits for the sink's key one: a cycle; the server breaks it
    other.commit()
    other.close()
    batch.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], Retry), outcome
    assert ("1213" in outcome[0].reason) if dialect == "mysql" else ("40P01" in outcome[0].reason), outcome
    assert "deadlock" in outcome[0].reason.lower()
    assert send(sink, contested) == Delivered()  # both keys are the other writer's now: nothing new
    sink.close()
    assert sql_db.query("SELECT COUNT(*) FROM log_data") == [(2 + FILLER + 2,)]
