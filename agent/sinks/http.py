"""The `http` sink: sends each batch as one NDJSON (or JSON array) request to an HTTP endpoint.

The NDJSON body is the spooled bytes, unchanged: at 250k records/s re-encoding would
be the agent's main cost. Every answer, and every httpx exception, is mapped to an
`Outcome` here and nowhere else (`outcome_for_response`, `outcome_for_error`), with
Vector's `retry_action` rules: 2xx delivered; 408, 429 and 5xx retried, honouring
Retry-After; 401/403 (credentials) and 404/405 (address) stop the sink; any other 4xx
rejects the batch, and the drain bisects it to find the records at fault.

Secrets (the token, every header value) are held as `SecretStr`, and every reason this
module produces is scrubbed of them, because an endpoint may echo a header back in an
error body and h11 puts an invalid header value into its exception text.
"""
from __future__ import annotations

import email.utils
import gzip as gzip_module
import re
import ssl
import time
from dataclasses import dataclass
from datetime import timezone
from typing import Callable, Literal, Optional, Sequence, TypeVar, Union

import httpx
from pydantic import Field, SecretStr, field_validator, model_validator

from agent.config_path import ConfigPath
from agent.secret import Secret, read_secret_file
from agent.units import Duration

from .base import Batch, Delivered, Misconfigured, Outcome, Reject, Retry, Sink, SinkConfig

#: Longest wait a Retry-After may ask for; a misbehaving endpoint must not park a sink for days.
MAX_RETRY_AFTER = 3600.0
_BODY_CHARS = 200
_CONTENT_TYPES = {"ndjson": "application/x-ndjson", "json_array": "application/json"}
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP header name (RFC 9110 token)
_PRINTABLE = re.compile(r"^[\x20-\x7e\t]*$")
#: Headers the sink sets itself; a configured one would corrupt the request.
_RESERVED = frozenset({"content-length", "content-encoding", "transfer-encoding", "host", "connection"})


