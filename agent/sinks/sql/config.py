"""The `[[sinks]]` keys of `type = "sql"` and the database address read from `url`."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal, Optional
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from agent.config_path import ConfigPath
from agent.secret import Secret
from agent.units import Duration

from ..base import SinkConfig

#: An SQL identifier we accept for `table`: unquoted-safe on both databases, 1..64 characters
#: (MariaDB's limit; PostgreSQL's is 63 bytes).
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_SCHEMES: dict[str, Literal["mysql", "postgresql"]] = {"mysql": "mysql", "mariadb": "mysql", "postgresql": "postgresql", "postgres": "postgresql"}
#: The query keys each dialect takes (the rest is refused, so a typo is not silently ignored).
_QUERY = {"mysql": ("unix_socket", "charset"),
          "postgresql": ("host", "port", "sslmode", "sslrootcert", "application_name")}
_URL_HELP = ('e.g. "mysql://logspool@db.example.org:3306/lmod", "mariadb://logspool@localhost/lmod'
             '?unix_socket=/run/mysqld/mysqld.sock", "postgresql://logspool@db.example.org:5432/lmod" or '
             '"postgresql://logspool@/lmod?host=/var/run/postgresql"')
DEFAULT_TABLES = {"lmod_tracking": "log_data", "records": "logspool_records"}


@dataclass(frozen=True)
class Target:
    """Where to connect, as read from `url` (never holds a password)."""

    dialect: Literal["mysql", "postgresql"]
    user: Optional[str]
    host: Optional[str]
    port: Optional[int]
    database: str
    options: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """`dialect://user@host:port/db` for reasons and logs."""
        where = self.options.get("unix_socket") or self.options.get("host") or self.host or "localhost"
        port = f":{self.port}" if self.port else ""
        return f"{self.dialect}://{self.user or ''}@{where}{port}/{self.database}"


def parse_url(url: str) -> Target:
    """The connection target of a `url`; ValueError says what is wrong (never quoting a password)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"not a database URL ({exc}); {_URL_HELP}") from None
    dialect = _SCHEMES.get(parts.scheme.lower())
    if dialect is None:
        raise ValueError(f"expected a mysql://, mariadb:// or postgresql:// URL; {_URL_HELP}")
    if parts.password is not None:
        raise ValueError("a password in the URL would show in logs and status: remove it from url and set "
                         'password = "env:VAR" or password_file')
    database = unquote(parts.path.lstrip("/"))
    if not database or "/" in database:
        raise ValueError(f"expected the database name as the URL's path; {_URL_HELP}")
    if parts.fragment:
        raise ValueError("expected no #fragment in url")
    options: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
        if key not in _QUERY[dialect]:
            raise ValueError(f"unknown URL option {key!r} for {dialect}; known: {', '.join(_QUERY[dialect])}")
        if key in ("password", "passfile"):  # pragma: no cover - refused above as unknown
            raise ValueError("no password in the URL")
        options[key] = value
    if dialect == "postgresql" and "port" in options:
        if not options["port"].isdigit():
            raise ValueError("expected a number as ?port=")
        if port is None:
            port = int(options.pop("port"))
    return Target(dialect, unquote(parts.username) if parts.username else None,
                  unquote(parts.hostname) if parts.hostname else None, port, database, options)


class Config(SinkConfig):
    """`[[sinks]]` keys of `type = "sql"`.

    Example:

        [[sinks]]
        name = "lmod-db"
        type = "sql"
        url = "mysql://lmod@db.example.org:3306/lmod"
        password_file = "/etc/logspool/lmod-db.password"
        profile = "lmod_tracking"
    """

    type: Literal["sql"] = Field(
        description='the sink kind: "sql" inserts records into a MySQL/MariaDB or PostgreSQL table')
    batch_records: int = Field(5000, ge=1, description="most records in one batch (one transaction)")
    url: str = Field(description="the database, without a password: mysql://USER@HOST:PORT/DB, mariadb://..., "
                                 "postgresql://USER@HOST:PORT/DB; a unix socket as ?unix_socket=/path (MySQL) or "
                                 '?host=/var/run/postgresql (PostgreSQL), e.g. "mysql://lmod@db.example.org/lmod"')
    password: Optional[Secret] = Field(
        None, description='the database password, e.g. "env:LMOD_DB_PASS" or "file:/etc/logspool/db.password"; '
                          "or set password_file; neither = no password (socket or trust authentication)")
    password_file: Optional[ConfigPath] = Field(
        None, validate_default=True,
        description="a file whose first line is the password, re-read at every connection so a new password "
                    'is picked up without a reload, e.g. "/etc/logspool/db.password"')
    profile: Literal["lmod_tracking", "records"] = Field(
        "records", description='the table layout: "lmod_tracking" = lmod_tracking\'s log_data table and views '
                               '(records of format lmod only); "records" = one row per record, data as JSON')
    table: Optional[str] = Field(
        None, description='the table name; default "log_data" for lmod_tracking, "logspool_records" for records')
    timeout: Duration = Field(
        30.0, gt=0, description='how long to wait to connect, and for each read or write, e.g. "30s"')

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        parse_url(url)
        return url

    @field_validator("password_file")
    @classmethod
    def _one_password(cls, password_file: Any, info: ValidationInfo) -> Any:
        if info.data.get("password") is not None and password_file is not None:
            raise ValueError("set password or password_file, not both")
        return password_file

    @field_validator("table")
    @classmethod
    def _check_table(cls, table: Optional[str]) -> Optional[str]:
        if table is not None and not _IDENTIFIER.match(table):
            raise ValueError("expected a table name of letters, digits and _ (not starting with a digit), "
                             'at most 63 characters, e.g. "log_data"')
        return table

    def target(self) -> Target:
        return parse_url(self.url)

    def table_name(self) -> str:
        return self.table or DEFAULT_TABLES[self.profile]

    def secret(self) -> Optional[SecretStr]:
        """The inline/env password, if set (password_file is read by the client at connect time)."""
        return self.password
