"""The old esmond clients' command lines, run as cron, logrotate and bwctl wrappers ran them."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from agent.compat import CompatError
from agent.compat_esmond import split_url
from tests.doubles.esmond import EsmondServer
from tests.e2e.conftest import logspool_command

BWCTL = Path(__file__).parents[2] / "parsers" / "samples" / "bwctl-iperf3" / "synthetic-third-party-tcp-2streams-gmt.txt"
LINE = ("DATE=2015040714{m}45.113944 HOST=192.0.2.1 PROG=globus-gridftp-server NL.EVNT=FTP_INFO "
        "START=2015040714{m}36.596363 USER=anonymous FILE=/data1/my file=x{m}.dat BUFFER=87380 BLOCK=262144 "
        "NBYTES=100000000 VOLUME=/ STREAMS=5 STRIPES=1 DEST=[192.100.78.81] TYPE={t} CODE={c}\n")


def log_of(path: Path, *rows: tuple[str, str, int]) -> Path:
    path.write_text("".join(LINE.format(m=m, t=t, c=c) for m, t, c in rows))
    return path


def compat(tmp: Path, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, XDG_STATE_HOME=str(tmp / "state"))
    return subprocess.run([*logspool_command(), "compat", *args], env=env, input=stdin.decode(), capture_output=True,
                          text=True, timeout=120, cwd=tmp)


@pytest.fixture
def esmond() -> Iterator[EsmondServer]:
    server = EsmondServer(tokens={"sekrit-token": "gridftp"})
    yield server
    server.stop()


def throughput(server: EsmondServer) -> dict[int, int]:
    return {ts: v for key in server.metadata_keys() for ts, v in server.points(key, "throughput").items()}


def puts(server: EsmondServer) -> int:
    return sum(1 for r in server.requests if r.method == "PUT")


def test_a_cron_rerun_resumes_at_its_checkpoint_and_sends_only_new_transfers(tmp_path: Path,
                                                                             esmond: EsmondServer) -> None:
    log = log_of(tmp_path / "gridftp.log", ("40", "RETR", 226), ("50", "STOR", 426))
    r = compat(tmp_path, "esmond-ps-load-gridftp", "-f", str(log), "-U", esmond.url + "/esmond", "-u", "gridftp",
               "-k", "sekrit-token")
    assert r.returncode == 0, r.stderr
    assert "visible to every user" in r.stderr and "read 2 records, everything read is delivered" in r.stderr
    assert throughput(esmond) == {1428417636: 93923380}  # 8e8 bit over 8.517581 s, at START
    failures = [v for key in esmond.metadata_keys() for v in esmond.points(key, "failures").values()]
    assert failures == [{"error": "426 Connection closed; transfer aborted."}]
    sent = puts(esmond)
    with open(log, "a") as fh:
        fh.write(LINE.format(m="55", t="RETR", c=226))
    r = compat(tmp_path, "esmond-ps-load-gridftp", "-f", str(log), "-U", esmond.url + "/esmond", "-u", "gridftp",
               "-k", "sekrit-token")
    assert r.returncode == 0 and "read 1 records" in r.stderr
    assert sorted(throughput(esmond)) == [1428417636, 1428418536]
    assert puts(esmond) == sent + 1


def test_dont_write_resends_everything_and_the_archive_stores_it_once(tmp_path: Path, esmond: EsmondServer) -> None:
    log = log_of(tmp_path / "gridftp.log", ("40", "RETR", 226), ("41", "RETR", 226))
    for _ in range(2):
        r = compat(tmp_path, "esmond-ps-load-gridftp", "-f", str(log), "-d", "-U", esmond.url, "-s", "/esmond",
                   "-k", "sekrit-token")
        assert r.returncode == 0, r.stderr
        assert "read 2 records" in r.stderr
    assert len(throughput(esmond)) == 2 and esmond.archive.conflicts >= 1
    assert not (tmp_path / "state").exists()  # -d remembers nothing


def test_single_sends_the_next_line_only(tmp_path: Path, esmond: EsmondServer) -> None:
    log = log_of(tmp_path / "gridftp.log", ("40", "RETR", 226), ("41", "RETR", 226), ("42", "RETR", 226))
    state = tmp_path / "load_grid_ftp.pickle"
    for expected in (1, 2):
        r = compat(tmp_path, "esmond-ps-load-gridftp", "-f", str(log), "-S", "-p", str(state), "-U",
                   esmond.url + "/esmond", "-k", "sekrit-token")
        assert r.returncode == 0, r.stderr
        assert len(throughput(esmond)) == expected
    assert Path(str(state) + ".sqlite").exists() and not state.exists()


def test_a_wrong_key_stops_without_printing_it_and_the_next_run_delivers(tmp_path: Path,
                                                                         esmond: EsmondServer) -> None:
    log = log_of(tmp_path / "gridftp.log", ("40", "RETR", 226))
    r = compat(tmp_path, "esmond-ps-load-gridftp", "-f", str(log), "-U", esmond.url + "/esmond", "-k", "wrong-key")
    assert r.returncode == 1
    assert "401" in r.stderr and "1 records stay in" in r.stderr
    assert "wrong-key" not in r.stderr.replace("-k KEY", "")
    r = compat(tmp_path, "esmond-ps-load-gridftp", "-f", str(log), "-U", esmond.url + "/esmond", "-k", "sekrit-token")
    assert r.returncode == 0, r.stderr
    assert list(throughput(esmond)) == [1428417636]


def test_bad_command_lines_exit_2_as_the_old_tools_did(tmp_path: Path, esmond: EsmondServer) -> None:
    log = log_of(tmp_path / "gridftp.log", ("40", "RETR", 226))
    r = compat(tmp_path, "esmond-ps-load-gridftp", "-U", esmond.url)
    assert r.returncode == 2 and "Filename is required" in r.stderr
    r = compat(tmp_path, "esmond-ps-load-gridftp", "-f", str(log), "-l", str(tmp_path / "nowhere"), "-k", "x")
    assert r.returncode == 2 and "log path does not exist" in r.stderr
    r = compat(tmp_path, "esmond-ps-pipe", "-U", esmond.url, "-k", "sekrit-token")
    assert r.returncode == 2 and "both --user and --key args are required" in r.stderr
    r = compat(tmp_path, "esmond-ps-load-gridftp", "-f", str(log), "-U", esmond.url)
    assert r.returncode == 2 and "-k: esmond needs an API key" in r.stderr


def test_log_dir_gets_the_log_instead_of_stderr(tmp_path: Path, esmond: EsmondServer) -> None:
    log = log_of(tmp_path / "gridftp.log", ("40", "RETR", 226))
    (tmp_path / "logs").mkdir()
    r = compat(tmp_path, "esmond-ps-load-gridftp", "-f", str(log), "-v", "-l", str(tmp_path / "logs"), "-U",
               esmond.url + "/esmond", "-k", "file:" + str(_key_file(tmp_path)))
    assert r.returncode == 0, r.stderr
    assert "visible to every user" not in r.stderr  # file:PATH keeps the key out of ps
    assert (tmp_path / "logs" / "esmond-ps-load-gridftp.log").stat().st_size > 0


def _key_file(tmp: Path) -> Path:
    key = tmp / "esmond.key"
    key.write_text("sekrit-token\n")
    return key


def test_esmond_ps_pipe_archives_a_bwctl_run_from_stdin(tmp_path: Path, esmond: EsmondServer) -> None:
    r = compat(tmp_path, "esmond-ps-pipe", "-U", esmond.url + "/esmond", "-u", "bwctl", "-k", "sekrit-token",
               stdin=BWCTL.read_bytes())
    assert r.returncode == 0, r.stderr
    (key,) = esmond.metadata_keys()
    assert list(esmond.points(key, "throughput").values()) and esmond.points(key, "throughput-subintervals")
    r = compat(tmp_path, "esmond-ps-pipe", "-U", esmond.url + "/esmond", "-u", "bwctl", "-k", "sekrit-token",
               stdin=b"bwctl: Using tool: iperf3\nno results\n")
    assert r.returncode == 65 and "kept as a dead letter" in r.stderr


@pytest.mark.parametrize("url, alias, expected", [
    ("https://ma.example.org/esmond", "/", ("https://ma.example.org", "/esmond")),
    ("http://localhost:8000", "/esmond/", ("http://localhost:8000", "/esmond")),
    ("http://localhost:8000/", "/", ("http://localhost:8000", "/")),
    ("https://ma.example.org:8443/ps/", "esmond", ("https://ma.example.org:8443", "/ps/esmond")),
])
def test_url_and_script_alias_are_joined_as_the_old_clients_joined_them(url: str, alias: str,
                                                                        expected: tuple[str, str]) -> None:
    assert split_url(url, alias) == expected


def test_a_url_that_is_not_http_names_the_flag() -> None:
    with pytest.raises(CompatError, match="-U: expected an http"):
        split_url("ftp://ma.example.org", "/")


def test_delete_state_in_prerotate_then_the_new_file_is_read_from_its_start(tmp_path: Path,
                                                                           esmond: EsmondServer) -> None:
    log = log_of(tmp_path / "gridftp.log", ("40", "RETR", 226))
    args = ("esmond-ps-load-gridftp", "-D", "-f", str(log), "-U", esmond.url + "/esmond", "-k", "sekrit-token")
    assert compat(tmp_path, *args).returncode == 0
    with open(log, "a") as fh:  # written just before logrotate runs: prerotate must send it
        fh.write(LINE.format(m="41", t="RETR", c=226))
    r = compat(tmp_path, *args)
    assert r.returncode == 0 and "read 1 records" in r.stderr
    log.rename(tmp_path / "gridftp.log.1")  # logrotate's create mode
    log_of(log, ("50", "STOR", 226))        # the server's next transfers, in a new file
    r = compat(tmp_path, "esmond-ps-load-gridftp", "-f", str(log), "-U", esmond.url + "/esmond", "-k",
               "sekrit-token")
    assert r.returncode == 0 and "read 1 records" in r.stderr
    assert sorted(throughput(esmond)) == [1428417636, 1428417696, 1428418236]