class Config(SinkConfig):
    """`[[sinks]]` keys of `type = "http"`.

    Example:

        [[sinks]]
        name = "archive"
        type = "http"
        url = "https://logs.example.org/ingest"
        token = "env:ARCHIVE_TOKEN"
        gzip = true
        headers = { X-Scope-OrgID = "env:ARCHIVE_TENANT" }
    """

    type: Literal["http"] = Field(description='the sink kind: "http" sends each batch as one HTTP request')
    url: str = Field(description='where batches are sent, http:// or https://, e.g. "https://logs.example.org/ingest"')
    encoding: Literal["ndjson", "json_array"] = Field(
        "ndjson", description='the body: "ndjson" (one record per line, application/x-ndjson) or '
                              '"json_array" (one JSON array, application/json); e.g. "json_array"')
    method: Literal["POST", "PUT"] = Field("POST", description='the request method, e.g. "PUT"')
    headers: dict[str, Secret] = Field(
        default_factory=dict,
        description='extra request headers (they may replace Content-Type and User-Agent); every value '
                    'is a secret, so write "env:VAR" or "file:PATH" for credentials, '
                    'e.g. { X-Scope-OrgID = "env:TENANT" }')
    token: Optional[Secret] = Field(
        None, description='sent as "Authorization: Bearer <token>", e.g. "env:ARCHIVE_TOKEN" or '
                          '"file:/etc/logspool/archive.token"')
    token_file: Optional[ConfigPath] = Field(
        None, description="a file whose first line is the bearer token, re-read before every request "
                          'so a rotated token is picked up without a reload, e.g. "/run/secrets/archive-token"')
    gzip: bool = Field(False, description="compress bodies with gzip (Content-Encoding: gzip), e.g. true")
    tls_verify: bool = Field(
        True, description="verify the endpoint's TLS certificate; false only for testing, e.g. false")
    ca_file: Optional[ConfigPath] = Field(
        None, description="PEM file of the CA certificates to trust instead of the system's, "
                          'e.g. "/etc/pki/site-ca.pem"')
    timeout: Duration = Field(
        30.0, gt=0, description='how long to wait to connect, and for each read or write, e.g. "30s"')
    idempotency_header: str = Field(
        "Idempotency-Key", description="the header carrying the batch's deterministic key, which "
                                       "stays the same when a batch is retried, e.g. \"X-Request-Id\"")

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        http_url(url, "https://logs.example.org/ingest", 'use token or headers with "env:VAR"')
        return url

    @field_validator("headers")
    @classmethod
    def _check_headers(cls, headers: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name, value in headers.items():
            if not _TOKEN.match(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if name.lower() in _RESERVED:
                raise ValueError(f"{name} is set by the sink itself")
            if not _PRINTABLE.match(value.get_secret_value()):
                raise ValueError(f"the value of {name} must be printable ASCII")
        return headers

    @field_validator("token")
    @classmethod
    def _check_token(cls, token: Optional[SecretStr]) -> Optional[SecretStr]:
        if token is not None and not _valid_token(token.get_secret_value()):
            raise ValueError("the token must be non-empty printable ASCII")
        return token

    @field_validator("idempotency_header")
    @classmethod
    def _check_idempotency_header(cls, name: str) -> str:
        if not _TOKEN.match(name) or name.lower() in _RESERVED:
            raise ValueError(f'{name!r} is not a header name the sink can set, e.g. "Idempotency-Key"')
        return name

    @model_validator(mode="after")
    def _check_combinations(self) -> Config:
        if self.token is not None and self.token_file is not None:
            raise ValueError("set token or token_file, not both")
        names = {n.lower() for n in self.headers}
        if "authorization" in names and (self.token is not None or self.token_file is not None):
            raise ValueError("headers.Authorization and token/token_file both set the Authorization header")
        if self.idempotency_header.lower() in names:
            raise ValueError(f"headers.{self.idempotency_header} is set by the sink (idempotency_header)")
        if self.ca_file is not None and not self.tls_verify:
            raise ValueError("ca_file has no effect with tls_verify = false")
        return self


@dataclass(frozen=True)
class Request:
    """An encoded batch: the body as it goes on the wire and the batch's idempotency key."""

    body: bytes
    key: str


class HttpSink:
    """One endpoint over one keep-alive `httpx.Client`.

    `client` is the seam for tests (`httpx.Client(transport=httpx.MockTransport(...))`);
    a client passed in belongs to the caller and is not closed here. Without one, the
    client is built on the first send, so an unreadable `ca_file` becomes a
    `Misconfigured` outcome rather than an exception out of `open()`. `clock` gives
    "now" for Retry-After dates.
    """

    def __init__(self, config: Config, client: Optional[httpx.Client] = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._config = config
        self._client = client
        self._owns_client = client is None
        self._clock = clock
        self._headers = {"Content-Type": _CONTENT_TYPES[config.encoding], "User-Agent": "logspool"}
        if config.gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._headers.update((k, v.get_secret_value()) for k, v in config.headers.items())
        if config.token is not None:
            self._headers["Authorization"] = f"Bearer {config.token.get_secret_value()}"
        self._secrets = [v.get_secret_value() for v in config.headers.values()]
        if config.token is not None:
            self._secrets.append(config.token.get_secret_value())

    def encode(self, batch: Batch) -> Request:
        """The request body for `batch` (pure: the same batch always gives the same bytes)."""
        if self._config.encoding == "ndjson":
            body = batch.ndjson()
        else:
            body = b"[" + b",".join(r.rstrip(b"\n") for r in batch.records) + b"]"
        if self._config.gzip:
            # Level 1: at 75 MB/s of records the default level would cost a core; JSON logs
            # still shrink ~8x. mtime=0 keeps the output a function of the input.
            body = gzip_module.compress(body, compresslevel=1, mtime=0)
        return Request(body, batch.key())

    def send(self, payload: object) -> Outcome:
        """One request; every answer and every failure comes back as an Outcome."""
        assert isinstance(payload, Request)
        headers = dict(self._headers)
        headers[self._config.idempotency_header] = payload.key
        secrets = self._secrets
        if self._config.token_file is not None:
            token = _read_token_file(str(self._config.token_file))
            if isinstance(token, Misconfigured):
                return token
            headers["Authorization"] = f"Bearer {token}"
            secrets = [*secrets, token]
        client = self._client
        if client is None:
            try:
                client = self._client = build_client(self._config.tls_verify, self._config.ca_file,
                                                           self._config.timeout)
            except OSError as exc:  # ssl.SSLError is an OSError
                return Misconfigured(f"cannot load ca_file {self._config.ca_file}: {exc}")
        try:
            response = client.request(self._config.method, self._config.url,
                                      content=payload.body, headers=headers)
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            return outcome_for_error(exc, self._config.timeout, scrubber(secrets))
        return outcome_for_response(response, self._clock(), scrubber(secrets))

    def close(self) -> None:
        """Close the connection pool, if this sink built it."""
        if self._owns_client and self._client is not None:
            self._client.close()
            self._client = None


def open(config: SinkConfig) -> Sink:
    """An http sink for a validated `Config`."""
    assert isinstance(config, Config)
    return HttpSink(config)


def outcome_for_response(response: httpx.Response, now: float, scrub: Callable[[str], str] = str) -> Outcome:
    """What the drain should do with the endpoint's answer (Vector's `retry_action`).

    `scrub` is applied to the text the endpoint chose (body, Location), which may echo
    a header we sent.
    """
    status = response.status_code
    if 200 <= status < 300:
        return Delivered()
    text = " ".join(response.content[:4 * _BODY_CHARS].decode("utf-8", "replace")[:_BODY_CHARS].split())
    text = scrub(text)
    reason = f"HTTP {status}: {text or response.reason_phrase}"
    if status in (408, 429) or status >= 500:
        return Retry(reason, after=retry_after(response.headers.get("Retry-After"), now))
    if status in (401, 403):
        return Misconfigured(f"{reason} (the endpoint refuses the credentials: check token, token_file and headers)")
    if status in (404, 405):
        return Misconfigured(f"{reason} (check url and method)")
    if 300 <= status < 400:
        where = scrub(response.headers.get("Location", "elsewhere"))
        return Misconfigured(f"{reason} (the endpoint redirects to {where}: set url to the final address)")
    if 400 <= status < 500:
        return Reject(reason)
    return Retry(reason)


def outcome_for_error(exc: Exception, timeout: float, scrub: Callable[[str], str] = str) -> Outcome:
    """What the drain should do when no answer came (httpx's transport exceptions).

    `scrub` is applied to exception text, which may quote a header value (h11 does).
    """
    text = scrub(str(exc) or type(exc).__name__)
    if isinstance(exc, httpx.TimeoutException):
        return Retry(f"no answer within {timeout:g}s ({type(exc).__name__})")
    cert = _cause(exc, ssl.SSLCertVerificationError)
    if cert is not None:
        detail = cert.verify_message or str(cert)
        return Retry(f"TLS verification failed: {detail} (set ca_file to the endpoint's CA)")
    tls = _cause(exc, ssl.SSLError)
    if tls is not None:
        return Retry(f"TLS handshake failed: {scrub(str(tls))}")
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL)):
        return Misconfigured(f"cannot build the request: {text}")
    if isinstance(exc, httpx.ConnectError):
        return Retry(f"cannot connect: {text}")
    return Retry(f"{type(exc).__name__}: {text}")


def retry_after(value: Optional[str], now: float) -> Optional[float]:
    """Seconds to wait from a Retry-After value (delta seconds or HTTP-date), at most an hour."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = when.timestamp() - now
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def http_url(url: str, example: str, credentials: str) -> httpx.URL:
    """`url` parsed, or ValueError unless it is http(s) with a host and no user:password in it
    (which would show in logs and status); `credentials` says where they go instead. Every
    HTTP sink's `url` rule starts here and adds its own (no path, no query...)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValueError(f'expected an http:// or https:// URL, e.g. "{example}" ({exc})') from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f'expected an http:// or https:// URL with a host, e.g. "{example}"')
    if parsed.userinfo:
        raise ValueError(f"credentials in the URL would show in logs and status; {credentials}")
    return parsed


def build_client(tls_verify: bool, ca_file: Optional[ConfigPath], timeout: float) -> httpx.Client:
    """A keep-alive client with the sink's TLS settings; never follows redirects (a sink that
    is redirected is misconfigured). Raises OSError (ssl.SSLError) for an unreadable ca_file."""
    verify: Union[ssl.SSLContext, bool] = tls_verify
    if tls_verify and ca_file is not None:
        verify = ssl.create_default_context(cafile=str(ca_file))
    return httpx.Client(verify=verify, timeout=httpx.Timeout(timeout), follow_redirects=False)


def _read_token_file(path: str) -> Union[str, Misconfigured]:
    try:
        token = read_secret_file(path)
    except ValueError as exc:
        return Misconfigured(f"token_file: {exc}")
    if not _valid_token(token):
        return Misconfigured(f"token_file {path}: the first line must be a non-empty printable ASCII token")
    return token


def _valid_token(token: str) -> bool:
    return bool(token.strip()) and bool(_PRINTABLE.match(token))


_E = TypeVar("_E", bound=BaseException)


def _cause(exc: BaseException, kind: type[_E]) -> Optional[_E]:
    """The first exception of `kind` in the cause/context chain (httpx wraps httpcore wraps ssl)."""
    seen: set[int] = set()
    current: Optional[BaseException] = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def scrubber(secrets: Sequence[str]) -> Callable[[str], str]:
    """Replaces every secret value in a text with "***", longest first (one may contain another)."""
    ordered = sorted((s for s in secrets if s), key=len, reverse=True)

    def scrub(text: str) -> str:
        for secret in ordered:
            text = text.replace(secret, "***")
        return text
    return scrub
