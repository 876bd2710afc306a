"""GridFTP transfer logs and bwctl runs through the real `logspool` process into the esmond and perfSONAR doubles.

Judged as a data-transfer-node operator would: every transfer the log holds is in both
archives once (a throughput point per successful transfer at its START second, a
failures point per failed one, a perfSONAR document per RETR/STOR), whatever happens
on the way (an archive outage, kill -9 mid-stream, a restart); the metadata is created
once per endpoint pair, not again after a restart; a record GridFTP's 4095-byte buffer
cut is kept in dead letters and does not take the next transfer with it; a bwctl run
piped in while the daemon runs is archived.
"""
from __future__ import annotations

import calendar
import json
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.doubles.esmond import EsmondServer
from tests.doubles.perfsonar import PerfsonarArchive
from tests.e2e.conftest import REPO, Agent, logspool_command, wait_until, write_config

pytestmark = pytest.mark.e2e

BWCTL = REPO / "tests" / "parsers" / "samples" / "bwctl-iperf3" / "synthetic-local-sender-tcp-utc.txt"
BASE = calendar.timegm((2024, 3, 1, 0, 0, 0))


def transfer(i: int, code: int = 226, file: str = "") -> str:
    """The i-th transfer: START at BASE + 10·i s (a second of its own), one of 3 endpoint pairs."""
    start = BASE + 10 * i
    t0, t1 = _stamp(start, 250000), _stamp(start + 7, 750000)
    kind = "RETR" if i % 2 else "STOR"
    return (f"DATE={t1} HOST=192.0.2.{1 + i % 3} PROG=globus-gridftp-server NL.EVNT=FTP_INFO START={t0} USER=alice "
            f"FILE={file or f'/data/run {i}/x=1.dat'} BUFFER=87380 BLOCK=262144 NBYTES={1000000 * (i + 1)} VOLUME=/ "
            f"STREAMS=4 STRIPES=1 DEST=[198.51.100.{7 + i % 3}] TYPE={kind} CODE={code}\n")


def _stamp(second: int, usec: int) -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(second)) + f".{usec:06d}"


@pytest.fixture
def archives() -> Iterator[tuple[EsmondServer, PerfsonarArchive]]:
    esmond, ps = EsmondServer(tokens={"e2e-token": "logspool"}), PerfsonarArchive(users={"perfsonar": "e2e-pass"})
    yield esmond, ps
    esmond.stop()
    ps.stop()


@pytest.fixture(autouse=True)
def _no_agent_outlives_its_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """Agents a test started are killed after it, even when it failed (and their output shown)."""
    request.node._logspool_agents = _started
    yield
    while _started:
        _started.pop().kill9()


_started: list[Agent] = []


def site(tmp: Path, esmond: EsmondServer, ps: PerfsonarArchive) -> Agent:
    (tmp / "esmond.key").write_text("e2e-token\n")
    (tmp / "ps.pass").write_text("e2e-pass\n")
    config, spool = tmp / "agent.toml", tmp / "spool.db"
    retry = {"initial": "100ms", "max": "1s"}
    write_config(config, {"spool": str(spool), "host": "dtn-e2e", "poll_interval": "100ms"},
                 [{"name": "transfers", "type": "file", "paths": [str(tmp / "gridftp-transfer.log")],
                   "format": "gridftp", "sinks": ["ma", "ps"]}],
                 [{"name": "ma", "type": "esmond", "url": esmond.url, "key_file": str(tmp / "esmond.key"),
                   "measurement_agent": "192.0.2.10", "retry": retry},
                  {"name": "ps", "type": "perfsonar", "url": ps.url, "username": "perfsonar",
                   "password_file": str(tmp / "ps.pass"), "observer": "dtn-e2e.example.org", "retry": retry}])
    agent = Agent(tmp, config, spool, tmp / "unused.log")
    _started.append(agent)
    return agent


def throughput_seconds(esmond: EsmondServer) -> list[int]:
    return sorted(ts for key in esmond.metadata_keys() for ts in esmond.points(key, "throughput"))


def failures(esmond: EsmondServer) -> dict[int, Any]:
    return {ts: v for key in esmond.metadata_keys() for ts, v in esmond.points(key, "failures").items()}


def metadata_posts(esmond: EsmondServer) -> int:
    return sum(1 for r in esmond.requests if r.method == "POST" and r.path.rstrip("/").endswith("/archive"))


def append(log: Path, text: str) -> None:
    with open(log, "a") as fh:
        fh.write(text)


