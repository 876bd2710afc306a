"""The http sink: the exact bytes it sends, and the Outcome it makes of every answer.

Status mapping and body encoding go through `httpx.MockTransport` (the sink's client
seam); connection failures, timeouts, TLS and a full delivery use a real stdlib
`http.server` on 127.0.0.1, so the httpx exceptions the sink maps are the real ones.
"""
from __future__ import annotations

import gzip
import json
import shutil
import socket
import ssl
import subprocess
import threading
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest
from pydantic import ValidationError

from agent.envelope import EnvelopeEncoder, file_record_id
from agent.sinks import SINKS, Batch, Delivered, Misconfigured, Outcome, Reject, Retry, Sink
from agent.sinks.http import Config, HttpSink, Request
from parsers import Parsed

NOW = 1714564800.0
TOKEN = "s3cret-T0ken"


def make_batch(n: int = 3, first: int = 0) -> Batch:
    encoder = EnvelopeEncoder("transfers", "lines", "headnode1", "hpc1")
    lines = [f"2024-05-01T12:00:{i % 60:02d} transfer {i} ok".encode() for i in range(first, first + n)]
    return Batch([encoder.encode(file_record_id("transfers", "fp1", i * 40, line),
                                 Parsed("line", NOW + i, {"line": line.decode()}))
                  for i, line in enumerate(lines, start=first)])


def config(url: str = "http://archive.test/ingest", **keys: Any) -> Config:
    return Config.model_validate({"name": "archive", "type": "http", "url": url, **keys})


def mock_sink(handler: Callable[[httpx.Request], httpx.Response], **keys: Any) -> HttpSink:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return HttpSink(config(**keys), client=client, clock=lambda: NOW)


def send(sink: Sink, batch: Batch) -> Outcome:
    return sink.send(sink.encode(batch))


def recorder(seen: list[httpx.Request]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)
    return handler


