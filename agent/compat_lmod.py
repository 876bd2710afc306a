"""lmod_tracking's `ingest.py FILE` as a logspool Config: the `.env` settings, the same `log_data` table.

lmod_tracking (pitt-crc) reads the database from DB_USER, DB_PASS (DB_PASSWORD before
August 2023), DB_HOST, DB_PORT and DB_NAME, in the environment or a dotenv file (`.env`
in the working directory in its MySQL era, `~/.ingest.env` at HEAD), and re-inserts a
whole log file on every run, relying on the `unq_log_entry` key to drop what it had.
Here each file becomes a `file` source of format `lmod` routed to an `sql` sink of
profile `lmod_tracking`, with a spool of its own under the user's state directory: the
unique key still makes a re-run harmless, and the checkpoint makes it cheap.

The database is MySQL/MariaDB unless DB_PORT is 5432 or `--database postgresql` says
so (the MySQL era's default port is 3306; HEAD moved to PostgreSQL and port 5432).
"""
from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any, Mapping, Optional

from pydantic import SecretStr, ValidationError

from agent.compat import RETRY, CompatError, Plan, spool_path
from agent.config import Config

SINK = "lmod"
SOURCE = "lmod-ingest"


def dotenv(path: Path) -> dict[str, str]:
    """KEY=value lines of a dotenv file (comments, `export`, quotes), as python-dotenv reads the simple ones."""
    out: dict[str, str] = {}
    try:
        text = path.read_text()
    except OSError:
        return out
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def settings(environ: Mapping[str, str], cwd: Path, home: Path) -> dict[str, str]:
    """DB_* settings: the environment wins over the dotenv files (python-dotenv's override=False)."""
    found: dict[str, str] = {}
    for path in (home / ".ingest.env", cwd / ".env"):
        found.update(dotenv(path))
    found.update({k: v for k, v in environ.items() if k.startswith("DB_")})
    return found


def plan(file: str, environ: Mapping[str, str], cwd: Path, database: Optional[str] = None) -> Plan:
    """The Config `lmod-ingest FILE` runs with; CompatError names the setting at fault."""
    env = settings(environ, cwd, Path(environ.get("HOME") or os.path.expanduser("~")))
    missing = [k for k in ("DB_USER", "DB_NAME") if not env.get(k)]
    password = env.get("DB_PASS", env.get("DB_PASSWORD"))
    if missing:
        raise CompatError([f"{k}: not set (in the environment, ./.env or ~/.ingest.env, as lmod_tracking reads it)"
                           for k in missing])
    port = env.get("DB_PORT", "")
    dialect = database or ("postgresql" if port == "5432" else "mysql")
    host = env.get("DB_HOST") or "localhost"
    if host.startswith("/"):  # a unix socket directory (lmod_tracking passes it as ?host=)
        netloc, query = f"{env['DB_USER']}@localhost", (f"?host={host}" if dialect == "postgresql"
                                                        else f"?unix_socket={host}")
    else:
        netloc, query = f"{env['DB_USER']}@{host}" + (f":{port}" if port else ""), ""
    url = f"{dialect}://{netloc}/{env['DB_NAME']}{query}"
    path = os.path.abspath(file)
    spool = spool_path(SOURCE, file, url, environ)
    sink: dict[str, Any] = {"name": SINK, "type": "sql", "url": url, "profile": "lmod_tracking",
                            "retry": dict(RETRY)}
    if password:
        sink["password"] = SecretStr(password)
    raw: dict[str, Any] = {
        "agent": {"spool": str(spool), "log_level": "warning"},
        "sources": [{"name": SOURCE, "type": "file", "paths": [glob.escape(path)], "format": "lmod",
                     "sinks": [SINK]}],
        "sinks": [sink],
    }
    try:
        config = Config.model_validate(raw, context={"warnings": []})
    except ValidationError as exc:
        raise CompatError([f"DB_*: {str(err.get('msg', '')).removeprefix('Value error, ')}"
                           for err in exc.errors()]) from None
    return Plan(file, config, path, spool, SOURCE, "lmod", sink=SINK, url=url)