def test_transfers_reach_both_archives_once_through_an_outage_a_cut_record_and_a_restart(
        tmp_path: Path, archives: tuple[EsmondServer, PerfsonarArchive]) -> None:
    esmond, ps = archives
    log = tmp_path / "gridftp-transfer.log"
    log.write_text("".join(transfer(i) for i in range(20)))
    agent = site(tmp_path, esmond, ps).start()
    assert wait_until(lambda: len(throughput_seconds(esmond)) == 20 and len(ps.documents) == 20, 30, step=0.1), \
        agent.output_tail()
    assert metadata_posts(esmond) == 6  # 3 pairs x (RETR, STOR)
    esmond.outage(503)
    ps.outage(503)
    # a failed transfer; a record cut at 4095 bytes that runs into the next one; two plain ones
    cut = transfer(21, file="/data/" + "x" * 4200)[:4095]
    append(log, transfer(20, code=426) + cut + transfer(22) + transfer(23))
    assert wait_until(lambda: agent.status()["sinks"][0]["backlog_records"] >= 3, 15, step=0.2), agent.status()
    esmond.mend()
    ps.mend()
    assert wait_until(lambda: len(throughput_seconds(esmond)) == 22 and len(ps.documents) == 23, 30, step=0.1), \
        agent.output_tail()
    assert failures(esmond) == {BASE + 200: {"error": "426 Connection closed; transfer aborted."}}
    assert throughput_seconds(esmond) == [BASE + 10 * i for i in (*range(20), 22, 23)]
    listed = [json.loads(line) for line in agent.cli("dead-letters", "list", "--json").stdout.splitlines()]
    assert len(listed) == 1 and "4095" in listed[0]["reason"]
    assert agent.term() == 0
    append(log, transfer(24))
    agent.start()
    assert wait_until(lambda: len(throughput_seconds(esmond)) == 23, 30, step=0.1), agent.output_tail()
    assert metadata_posts(esmond) == 6  # the keys came from the spool, not from new POSTs
    assert esmond.archive.conflicts == 0 and sum(esmond.dropped.values()) == 0
    assert max(ps.run_ids().values()) == 1 and len(ps.documents) == 24
    assert "e2e-token" not in agent.output_tail() and "e2e-pass" not in agent.output_tail()
    assert agent.term() == 0


def test_kill9_mid_stream_loses_no_transfer_and_the_archive_holds_each_once(
        tmp_path: Path, archives: tuple[EsmondServer, PerfsonarArchive]) -> None:
    esmond, ps = archives
    log = tmp_path / "gridftp-transfer.log"
    log.write_text("")
    agent = site(tmp_path, esmond, ps).start()
    total = 0
    for burst in range(6):
        append(log, "".join(transfer(i) for i in range(total, total + 50)))
        total += 50
        if burst in (1, 3):
            wait_until(lambda: len(throughput_seconds(esmond)) > total - 80, 10, step=0.05)
            agent.kill9()
            agent.start()
    assert wait_until(lambda: len(throughput_seconds(esmond)) == total, 60, step=0.1), agent.output_tail()
    assert throughput_seconds(esmond) == [BASE + 10 * i for i in range(total)]
    assert sum(esmond.dropped.values()) == 0
    assert wait_until(lambda: len(set(ps.run_ids())) == total, 30, step=0.1)  # replays may add copies there
    assert agent.term() == 0


def test_a_bwctl_run_piped_in_while_the_daemon_runs_is_archived(
        tmp_path: Path, archives: tuple[EsmondServer, PerfsonarArchive]) -> None:
    esmond, ps = archives
    (tmp_path / "gridftp-transfer.log").write_text("")
    agent = site(tmp_path, esmond, ps).start()
    assert wait_until(agent.spool.exists, 15, step=0.1)  # the daemon is up: its spool exists
    piped = subprocess.run([*logspool_command(), "pipe", "--format", "bwctl-iperf3", "--sink", "ma", "--sink", "ps",
                            "--config", str(agent.config)], input=BWCTL.read_bytes(), capture_output=True,
                           timeout=60, env=agent.env)
    assert piped.returncode == 0, piped.stderr
    assert wait_until(lambda: any(esmond.points(k, "throughput") for k in esmond.metadata_keys())
                      and len(ps.documents) == 1, 20, step=0.1), agent.output_tail()
    (key,) = esmond.metadata_keys()
    assert esmond.archive.metadata[key].subject["tool-name"] == "bwctl/iperf3"
    assert ps.documents[0][1]["test"]["type"] == "throughput"
    assert agent.term() == 0
