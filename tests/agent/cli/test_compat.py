"""`logspool compat`: the old LavaFlow importer command lines, mapped to a Config and run end to end.

The first half checks the mapping in-process (the Config each old command line
produces, the warnings, the exit codes before anything runs). The second half runs
the real `logspool` process against the LavaFlow double and judges it by what the
double stored: jobs and attempts by their natural keys, as the real server would.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from agent import compat
from agent.cli import build_parser, main
from agent.compat import KEY_WARNING, CompatError, OldCommand, plan, skip_lines, spool_path
from agent.sinks import RetryPolicy
from spool import Spool
from tests.doubles.lavaflow import LavaFlowServer
from tests.e2e.conftest import REPO, logspool_command, wait_until

URL = "http://lava.example.org/lavaflow"


def state(tmp_path: Path) -> dict[str, str]:
    return {"XDG_STATE_HOME": str(tmp_path / "state"), "HOME": str(tmp_path / "home")}


def log_file(tmp_path: Path, name: str = "lsb.acct", lines: int = 3) -> Path:
    path = tmp_path / name
    path.write_text("".join(f'"JOB_FINISH" "10.108" {1700000000 + i} {i} line\n' for i in range(lines)))
    return path


def openlava(path: Path, **options: object) -> OldCommand:
    return OldCommand("lava-import-openlava", str(path), URL + "/", "topSecretKey", **options)  # type: ignore[arg-type]


def test_lava_import_openlava_becomes_one_file_source_and_one_lavaflow_sink(tmp_path: Path) -> None:
    p = plan(openlava(log_file(tmp_path), cluster="hpc1", chunk_size=500, log_level="info"), state(tmp_path))
    source, sink = p.config.sources[0], p.config.sinks[0]
    assert (source.name, source.type, source.format, source.sinks) == (
        "lava-import-openlava", "file", "openlava-events", ["lavaflow"])
    assert getattr(source, "paths") == [str(tmp_path / "lsb.acct")]
    assert (sink.name, sink.type, getattr(sink, "url"), getattr(sink, "cluster")) == ("lavaflow", "lavaflow", URL,
                                                                                    "hpc1")
    assert getattr(sink, "key").get_secret_value() == "topSecretKey"
    assert (getattr(sink, "chunk_size"), sink.batch_records, sink.retry.max_retries) == (500, 500, None)
    assert (p.config.agent.cluster, p.config.agent.log_level) == ("hpc1", "info")


def test_lava_import_univa82_reads_uge_accounting_for_its_positional_cluster(tmp_path: Path) -> None:
    p = plan(OldCommand("lava-import-univa82", str(log_file(tmp_path, "accounting")), URL, "k", cluster="uge1"),
             state(tmp_path))
    assert (p.config.sources[0].format, getattr(p.config.sinks[0], "cluster"), p.config.sinks[0].batch_records) == (
        "uge-accounting", "uge1", 200)


def test_the_spool_lives_under_the_state_directory_named_by_file_and_url_not_key(tmp_path: Path) -> None:
    log = log_file(tmp_path)
    env = state(tmp_path)
    digest = hashlib.blake2b(f"lava-import-openlava\0{log}\0{URL}".encode(), digest_size=8).hexdigest()
    expected = tmp_path / "state" / "logspool" / "compat" / f"lava-import-openlava-lsb.acct-{digest}.sqlite"
    assert plan(openlava(log, cluster="c"), env).spool == expected
    assert spool_path("lava-import-openlava", str(log), URL + "/", env) == expected  # a trailing / is the same URL
    other_key = OldCommand("lava-import-openlava", str(log), URL, "anotherKey", cluster="c")
    assert plan(other_key, env).spool == expected
    assert spool_path("lava-import-openlava", str(log), "http://other/lavaflow", env) != expected


def test_without_xdg_state_home_the_spool_is_under_home(tmp_path: Path) -> None:
    env = {"XDG_STATE_HOME": "relative/is/ignored", "HOME": str(tmp_path / "home")}
    assert compat.state_dir(env) == tmp_path / "home" / ".local" / "state" / "logspool" / "compat"


def test_a_key_on_the_command_line_warns_that_ps_shows_it(tmp_path: Path) -> None:
    assert plan(openlava(log_file(tmp_path), cluster="c"), state(tmp_path)).warnings == [KEY_WARNING]
    assert KEY_WARNING == (
        "warning: KEY on the command line is visible to every user of this host (ps, /proc/<pid>/cmdline). "
        "Give it as env:VAR or file:PATH instead, or move to `logspool run` with a [[sinks]] table of type "
        "\"lavaflow\" holding key_file = \"/etc/logspool/lavaflow.key\" or key = \"env:LAVAFLOW_KEY\" "
        "(README, \"Drop-in compatibility\").")


def test_key_as_env_or_file_is_read_and_not_warned_about(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAVA_KEY", "fromEnv")
    (tmp_path / "key").write_text("fromFile\n")
    log = log_file(tmp_path)
    for key, value in (("env:LAVA_KEY", "fromEnv"), (f"file:{tmp_path / 'key'}", "fromFile")):
        p = plan(OldCommand("lava-import-openlava", str(log), URL, key, cluster="c"), state(tmp_path))
        assert (getattr(p.config.sinks[0], "key").get_secret_value(), p.warnings) == (value, [])
    with pytest.raises(CompatError) as err:
        plan(OldCommand("lava-import-openlava", str(log), URL, "env:NOT_SET_ANYWHERE", cluster="c"), state(tmp_path))
    assert err.value.lines == ["KEY: environment variable NOT_SET_ANYWHERE is not set"]


def test_a_bad_url_is_named_as_the_url_argument(tmp_path: Path) -> None:
    with pytest.raises(CompatError) as err:
        plan(OldCommand("lava-import-openlava", str(log_file(tmp_path)), "ftp://x", "k", cluster="c"), state(tmp_path))
    assert err.value.lines == ['URL: expected an http:// or https:// URL with a host, e.g. '
                               '"http://lavaflow.example.org/lavaflow"']


@pytest.mark.parametrize(("old", "level"), [("debug", "debug"), ("info", "info"), ("warn", "warning"),
                                            ("WARNING", "warning"), ("error", "error"), ("critical", "error")])
def test_old_log_level_names_map_to_the_agent_levels(tmp_path: Path, old: str, level: str) -> None:
    assert plan(openlava(log_file(tmp_path), cluster="c", log_level=old), state(tmp_path)).config.agent.log_level == level


def test_the_cluster_is_inferred_from_lsf_conf_without_cluster_name(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "lsf.conf").write_text(f"LSF_CONFDIR={etc}\n")
    (etc / "lsf.shared").write_text("Begin Cluster\nClusterName\nopenlava1\nEnd Cluster\n")
    p = plan(openlava(log_file(tmp_path)), {**state(tmp_path), "LSF_ENVDIR": str(etc)})
    assert getattr(p.config.sinks[0], "cluster") == p.config.agent.cluster == "openlava1"


def test_without_a_cluster_name_the_command_exits_2_saying_what_it_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LSF_ENVDIR", str(tmp_path))
    monkeypatch.delenv("LSF_CONFDIR", raising=False)
    log = log_file(tmp_path)
    assert main(["compat", "lava-import-openlava", str(log), URL, "k"]) == 2
    assert capsys.readouterr().err == (
        f"logspool compat lava-import-openlava: cannot infer the LSF cluster name: {tmp_path}/lsf.conf cannot be "
        f"read (set LSF_ENVDIR to the directory holding lsf.conf); looked at {tmp_path}/lsf.conf; "
        "set cluster = \"...\" in the [[sinks]] table, or --cluster_name\n")


def test_a_missing_log_file_exits_1_as_the_old_importer_did(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compat", "lava-import-univa82", "c", str(tmp_path / "nope"), URL, "k"]) == 1
    assert capsys.readouterr().err == (
        f"logspool compat lava-import-univa82: cannot read {tmp_path / 'nope'}: No such file or directory\n")


def test_the_old_docs_command_lines_parse_unchanged() -> None:
    loop = build_parser().parse_args(["compat", "lava-import-openlava", "--chunk_size", "500", "--log_level=info",
                                      "lsb.acct.1", URL, "topSecretKey"])
    assert (loop.importer, loop.log_file, loop.chunk_size, loop.log_level, loop.tail_log) == (
        "lava-import-openlava", "lsb.acct.1", 500, "info", False)
    boot = build_parser().parse_args(["compat", "lava-import-openlava", "--chunk_size", "50", "--tail_log",
                                      "--log_level=warn", "lsb.events", URL, "topSecretKey"])
    assert (boot.tail_log, boot.chunk_size, boot.retry_forever, boot.skip) == (True, 50, False, 0)
    uge = build_parser().parse_args(["compat", "lava-import-univa82.py", "hpc1", "accounting", URL, "k",
                                     "--retry_forever"])
    assert (uge.importer, uge.cluster, uge.log_file, uge.retry_forever) == (
        "lava-import-univa82", "hpc1", "accounting", True)


def test_univa82_has_no_tail_log_or_skip_as_in_the_old_script(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["compat", "lava-import-univa82", "c", "f", URL, "k", "--tail_log"])
    assert exit_.value.code == 2 and "unrecognized arguments: --tail_log" in capsys.readouterr().err


def test_skip_starts_the_first_run_after_n_lines_and_is_ignored_once_a_checkpoint_exists(tmp_path: Path) -> None:
    log = log_file(tmp_path, lines=5)
    p = plan(openlava(log, cluster="c", skip=2), state(tmp_path))
    assert skip_lines(p, 2) is None
    first_two = len("".join(log.read_text().splitlines(keepends=True)[:2]).encode())
    spool = Spool(p.spool)
    assert spool.query("SELECT offset, path FROM checkpoints") == [(first_two, str(log))]
    spool.close()
    assert skip_lines(p, 2) == (f"warning: --skip 2 ignored: {log} was read before by this command "
                                f"(spool {p.spool}); it resumes at its checkpoint")


def test_skip_beyond_the_end_skips_every_complete_line(tmp_path: Path) -> None:
    log = log_file(tmp_path, lines=3)
    p = plan(openlava(log, cluster="c"), state(tmp_path))
    assert skip_lines(p, 10) == f"warning: --skip 10: {log} has only 3 complete lines; all of them are skipped"
    spool = Spool(p.spool)
    assert spool.query("SELECT offset FROM checkpoints") == [(os.path.getsize(log),)]
    spool.close()


# ---- end to end: the real process against the LavaFlow double ---------------------------------------------------

SAMPLES = Path(__file__).resolve().parents[2] / "parsers" / "samples"
UG82 = SAMPLES / "uge-accounting" / "gridengine-accounting_ug82_accounting"
KEY = "compat-import-key"


@pytest.fixture
def server() -> Iterator[LavaFlowServer]:
    s = LavaFlowServer(keys=[KEY])
    yield s
    s.stop()


def logspool_compat(tmp_path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"),
           "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    return subprocess.run([*logspool_command(), "compat", *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=timeout)


def ge_jobs(path: Path) -> set[tuple[int, int]]:
    """(job number, submit s) of each accounting line, as LavaFlow keys jobs; read off the file, not the parser."""
    rows = [line.split(":") for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return {(int(f[5]), int(f[8]) // 1000) for f in rows}


def spooled_files(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "state").rglob("*") if p.is_file()]


@pytest.mark.e2e
def test_univa82_delivers_every_row_once_and_the_last_partial_chunk(tmp_path: Path, server: LavaFlowServer) -> None:
    acct = Path(shutil.copy(UG82, tmp_path / "accounting"))
    r = logspool_compat(tmp_path, "lava-import-univa82", "uge1", str(acct), server.url, KEY, "--chunk_size", "5")
    assert r.returncode == 0, r.stderr
    assert {(k[1], k[2]) for k in server.jobs} == ge_jobs(acct) and server.job_count("uge1") == 21
    assert [n for n in server.sizes if n] == [5, 5, 5, 5, 1]  # the old importer's last chunk is not lost
    assert server.paths[-1].endswith("/clusters/uge1/import/univa82")
    assert r.stderr.splitlines() == [
        KEY_WARNING,
        f"logspool compat lava-import-univa82: {acct} -> {server.url}: read 21 records, everything read is delivered"]


@pytest.mark.e2e
def test_a_rerun_resumes_at_its_checkpoint_and_sends_only_new_rows(tmp_path: Path, server: LavaFlowServer) -> None:
    acct = Path(shutil.copy(UG82, tmp_path / "accounting"))
    args = ("lava-import-univa82", "uge1", str(acct), server.url, KEY)
    assert logspool_compat(tmp_path, *args).returncode == 0
    again = logspool_compat(tmp_path, *args)
    assert again.returncode == 0 and "read 0 records" in again.stderr
    assert server.accepted == 21
    last = acct.read_text().splitlines()[-1].split(":")
    last[5] = "999"  # a new job finishes
    with open(acct, "a") as fh:
        fh.write(":".join(last) + "\n")
    assert logspool_compat(tmp_path, *args).returncode == 0
    assert (server.accepted, server.job_count()) == (22, 22)


@pytest.mark.e2e
def test_a_wrong_key_exits_1_keeps_every_row_and_the_right_key_delivers_them(tmp_path: Path,
                                                                           server: LavaFlowServer) -> None:
    acct = Path(shutil.copy(UG82, tmp_path / "accounting"))
    wrong = logspool_compat(tmp_path, "lava-import-univa82", "uge1", str(acct), server.url, "revoked-key")
    assert wrong.returncode == 1
    assert "HTTP 403" in wrong.stderr and "21 records stay in" in wrong.stderr, wrong.stderr
    assert server.statuses[403] == 1 and server.job_count() == 0
    right = logspool_compat(tmp_path, "lava-import-univa82", "uge1", str(acct), server.url, KEY)
    assert right.returncode == 0, right.stderr
    assert (server.accepted, server.job_count()) == (21, 21)
    assert not any(b"revoked-key" in p.read_bytes() or KEY.encode() in p.read_bytes() for p in spooled_files(tmp_path))


def test_a_down_server_is_given_up_on_without_losing_a_row_and_the_next_run_sends_them(
        tmp_path: Path, server: LavaFlowServer) -> None:
    acct = Path(shutil.copy(UG82, tmp_path / "accounting"))
    p = plan(OldCommand("lava-import-univa82", str(acct), server.url, KEY, cluster="uge1"), state(tmp_path))
    fast = p.config.sinks[0].model_copy(update={"retry": RetryPolicy(initial=0.01, max=0.02)})
    p = dataclasses.replace(p, config=p.config.model_copy(update={"sinks": [fast]}))
    server.outage(503)
    down = compat.deliver_once(p, give_up_after=3)
    assert (down.outcome, down.records, down.left, down.refused) == ("gave_up", 21, 21, 0)
    assert "503" in (down.error or "") and server.job_count() == 0
    server.mend()
    up = compat.deliver_once(p, give_up_after=3)
    assert (up.outcome, up.records, up.left, up.refused) == ("delivered", 0, 0, 0)
    assert (server.accepted, server.job_count()) == (21, 21)


TOKEN = re.compile(rb'"(?:[^"]|"")*"|\S+')


def lsb_lines(kind: str) -> list[bytes]:
    """Every line of the real openlava/LSF samples of `kind` (not the deliberately malformed ones)."""
    files = sorted(p for p in (SAMPLES / kind).iterdir() if p.is_file() and p.suffix != ".md"
                   and "invalid" not in p.name and "missing" not in p.name)
    return [line for path in files for line in path.read_bytes().splitlines(keepends=True)]


def lsb_jobs(lines: list[bytes]) -> tuple[set[tuple[int, int]], int]:
    """(jobId, submitTime) of every JOB_NEW and JOB_FINISH, and how many such events: tokenised here."""
    jobs, events = set(), 0
    for line in lines:
        t = TOKEN.findall(line)
        if t and t[0] in (b'"JOB_NEW"', b'"JOB_FINISH"'):
            jobs.add((int(t[3]), int(t[7])))
            events += 1
    return jobs, events


def lsb_log() -> list[bytes]:
    """lsb.events sample lines, then lsb.acct's JOB_FINISH lines (mbatchd writes both kinds to lsb.events)."""
    return lsb_lines("openlava-events") + lsb_lines("openlava-acct")


