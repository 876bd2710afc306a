"""`logspool compat lmod-ingest` as lmod_tracking's cron job ran `ingest.py`: .env settings, no duplicates."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

import pytest

from agent.compat import CompatError
from agent.compat_lmod import plan
from tests.e2e.conftest import logspool_command
from tests.sql_servers import Database, sql_db  # noqa: F401 - fixture

LINES = (
    "Apr 1 03:20:34 gpu-n53 ModuleUsageTracking: user=user1 jobid=1 module=gcc/8.2.0 "
    "path=/software/gcc/8.2.0.lua host=gpu-n53.crc.pitt.edu time=1682407234.086799\n"
    "May 12 03:20:34 smp-n10 ModuleUsageTracking: user=user2 jobid=nil module=openmpi "
    "path=/software/gcc/openmpi/4.0.3.lua host=smp-n10.crc.pitt.edu time=1682407234.103664\n"
    "May 12 03:20:35 smp-n10 sshd[77]: Accepted publickey for user2\n"
)


def ingest(tmp: Path, db: Database, *files: Path, env_file: bool = True) -> subprocess.CompletedProcess[str]:
    admin = db.admin
    settings = {"DB_USER": admin.username, "DB_HOST": admin.hostname, "DB_PORT": str(admin.port),
                "DB_NAME": db.name, "DB_PASS": db.password}
    env = {k: v for k, v in os.environ.items() if not k.startswith("DB_")}
    env.update(XDG_STATE_HOME=str(tmp / "state"), HOME=str(tmp))
    if env_file:  # as lmod_tracking's MySQL era read it: ./.env
        (tmp / ".env").write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    else:
        env.update(settings)
    return subprocess.run([*logspool_command(), "compat", "lmod-ingest", *map(str, files)], cwd=tmp, env=env,
                          capture_output=True, text=True, timeout=120)


def test_ingesting_the_same_file_twice_and_its_rotated_copy_adds_no_row(tmp_path: Path, sql_db: Database) -> None:
    log = tmp_path / "lmod.log"
    log.write_text(LINES)
    r = ingest(tmp_path, sql_db, log)
    assert r.returncode == 0, r.stderr
    rows = sql_db.query("SELECT package, version, jobid, host, time FROM log_data ORDER BY time")
    assert [(p, v, j) for p, v, j, _h, _t in rows] == [("gcc", "8.2.0", 1), ("openmpi", None, None)]
    assert rows[0][4].replace(tzinfo=None) == dt.datetime(2023, 4, 25, 7, 20, 34, 86799)
    assert ingest(tmp_path, sql_db, log, env_file=False).returncode == 0
    rotated = tmp_path / "lmod.log-20230426"
    rotated.write_text(LINES)  # the same lines under another name: a copytruncate's copy
    r = ingest(tmp_path, sql_db, rotated)
    assert r.returncode == 0, r.stderr
    assert sql_db.query("SELECT count(*) FROM log_data") == [(2,)]


def test_missing_settings_are_named(tmp_path: Path) -> None:
    with pytest.raises(CompatError) as err:
        plan(str(tmp_path / "lmod.log"), {"HOME": str(tmp_path), "DB_USER": "u"}, tmp_path)
    assert err.value.lines == ["DB_NAME: not set (in the environment, ./.env or ~/.ingest.env, as lmod_tracking "
                               "reads it)"]


def test_port_5432_or_a_socket_directory_choose_the_server(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "DB_USER": "lmod", "DB_NAME": "lmod", "DB_PASSWORD": "old-name"}
    assert plan("x.log", {**env, "DB_PORT": "5432"}, tmp_path).url == "postgresql://lmod@localhost:5432/lmod"
    assert plan("x.log", env, tmp_path).url == "mysql://lmod@localhost/lmod"
    assert plan("x.log", {**env, "DB_HOST": "/run/postgresql"}, tmp_path, "postgresql").url == \
        "postgresql://lmod@localhost/lmod?host=/run/postgresql"
