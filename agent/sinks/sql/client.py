"""The `sql` sink: one connection, one transaction per batch, idempotent inserts.

The connection is opened at the first batch (and again after any failure that may have
broken it); the profile's table and views are created if absent on each new connection.
A batch is one transaction: all its rows land, or none. Every driver error is mapped to an
Outcome by drivers.py; the password is scrubbed from every reason.
"""
from __future__ import annotations

from typing import Any, Optional

from agent.secret import read_secret_file

from ..base import Batch, Delivered, Misconfigured, Outcome, Reject, Retry, Sink, SinkConfig
from ..http import scrubber
from .config import Config, Target
from .drivers import DRIVERS, Driver
from .encode import Encoded, encode_lines
from .schema import Schema, for_profile


class SqlSink:
    """One database table over one connection (see the module doc)."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._target: Target = config.target()
        self._driver: Driver = DRIVERS[self._target.dialect]
        self._schema: Schema = for_profile(config.profile, self._target.dialect, config.table_name())
        self._conn: Any = None
        self._password: Optional[str] = None

    @property
    def target(self) -> Target:
        return self._target

    def encode(self, batch: Batch) -> Encoded:
        """The batch as rows of the profile's table (pure; see encode.py)."""
        return encode_lines(batch.records, self._config.profile)

    def send(self, payload: object) -> Outcome:
        assert isinstance(payload, Encoded)
        if payload.refused:
            reason = payload.refused[0][1]
            return Reject(reason, frozenset(rid for rid, why in payload.refused if why == reason))
        if not payload.rows:
            return Delivered()
        conn = self._connection()
        if not hasattr(conn, "cursor"):
            return conn  # type: ignore[no-any-return]
        try:
            self._driver.insert(conn, self._schema, payload.rows)
            conn.commit()
        except self._driver.errors() as exc:
            outcome = self._scrub(self._driver.classify(exc))
            if isinstance(outcome, Reject):
                self._rollback()
            else:
                self._drop()
            return outcome
        return Delivered()

    def migrate(self) -> Outcome:
        """Create what the profile needs, or add what an older lmod_tracking table lacks, now:
        what `logspool sql migrate` runs (the sink also does it on its first connection)."""
        conn = self._connection()
        if not hasattr(conn, "cursor"):
            return conn  # type: ignore[no-any-return]
        return Delivered()

    def close(self) -> None:
        self._drop()

    def session_id(self) -> Optional[int]:
        """The server's id of this sink's connection (MariaDB thread id, PostgreSQL backend pid), or None."""
        return None if self._conn is None else self._driver.session_id(self._conn)

    # ---- helpers -----------------------------------------------------------------
    def _connection(self) -> Any:
        """The open connection, or the Outcome saying why there is none."""
        if self._conn is not None:
            return self._conn
        password = self._read_password()
        if isinstance(password, Misconfigured):
            return password
        self._password = password
        try:
            conn = self._driver.connect(self._target, password, self._config.timeout)
        except self._driver.errors() as exc:
            return self._at_connect(self._driver.classify(exc))
        try:
            self._driver.ensure_schema(conn, self._schema)
        except self._driver.errors() as exc:
            _close_quietly(conn)
            outcome = self._driver.classify(exc)
            if isinstance(outcome, Reject):  # two agents creating the table at once: try again
                outcome = Retry(f"creating {self._config.table_name()}: {outcome.reason}")
            return self._at_connect(outcome)
        self._conn = conn
        return conn

    def _at_connect(self, outcome: Outcome) -> Outcome:
        outcome = self._scrub(outcome)
        where = self._target.describe()
        if isinstance(outcome, Misconfigured):
            return Misconfigured(f"{outcome.reason} (connecting to {where}: check url, the password "
                                 "(password or password_file) and the user's privileges; the records stay in "
                                 "the spool)")
        if isinstance(outcome, Retry):
            return Retry(f"{outcome.reason} (connecting to {where})", outcome.after)
        return outcome

    def _read_password(self) -> Any:
        if self._config.password is not None:
            return self._config.password.get_secret_value()
        if self._config.password_file is not None:
            try:
                return read_secret_file(str(self._config.password_file))
            except ValueError as exc:
                return Misconfigured(f"password_file: {exc}")
        return None

    def _scrub(self, outcome: Outcome) -> Outcome:
        password = self._password
        if not password or isinstance(outcome, Delivered):
            return outcome
        reason = scrubber([password])(outcome.reason)
        if isinstance(outcome, Reject):
            return Reject(reason, outcome.record_ids)
        if isinstance(outcome, Retry):
            return Retry(reason, outcome.after)
        return Misconfigured(reason)

    def _rollback(self) -> None:
        try:
            self._conn.rollback()
        except self._driver.errors():
            self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            _close_quietly(conn)


def _close_quietly(conn: Any) -> None:
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - a broken connection may fail to close; it is gone either way
        pass


def open(config: SinkConfig) -> Sink:
    """An sql sink for a validated `Config`."""
    assert isinstance(config, Config)
    return SqlSink(config)