@pytest.mark.e2e
def test_lava_import_openlava_delivers_each_job_of_lsb_events_once(tmp_path: Path, server: LavaFlowServer) -> None:
    lines = lsb_log()
    events = tmp_path / "lsb.events"
    events.write_bytes(b"".join(lines))
    jobs, sent = lsb_jobs(lines)
    assert (len(jobs), sent) == (88, 90)  # 87 JOB_NEW; 3 JOB_FINISH of one more job
    r = logspool_compat(tmp_path, "lava-import-openlava", str(events), server.url, KEY, "--cluster_name", "ol1")
    assert r.returncode == 0, r.stderr
    assert {(k[1], k[2]) for k in server.jobs} == jobs and server.clusters == {"ol1"}
    assert (server.accepted, server.statuses[500], server.submitted_count()) == (sent, 0, 87)
    assert server.attempt_count() == 1  # the 3 JOB_FINISH lines are one attempt (same job, index and start)
    assert logspool_compat(tmp_path, "lava-import-openlava", str(events), server.url, KEY,
                           "--cluster_name", "ol1").returncode == 0
    assert server.accepted == sent  # the rerun resumed at the end: nothing sent again


@pytest.mark.e2e
def test_skip_leaves_out_the_first_lines_on_the_first_run_only(tmp_path: Path, server: LavaFlowServer) -> None:
    lines = lsb_log()
    events = tmp_path / "lsb.events"
    events.write_bytes(b"".join(lines))
    jobs, sent = lsb_jobs(lines[20:])
    assert sent == 90 - 4
    args = ("lava-import-openlava", str(events), server.url, KEY, "--cluster_name", "ol1", "--skip", "20")
    first = logspool_compat(tmp_path, *args)
    assert first.returncode == 0, first.stderr
    assert ({(k[1], k[2]) for k in server.jobs}, server.accepted) == (jobs, sent)
    again = logspool_compat(tmp_path, *args)
    assert again.returncode == 0 and "warning: --skip 20 ignored" in again.stderr
    assert server.accepted == sent


