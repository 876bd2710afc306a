"""The tables and views of the two profiles, in each dialect, and the idempotent INSERT for each.

`lmod_tracking` reproduces pitt-crc/lmod_tracking's `log_data` (alembic revisions 0.1 + 0.2,
research/lmod.md §2.3): the same columns, types, nullability, the `unq_log_entry` unique key
on (time, host, user, module) and the views `unique_loads`, `package_count`,
`package_version_count` with lmod_tracking's own definitions, so a site's queries and
dashboards keep working. lmod_tracking declares `time` with SQLAlchemy's MySQL
`TIMESTAMP(fsp=6)`, which renders as TIMESTAMP(6) on MySQL/MariaDB and as
`TIMESTAMP WITHOUT TIME ZONE` (microseconds) on PostgreSQL; both hold UTC here.

When `table` overrides the name, the unique key (on PostgreSQL, where constraint names are
per schema) and the views are prefixed with "<table>_" so two tables never collide; with the
default name they are exactly lmod_tracking's.

`records` is a generic table keyed by the record id: source, format, type, time, host,
cluster, and the parsed data as JSON (MariaDB) or JSONB (PostgreSQL).

Writes never overwrite and never duplicate: `ON DUPLICATE KEY UPDATE id = id` on MariaDB
(not INSERT IGNORE: IGNORE turns "data too long" into a silent truncation even in strict
mode) and `ON CONFLICT DO NOTHING` on PostgreSQL.
"""
from __future__ import annotations

from dataclasses import dataclass

#: Columns written, in the order encode.py builds rows.
LMOD_COLUMNS = ("logname", "time", "host", "user", "module", "path", "package", "version", "jobid")
RECORD_COLUMNS = ("id", "source", "format", "type", "time", "host", "cluster", "data")
LMOD_VIEWS = ("unique_loads", "package_count", "package_version_count")


@dataclass(frozen=True)
class Schema:
    """Everything one profile needs in one dialect."""

    create: tuple[str, ...]     # statements run in order (CREATE TABLE IF NOT EXISTS ...)
    views: tuple[tuple[str, str], ...]  # (view name, CREATE VIEW statement), created when absent
    insert_head: str            # INSERT INTO t (cols) VALUES
    row: str                    # one row's placeholders, e.g. "(%s, %s)"
    insert_tail: str            # ON CONFLICT ... / ON DUPLICATE KEY ...
    columns: int
    table: str = ""             # the table, quoted
    column_list: str = ""       # the columns written, quoted, comma-separated


def quote(dialect: str, name: str) -> str:
    return f"`{name}`" if dialect == "mysql" else f'"{name}"'


def view_names(table: str) -> dict[str, str]:
    prefix = "" if table == "log_data" else f"{table}_"
    return {view: prefix + view for view in LMOD_VIEWS}


def _lmod_views(dialect: str, table: str) -> tuple[tuple[str, str], ...]:
    names = view_names(table)
    def q(name: str) -> str:
        return quote(dialect, name)

    unique, count, version_count = (q(names[v]) for v in LMOD_VIEWS)
    return (
        (names["unique_loads"],
         f"CREATE VIEW {unique} AS SELECT DISTINCT package, version, jobid, max(time) AS time "
         f"FROM {q(table)} WHERE jobid IS NOT NULL GROUP BY jobid, version, package"),
        (names["package_count"],
         f"CREATE VIEW {count} AS SELECT package, COUNT(*) AS total, max(time) AS lastload "
         f"FROM {unique} GROUP BY package ORDER BY package"),
        (names["package_version_count"],
         f"CREATE VIEW {version_count} AS SELECT package, version, COUNT(*) AS total, max(time) AS lastload "
         f"FROM {unique} GROUP BY package, version ORDER BY package, version"),
    )


