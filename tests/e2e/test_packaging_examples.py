"""The shipped logrotate stanzas (packaging/logrotate/) and systemd unit, tested as they stand.

Each stanza is run by the real logrotate while `logspool run` tails the log and a writer keeps
appending: only its paths are pointed into the test directory (and the `create` stanza's
postrotate, which would HUP this host's rsyslog, is dropped: the test's writer opens the log
for every burst, as a writer that reopened would). Every line must arrive once, by id.
"""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Callable

import pytest

from tests.doubles.http_receiver import HttpReceiver
from tests.e2e.conftest import REPO, Agent, Lines, Writer, logspool_command, wait_delivered, wait_until

pytestmark = pytest.mark.e2e

LOGROTATE = "/usr/sbin/logrotate"
EXAMPLES = REPO / "packaging" / "logrotate"
UNIT = REPO / "packaging" / "systemd" / "logspool.service"
STANZAS = {"gridftp-transfer": "gridftp-transfer.log", "moduleusage": "moduleUsage.log",
           "moduleusage-create": "moduleUsage.log"}


def localised(stanza: str, root: Path, config: Path) -> str:
    """The stanza with its paths under `root`, this checkout's logspool and the test's config."""
    text = re.sub(r"\n\s*postrotate\n.*?endscript", "", stanza, flags=re.S)
    return (text.replace("/var/log/", f"{root}/log/").replace("/var/lib/logspool/tmp", f"{root}/tmp")
            .replace("/usr/local/bin/logspool", shlex.join(logspool_command()))
            .replace("/etc/logspool/agent.toml", str(config)))


def test_every_example_is_listed_in_its_readme() -> None:
    shipped = sorted(p.name for p in EXAMPLES.iterdir() if p.name != "README.md")
    assert shipped == sorted(STANZAS)
    readme = (EXAMPLES / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in shipped)


@pytest.mark.parametrize("example", sorted(STANZAS))
def test_the_stanza_rotates_while_the_agent_tails_and_every_line_arrives_once(
        example: str, make_agent: Callable[..., Agent], receiver: HttpReceiver, tmp_path: Path) -> None:
    (tmp_path / "log").mkdir()
    (tmp_path / "tmp").mkdir()
    log = tmp_path / "log" / STANZAS[example]
    site = make_agent(source={"paths": [f"{log}*"]})
    conf = tmp_path / "logrotate.conf"
    conf.write_text(localised((EXAMPLES / example).read_text(), tmp_path, site.config))
    body = "\n".join(line for line in conf.read_text().splitlines() if not line.lstrip().startswith("#"))
    assert "/var/" not in body and "/etc/" not in body, body
    lines = Lines(log)
    lines.write(200)
    site.start()
    with Writer(lines) as writer:
        for _ in range(3):
            with writer.paused():
                before = len(lines.written)
                r = subprocess.run([LOGROTATE, "-f", "-s", str(tmp_path / "state"), str(conf)],
                                   capture_output=True, text=True, timeout=60, env=site.env)
                assert r.returncode == 0, f"logrotate exited {r.returncode}: {r.stderr}"
            assert wait_until(lambda: len(receiver.unique_ids()) >= before, 20), site.output_tail()
            wait_until(lambda: len(lines.written) >= before + 300, 5)
    assert (tmp_path / "log" / f"{STANZAS[example]}.1").exists()
    assert (tmp_path / "log" / f"{STANZAS[example]}.2.gz").exists()  # compress + delaycompress
    assert wait_delivered(receiver, lines.written) == ""


def test_the_systemd_unit_verifies_and_has_what_a_head_node_needs(tmp_path: Path) -> None:
    text = UNIT.read_text()
    directives = {line.split("=", 1)[0]: line.split("=", 1)[1] for line in text.splitlines()
                  if "=" in line and not line.startswith("#")}
    assert directives["ExecStart"] == "/usr/local/bin/logspool run --config /etc/logspool/agent.toml"
    assert directives["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert directives["Restart"] == "on-failure"
    assert (directives["NoNewPrivileges"], directives["ProtectSystem"], directives["PrivateTmp"]) == \
        ("yes", "strict", "yes")
    assert "/var/lib/logspool" in directives["ReadWritePaths"].split()
    assert directives["Environment"] == "TMPDIR=/var/lib/logspool/tmp"  # unpack where exec is allowed
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze not found: .ci/run installs systemd"
    binary = tmp_path / "logspool"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    unit = tmp_path / "logspool.service"
    unit.write_text(text.replace("/usr/local/bin/logspool", str(binary)))
    r = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout + r.stderr == "", r.stdout + r.stderr