@pytest.mark.e2e
def test_tail_log_picks_up_appended_lines_and_sigterm_exits_0(tmp_path: Path, server: LavaFlowServer) -> None:
    lines = lsb_log()
    events = tmp_path / "logdir" / "lsb.events"
    events.parent.mkdir()
    events.write_bytes(b"".join(lines[:20]))  # 4 JOB_NEW so far
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"),
           "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    with open(tmp_path / "out.txt", "wb") as out:
        proc = subprocess.Popen([*logspool_command(), "compat", "lava-import-openlava", "--chunk_size", "50",
                                 "--tail_log", "--log_level=info", str(events), server.url, KEY, "--cluster_name",
                                 "ol1"], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        assert wait_until(lambda: server.accepted == 4, 20), (tmp_path / "out.txt").read_text()
        with open(events, "ab") as fh:  # mbatchd appends events
            fh.write(b"".join(lines[20:]))
        assert wait_until(lambda: server.accepted == 90, 20), (tmp_path / "out.txt").read_text()
        assert [n for n in server.sizes if n][0] == 4  # the partial chunk did not wait for 50 records
        assert (len(server.jobs), server.attempt_count()) == (88, 1)
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    output = (tmp_path / "out.txt").read_text()
    assert "Stopped." in output and KEY not in output