def lmod_tracking(dialect: str, table: str) -> Schema:
    def q(name: str) -> str:
        return quote(dialect, name)

    unique = "unq_log_entry" if table == "log_data" or dialect == "mysql" else f"{table}_unq_log_entry"
    if dialect == "mysql":
        id_column, time_type, tail = "`id` INTEGER NOT NULL AUTO_INCREMENT", "TIMESTAMP(6)", \
            " ON DUPLICATE KEY UPDATE `id` = `id`"
        options = " CHARACTER SET utf8mb4"
    else:
        id_column, time_type, tail = '"id" SERIAL NOT NULL', "TIMESTAMP WITHOUT TIME ZONE", \
            " ON CONFLICT DO NOTHING"
        options = ""
    create = (
        f"CREATE TABLE IF NOT EXISTS {q(table)} ("
        f"{id_column}, "
        f"{q('logname')} VARCHAR(4096) NOT NULL, "
        f"{q('time')} {time_type} NOT NULL, "
        f"{q('host')} VARCHAR(255) NOT NULL, "
        f"{q('user')} VARCHAR(50) NOT NULL, "
        f"{q('module')} VARCHAR(100) NOT NULL, "
        f"{q('path')} VARCHAR(4096) NOT NULL, "
        f"{q('package')} VARCHAR(100) NOT NULL, "
        f"{q('version')} VARCHAR(150) NULL, "
        f"{q('jobid')} INTEGER NULL, "
        f"PRIMARY KEY ({q('id')}), "
        f"CONSTRAINT {q(unique)} UNIQUE ({q('time')}, {q('host')}, {q('user')}, {q('module')})"
        f"){options}")
    # lmod_tracking's migration 0.2 added jobid: a table an older ingest created gets it too.
    upgrade = f"ALTER TABLE {q(table)} ADD COLUMN IF NOT EXISTS {q('jobid')} INTEGER NULL"
    columns = ", ".join(q(c) for c in LMOD_COLUMNS)
    row = "(" + ", ".join(["%s"] * len(LMOD_COLUMNS)) + ")"
    return Schema((create, upgrade), _lmod_views(dialect, table), f"INSERT INTO {q(table)} ({columns}) VALUES ",
                  row, tail, len(LMOD_COLUMNS), q(table), columns)


def records(dialect: str, table: str) -> Schema:
    def q(name: str) -> str:
        return quote(dialect, name)

    if dialect == "mysql":
        time_type, data_type, data_value = "DATETIME(6)", "JSON", "%s"
        tail, options = " ON DUPLICATE KEY UPDATE `id` = `id`", " CHARACTER SET utf8mb4"
    else:
        time_type, data_type, data_value = "TIMESTAMP(6) WITH TIME ZONE", "JSONB", "%s::jsonb"
        tail, options = " ON CONFLICT DO NOTHING", ""
    create = (
        f"CREATE TABLE IF NOT EXISTS {q(table)} ("
        f"{q('id')} VARCHAR(255) NOT NULL, "
        f"{q('source')} VARCHAR(255) NOT NULL, "
        f"{q('format')} VARCHAR(64) NOT NULL, "
        f"{q('type')} VARCHAR(255) NULL, "
        f"{q('time')} {time_type} NULL, "
        f"{q('host')} VARCHAR(255) NULL, "
        f"{q('cluster')} VARCHAR(255) NULL, "
        f"{q('data')} {data_type} NOT NULL, "
        f"PRIMARY KEY ({q('id')})"
        f"){options}")
    columns = ", ".join(q(c) for c in RECORD_COLUMNS)
    row = "(" + ", ".join(["%s"] * (len(RECORD_COLUMNS) - 1) + [data_value]) + ")"
    return Schema((create,), (), f"INSERT INTO {q(table)} ({columns}) VALUES ", row, tail, len(RECORD_COLUMNS),
                  q(table), columns)


def for_profile(profile: str, dialect: str, table: str) -> Schema:
    return lmod_tracking(dialect, table) if profile == "lmod_tracking" else records(dialect, table)
