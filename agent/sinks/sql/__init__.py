"""The `sql` sink: records into MySQL/MariaDB or PostgreSQL, idempotently.

Split by role (STYLE.md §2): `config` the `[[sinks]]` keys and the URL, `schema` the
tables and views of each profile, `encode` records as rows, `drivers` PyMySQL and
psycopg and what each error means, `client` the connection and the transaction.
"""
from __future__ import annotations

from .client import SqlSink, open
from .config import Config, Target, parse_url
from .encode import Encoded

__all__ = ["Config", "Encoded", "SqlSink", "Target", "open", "parse_url"]