class Server:
    """A real HTTP(S) server on 127.0.0.1: `answer(handler)` -> (status, body) per request."""

    def __init__(self, answer: Callable[[BaseHTTPRequestHandler], tuple[int, bytes]]) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append((dict(self.headers), body))
                status, reply = answer(self)
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/ingest"

    def __enter__(self) -> Server:
        threading.Thread(target=self.httpd.serve_forever, args=(0.01,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem"), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return d / "cert.pem", d / "key.pem"


def test_the_body_is_the_spooled_ndjson_with_its_content_type_and_idempotency_key() -> None:
    seen: list[httpx.Request] = []
    sink, batch = mock_sink(recorder(seen)), make_batch()
    assert send(sink, batch) == Delivered()
    assert send(sink, batch) == Delivered()
    assert seen[0].content == batch.ndjson() and seen[0].headers["Content-Type"] == "application/x-ndjson"
    assert seen[0].headers["Idempotency-Key"] == seen[1].headers["Idempotency-Key"] == batch.key()


def test_a_gzip_body_decompresses_to_the_ndjson() -> None:
    seen: list[httpx.Request] = []
    batch = make_batch()
    send(mock_sink(recorder(seen), gzip=True), batch)
    assert seen[0].headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(seen[0].content) == batch.ndjson()


def test_a_json_array_body_parses_to_the_records() -> None:
    seen: list[httpx.Request] = []
    batch = make_batch()
    send(mock_sink(recorder(seen), encoding="json_array", method="PUT"), batch)
    assert seen[0].method == "PUT" and seen[0].headers["Content-Type"] == "application/json"
    assert json.loads(seen[0].content) == [json.loads(r) for r in batch.records]


IN_TWO_MINUTES = formatdate(NOW + 120, usegmt=True)


@pytest.mark.parametrize("status, headers, kind, after", [
    (200, {}, Delivered, None), (201, {}, Delivered, None), (204, {}, Delivered, None),
    (400, {}, Reject, None), (401, {}, Misconfigured, None), (403, {}, Misconfigured, None),
    (404, {}, Misconfigured, None), (408, {}, Retry, None), (413, {}, Reject, None),
    (429, {"Retry-After": "7"}, Retry, 7.0), (500, {}, Retry, None),
    (503, {"Retry-After": IN_TWO_MINUTES}, Retry, 120.0),
])
def test_each_status_maps_to_its_outcome(status: int, headers: dict[str, str], kind: type, after: Any) -> None:
    outcome = send(mock_sink(lambda request: httpx.Response(status, headers=headers)), make_batch())
    assert type(outcome) is kind
    assert getattr(outcome, "after", None) == after
    assert kind is Delivered or getattr(outcome, "reason").startswith(f"HTTP {status}: ")


def test_a_rejection_carries_the_first_200_characters_of_the_body_and_no_ids() -> None:
    outcome = send(mock_sink(lambda request: httpx.Response(400, text="bad record " + "x" * 300)), make_batch())
    assert outcome == Reject("HTTP 400: bad record " + "x" * 189, record_ids=None)


def test_a_retry_after_of_a_day_is_capped_at_an_hour() -> None:
    outcome = send(mock_sink(lambda request: httpx.Response(429, headers={"Retry-After": "86400"})), make_batch())
    assert outcome == Retry("HTTP 429: Too Many Requests", after=3600.0)


def test_a_closed_port_is_retried() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    outcome = send(SINKS["http"].open(config(f"http://127.0.0.1:{port}/ingest")), make_batch())
    assert isinstance(outcome, Retry) and outcome.reason.startswith("cannot connect: ")


def test_a_server_slower_than_the_timeout_is_retried() -> None:
    release = threading.Event()
    with Server(lambda handler: (release.wait(10), (200, b""))[1]) as server:
        sink = SINKS["http"].open(config(server.url, timeout="200ms"))
        outcome = send(sink, make_batch())
        release.set()
        sink.close()
    assert outcome == Retry("no answer within 0.2s (ReadTimeout)")


def test_an_env_token_reaches_a_real_server_as_bearer_authorization(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHIVE_TOKEN", TOKEN)
    batch = make_batch()
    with Server(lambda handler: (200, b"ok")) as server:
        sink = SINKS["http"].open(config(server.url, token="env:ARCHIVE_TOKEN"))
        assert send(sink, batch) == Delivered()
        sink.close()
    headers, body = server.requests[0]
    assert headers["Authorization"] == f"Bearer {TOKEN}" and body == batch.ndjson()


@pytest.mark.parametrize("status", [400, 401, 503])
def test_secrets_never_appear_in_the_config_repr_or_an_outcome(status: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHIVE_TOKEN", TOKEN)
    monkeypatch.setenv("TENANT", "tenant-Secret")
    keys: dict[str, Any] = {"token": "env:ARCHIVE_TOKEN", "headers": {"X-Tenant": "env:TENANT"}}
    echo = lambda request: httpx.Response(status, text=f"{request.headers['Authorization']} {request.headers['X-Tenant']}")
    outcome = send(mock_sink(echo, **keys), make_batch())
    assert not isinstance(outcome, Delivered)
    text = f"{config(**keys)!r} {outcome} {outcome.reason}"
    assert TOKEN not in text and "tenant-Secret" not in text and "***" in outcome.reason


def test_a_failed_request_does_not_show_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHIVE_TOKEN", TOKEN)
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused, sent {request.headers['Authorization']}", request=request)
    outcome = send(mock_sink(refuse, token="env:ARCHIVE_TOKEN"), make_batch())
    assert outcome == Retry("cannot connect: refused, sent Bearer ***")


def test_a_file_secret_and_a_token_file_both_give_the_bearer_token(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(f"{TOKEN}\nignored second line\n")
    seen: list[httpx.Request] = []
    send(mock_sink(recorder(seen), token=f"file:{tmp_path / 'token'}"), make_batch())
    send(mock_sink(recorder(seen), token_file=str(tmp_path / "token")), make_batch())
    assert [r.headers["Authorization"] for r in seen] == [f"Bearer {TOKEN}"] * 2


def test_a_missing_token_file_is_misconfigured(tmp_path: Path) -> None:
    outcome = send(mock_sink(recorder([]), token_file=str(tmp_path / "absent")), make_batch())
    assert outcome == Misconfigured(f"token_file: cannot read secret file {tmp_path / 'absent'}: No such file or directory")


def test_a_self_signed_certificate_is_retried_unless_ca_file_trusts_it(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    with Server(lambda handler: (200, b"")) as server:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.httpd.socket = context.wrap_socket(server.httpd.socket, server_side=True)
        url = server.url.replace("http:", "https:")
        refused = send(SINKS["http"].open(config(url)), make_batch())
        trusted = send(SINKS["http"].open(config(url, ca_file=str(cert))), make_batch())
    assert isinstance(refused, Retry) and refused.reason.startswith("TLS verification failed: self-signed certificate")
    assert trusted == Delivered()


def test_an_unreadable_ca_file_is_misconfigured(tmp_path: Path) -> None:
    outcome = send(SINKS["http"].open(config(ca_file=str(tmp_path / "ca.pem"))), make_batch())
    assert isinstance(outcome, Misconfigured) and outcome.reason.startswith(f"cannot load ca_file {tmp_path / 'ca.pem'}: ")


@pytest.mark.parametrize("keys, message", [
    ({"url": "ftp://archive.test/"}, "expected an http:// or https:// URL with a host"),
    ({"url": "https://user:pw@archive.test/"}, "credentials in the URL would show in logs and status"),
    ({"token": "a", "token_file": "/run/token"}, "set token or token_file, not both"),
    ({"headers": {"Content-Length": "1"}}, "Content-Length is set by the sink itself"),
    ({"headers": {"X-Tenant": "two\nlines"}}, "the value of X-Tenant must be printable ASCII"),
    ({"ca_file": "/etc/ca.pem", "tls_verify": False}, "ca_file has no effect with tls_verify = false"),
    ({"timeout": "0s"}, "greater than 0"),
])
def test_config_mistakes_are_refused_with_a_reason(keys: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Config.model_validate({"name": "archive", "type": "http", "url": "http://archive.test/", **keys})


def test_encode_is_pure() -> None:
    sink, batch = mock_sink(recorder([]), gzip=True), make_batch()
    assert sink.encode(batch) == sink.encode(make_batch()) == Request(sink.encode(batch).body, batch.key())


def test_a_short_header_value_is_scrubbed_from_the_body_but_not_from_the_status() -> None:
    outcome = send(mock_sink(lambda request: httpx.Response(401, text="tenant 1 unknown"),
                             headers={"X-Scope-OrgID": "1"}), make_batch())
    assert isinstance(outcome, Misconfigured) and outcome.reason.startswith("HTTP 401: tenant *** unknown (")
