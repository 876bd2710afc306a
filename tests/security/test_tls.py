"""TLS is verified by default for every sink that speaks HTTPS (http, lavaflow, esmond,
perfsonar: one client builder, agent.sinks.http.build_client): an endpoint with a self-signed
certificate is refused with the certificate problem in `status`, under the sink's name, and
nothing is delivered; once `ca_file` names the certificate, everything is.

tests/agent/sinks/test_http.py holds the http sink's own unit test of this; here the real
`logspool run` drives all four sink types against the test doubles served over TLS.
"""
from __future__ import annotations

import json
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.doubles.esmond import EsmondServer
from tests.doubles.http_receiver import HttpReceiver
from tests.doubles.lavaflow import LavaFlowServer
from tests.doubles.perfsonar import PerfsonarArchive
from tests.e2e.conftest import REPO, Agent, wait_until, write_config

pytestmark = pytest.mark.e2e

SAMPLES = REPO / "tests" / "parsers" / "samples"
FAST = {"retry": {"initial": "100ms", "max": "500ms"}}


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem"), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return d / "cert.pem", d / "key.pem"


def _tls(double: Any, certificate: tuple[Path, Path]) -> str:
    """Serve `double` over TLS with the self-signed certificate; its https URL."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    double._server.socket = context.wrap_socket(double._server.socket, server_side=True)
    return str(double.url).replace("http://", "https://")


@pytest.fixture
def doubles(certificate: tuple[Path, Path]) -> Iterator[dict[str, Any]]:
    made: dict[str, Any] = {"rx": HttpReceiver(), "lava": LavaFlowServer(keys=("lava-key",)),
            "esm": EsmondServer(tokens={"esm-key": "logspool"}), "ps": PerfsonarArchive()}
    yield made
    for d in made.values():
        d.stop()


def _site(tmp_path: Path, urls: dict[str, str], ca_file: str = "") -> Agent:
    for name, sample in (("app.log", "lines/pittcrc_readme_example.log"),
                         ("lsb.acct", "openlava-acct/xdmod_lsf9_accounting-logs.log"),
                         ("gridftp.log", "gridftp/esmond-docs-lbl-diskpt1-transfer-retrans.log")):
        shutil.copy(SAMPLES / sample, tmp_path / name)
    ca = {"ca_file": ca_file} if ca_file else {}
    config = tmp_path / "agent.toml"
    write_config(
        config, {"spool": str(tmp_path / "spool.db"), "poll_interval": "100ms", "cluster": "hpc1"},
        [{"name": "app", "type": "file", "paths": [str(tmp_path / "app.log")], "format": "lines", "sinks": ["rx"]},
         {"name": "acct", "type": "file", "paths": [str(tmp_path / "lsb.acct")], "format": "openlava-acct",
          "sinks": ["lava"]},
         {"name": "xfer", "type": "file", "paths": [str(tmp_path / "gridftp.log")], "format": "gridftp",
          "sinks": ["esm", "ps"]}],
        [{"name": "rx", "type": "http", "url": urls["rx"], **ca, **FAST},
         {"name": "lava", "type": "lavaflow", "url": urls["lava"], "key": "env:LAVA_KEY", **ca, **FAST},
         {"name": "esm", "type": "esmond", "url": urls["esm"], "key": "env:ESM_KEY",
          "measurement_agent": "127.0.0.1", **ca, **FAST},
         {"name": "ps", "type": "perfsonar", "url": urls["ps"], "username": "perfsonar",
          "password": "env:PS_PASSWORD", **ca, **FAST}])
    agent = Agent(tmp_path, config, tmp_path / "spool.db", tmp_path / "app.log")
    agent.env.update(LAVA_KEY="lava-key", ESM_KEY="esm-key", PS_PASSWORD="proxy-pass")
    return agent


def _errors(agent: Agent) -> dict[str, str]:
    """Each sink's last error; none yet while the daemon has not created its spool (a slow start)."""
    r = agent.cli("status", "--json")
    if r.returncode != 0:
        assert "no spool at" in r.stderr, r.stderr
        return {}
    return {s["name"]: str(s.get("last_error") or "") for s in json.loads(r.stdout)["sinks"]}


def _delivered(doubles: dict[str, Any]) -> dict[str, bool]:
    return {"rx": bool(doubles["rx"].unique_ids()), "lava": doubles["lava"].accepted > 0,
            "esm": any(200 <= code < 300 for code in doubles["esm"].statuses),
            "ps": bool(doubles["ps"].documents)}


def _running(agent: Agent, until: Callable[[], bool]) -> None:
    agent.start()
    try:
        assert wait_until(until, 40, step=0.25), agent.output_tail()
    finally:
        assert agent.term() == 0, agent.output_tail()


def test_every_https_sink_refuses_a_self_signed_certificate_until_ca_file_trusts_it(
        tmp_path: Path, doubles: dict[str, Any], certificate: tuple[Path, Path]) -> None:
    urls = {name: _tls(d, certificate) for name, d in doubles.items()}
    agent = _site(tmp_path, urls)
    errors: dict[str, str] = {}

    def all_refused() -> bool:
        errors.update(_errors(agent))
        return all("certificate" in errors.get(name, "") for name in urls)

    _running(agent, all_refused)
    for name in urls:
        assert "TLS verification failed: self-signed certificate" in errors[name], (name, errors[name])
    assert _delivered(doubles) == dict.fromkeys(urls, False)
    text = agent.cli("status").stdout
    assert all(name in text for name in urls) and "self-signed certificate" in text, text
    log = agent.output.read_text().splitlines()
    for name in urls:  # the daemon's log names the sink beside the certificate problem
        assert any(f"sink={name} " in line and "self-signed certificate" in line for line in log), name

    agent = _site(tmp_path, urls, ca_file=str(certificate[0]))
    _running(agent, lambda: all(_delivered(doubles).values()))
