"""The old importers take their key on the command line (LavaFlow's KEY, esmond's -k): the
key must not reach any other process's command line (the forked drain process shows its
parent's), nor an output, a log or a spool file. The old clients had the same `ps` exposure;
logspool warns about it, and overwrites the key in its own command line once it is read, as
`mysql -p` does, so the drain forked after that point never carries it.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import REPO, logspool_command
from tests.security.leaks import SECRET, ArgvWatch, EchoServer, file_leaks, leaks

pytestmark = pytest.mark.e2e

SAMPLES = REPO / "tests" / "parsers" / "samples"
ACCT = SAMPLES / "openlava-acct" / "xdmod_lsf9_accounting-logs.log"


@pytest.fixture
def echo() -> Any:
    server = EchoServer()
    yield server
    server.stop()


def _run(tmp_path: Path, args: list[str], stdin: bytes = b"") -> tuple[subprocess.CompletedProcess[str], dict[int, str]]:
    env = dict(os.environ, HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path / "state"))
    env.pop("LOGSPOOL_CONFIG", None)
    proc = subprocess.Popen([*logspool_command(), "compat", *args], cwd=tmp_path, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    watch = ArgvWatch(proc.pid)
    try:
        out, err = proc.communicate(stdin, timeout=60)
    finally:
        proc.kill()
        seen = watch.stop()
    children = {pid: line for pid, line in seen.items() if pid != proc.pid}
    return subprocess.CompletedProcess(args, proc.returncode, out.decode(), err.decode()), children


def test_a_key_given_on_the_command_line_reaches_no_child_process_and_no_file(
        tmp_path: Path, echo: EchoServer) -> None:
    echo.status = 401  # the key is refused, and the refusal quotes it back
    # The real sample's server, but named localhost: the sink resolves the measurement agent's
    # address before it sends, and this machine has no DNS.
    gridftp = tmp_path / "gridftp-transfer.log"
    gridftp.write_text((SAMPLES / "gridftp" / "esmond-docs-lbl-diskpt1-transfer-retrans.log").read_text()
                       .replace("lbl-diskpt1.es.net", "localhost"))
    runs = [
        ["lava-import-openlava", str(ACCT), echo.url + "/lavaflow", SECRET, "--cluster_name", "hpc1"],
        ["lava-import-univa82", "hpc1", str(SAMPLES / "uge-accounting" / "xdmod_uge_accounting-logs.log"),
         echo.url + "/lavaflow", SECRET],
        ["esmond-ps-pipe", "-U", echo.url, "-u", "bwctl", "-k", SECRET],
        ["esmond-ps-load-gridftp", "-f", str(gridftp), "-U", echo.url, "-u", "gridftp", "-k", SECRET],
    ]
    texts, argv = [], {}
    for args in runs:
        stdin = (SAMPLES / "bwctl-iperf3" / "synthetic-third-party-tcp-2streams-gmt.txt").read_bytes() \
            if args[0] == "esmond-ps-pipe" else b""
        done, children = _run(tmp_path, args, stdin)
        texts += [(f"{args[0]} stdout", done.stdout), (f"{args[0]} stderr", done.stderr)]
        argv.update(children)
        assert done.returncode != 0 and "401" in done.stderr, (args[0], done.returncode, done.stderr[-1500:])
        assert children, f"{args[0]}: no drain process was seen"
    assert echo.got_secret()  # the key was sent, so the answers echoed it
    problems = leaks(texts) + [f"argv of child {pid}: {line}" for pid, line in argv.items() if SECRET in line]
    problems += file_leaks(tmp_path, [])
    assert problems == []


def test_hide_in_cmdline_overwrites_the_secret_for_the_process_and_what_it_forks_later() -> None:
    code = ("import os, sys\n"
            "from agent.secret import hide_in_cmdline\n"
            "before = open('/proc/self/cmdline', 'rb').read()\n"
            "found = hide_in_cmdline(sys.argv[1])\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    print(open('/proc/self/cmdline', 'rb').read().hex(), flush=True); os._exit(0)\n"
            "os.waitpid(pid, 0)\n"
            "print(open('/proc/self/cmdline', 'rb').read().hex(), before.hex(), found)\n")
    done = subprocess.run([sys.executable, "-c", code, SECRET, "--after"], capture_output=True, cwd=REPO, timeout=30)
    hex_child, hex_parent, hex_before, found = done.stdout.decode().split()
    child, parent, before = bytes.fromhex(hex_child), bytes.fromhex(hex_parent), bytes.fromhex(hex_before)
    assert SECRET.encode() in before and found == "True"
    assert SECRET.encode() not in child and SECRET.encode() not in parent
    assert parent.split(b"\0")[-3:] == [b"x" * len(SECRET), b"--after", b""]  # same length, the rest intact


def test_lmod_ingest_keeps_db_pass_out_of_every_output_file_and_child(tmp_path: Path) -> None:
    """lmod_tracking's DB_PASS comes from the environment or a dotenv file: refused by the real
    MariaDB (root has no password there), it must show nowhere, not even in the server's answer."""
    log = tmp_path / "lmod.log"
    log.write_bytes((SAMPLES / "lmod" / "pittcrc_mock_data_with_jobid.log").read_bytes())
    (tmp_path / ".env").write_text(f"DB_USER=root\nDB_PASS={SECRET}\nDB_HOST=127.0.0.1\nDB_PORT=3306\n"
                                   "DB_NAME=mysql\n")
    done, children = _run(tmp_path, ["lmod-ingest", str(log)])
    assert done.returncode != 0 and "1045" in done.stderr, (done.returncode, done.stderr[-1500:])
    problems = leaks([("lmod-ingest stdout", done.stdout), ("lmod-ingest stderr", done.stderr)])
    problems += [f"argv of child {pid}: {line}" for pid, line in children.items() if SECRET in line]
    problems += file_leaks(tmp_path, [tmp_path / ".env"])
    assert problems == []
