"""What the agent writes to disk is its owner's alone, whatever the umask; a config that others
can read and that holds a secret inline is named in a warning.

Spooled records are copies of logs that may be private (job names, user names, paths) and
the spool holds dead letters with endpoint answers: a node's default umask 022 must not make
them world-readable. Every verb runs here under umask 022 in a directory that does not
exist yet, so the agent creates the directory too.
"""
from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import REPO, logspool_command, write_config
from tests.security.leaks import SECRET, EchoServer

pytestmark = pytest.mark.e2e

ACCT = REPO / "tests" / "parsers" / "samples" / "openlava-acct" / "xdmod_lsf9_accounting-logs.log"


def _umask_022() -> None:
    os.umask(0o022)


def _run(args: list[str], cwd: Path, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([*logspool_command(), *args], cwd=cwd, env=env, input=stdin, capture_output=True,
                          text=True, timeout=60, preexec_fn=_umask_022)


def _open_to_others(root: Path) -> list[str]:
    """Every path under `root` that group or others may read, write or enter."""
    return [f"{p} {stat.filemode(p.stat().st_mode)}" for p in [root, *sorted(root.rglob("*"))]
            if p.stat().st_mode & 0o077]


@pytest.fixture
def echo() -> Any:
    server = EchoServer()
    yield server
    server.stop()


def _site(tmp_path: Path, url: str, token: str) -> Path:
    config = tmp_path / "agent.toml"
    write_config(config, {"spool": str(tmp_path / "state" / "spool.db"), "poll_interval": "100ms"},
                 [{"name": "app", "type": "file", "paths": [str(tmp_path / "app.log")], "format": "lines",
                   "sinks": ["rx"]}],
                 [{"name": "rx", "type": "http", "url": url, "token": token,
                   "retry": {"initial": "100ms", "max": "300ms", "max_retries": 1}}])
    os.chmod(config, 0o644)
    return config


def test_spool_its_directory_and_its_dead_letters_are_owner_only_under_umask_022(
        tmp_path: Path, echo: EchoServer) -> None:
    config = _site(tmp_path, echo.url, "env:LS_TOKEN")
    env = dict(os.environ, LS_TOKEN="t0ken")
    (tmp_path / "app.log").write_text("".join(f"line {n}\n" for n in range(20)))
    echo.status = 400  # every record refused: dead letters with the endpoint's answer
    done = _run(["run", "--once", "--config", str(config)], tmp_path, env)
    listed = _run(["dead-letters", "list", "--json", "--config", str(config)], tmp_path, env)
    assert listed.stdout.count("\n") == 20, (done.stderr[-2000:], listed.stderr)
    _run(["pipe", "--format", "lines", "--sink", "rx", "--config", str(config)], tmp_path, env, stdin="x\n")
    state = tmp_path / "state"
    assert (state / "spool.db").exists()
    problems = _open_to_others(state)
    assert not problems, "\n".join(problems)


def test_compat_state_directory_and_spools_are_owner_only_under_umask_022(tmp_path: Path, echo: EchoServer) -> None:
    echo.status = 401
    env = dict(os.environ, HOME=str(tmp_path / "home"), LS_KEY="k3y")
    env.pop("XDG_STATE_HOME", None)
    done = _run(["compat", "lava-import-openlava", str(ACCT), echo.url, "env:LS_KEY", "--cluster_name", "c1"],
                tmp_path, env)
    assert done.returncode != 0 and "401" in done.stderr, done.stderr[-2000:]
    compat = tmp_path / "home" / ".local" / "state" / "logspool"
    assert list(compat.rglob("*.sqlite")), list(compat.rglob("*"))
    problems = _open_to_others(compat)
    assert not problems, "\n".join(problems)


def test_a_config_others_can_read_holding_an_inline_secret_is_named_in_a_warning(tmp_path: Path) -> None:
    config = _site(tmp_path, "http://127.0.0.1:9/ingest", SECRET)
    assert stat.S_IMODE(config.stat().st_mode) == 0o644
    for verb in (["check-config"], ["run", "--once"]):
        done = _run([*verb, "--config", str(config)], tmp_path, dict(os.environ))
        warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
        assert any("agent.toml" in w and "[sinks.rx] token" in w and "inline secret" in w for w in warnings), \
            (verb, done.stderr[-2000:])
        assert SECRET not in done.stdout + done.stderr


def test_a_secret_from_the_environment_gives_no_warning(tmp_path: Path) -> None:
    config = _site(tmp_path, "http://127.0.0.1:9/ingest", "env:LS_TOKEN")
    done = _run(["check-config", "--config", str(config)], tmp_path, dict(os.environ, LS_TOKEN=SECRET))
    assert done.returncode == 0 and "warning:" not in done.stderr, done.stderr
