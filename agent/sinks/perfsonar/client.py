"""The `perfsonar` sink: PUTs each batch of results to a perfSONAR 5 archive's Logstash and classifies the answer.

The request is psConfig's http archiver's (perfsonar/archive: perfsonar-archive/
perfsonar-archive/opensearch-scripts/psconfig_archive.sh @455622ea): `PUT https://<host>/logstash`,
`Content-Type: application/json`, `x-ps-observer: <this host>`, `Authorization: Basic …`.
One difference: the body is a JSON array of results, not one result per request. The
archive's Logstash `http` input decodes application/json with the json codec, and "if the
data being sent is a JSON array at its root multiple events will be created (one per
element)" (logstash-plugins/logstash-codec-json: lib/logstash/codecs/json.rb @6e411807), each
carrying the request's headers (logstash-input-http: lib/logstash/inputs/http.rb,
`push_decoded_event`), so every element goes through the pipeline exactly as a lone PUT
would. One request per result, as pScheduler sends, would cost a TLS round trip per GridFTP
transfer and make a backfill of a year's transfer log take hours. `batch_records` (default
100) bounds the array.

Answers, as Apache (config/apache/apache-logstash.conf @87554754) and the http input
(logstash-input-http: src/main/java/.../MessageProcessor.java @09d9b8f6, HttpInitializer.java
@38145218) give them, and what the drain is told:

    2xx ("ok")                      Delivered (the events are queued in Logstash)
    401 (Apache Basic auth), 403    Misconfigured: check username/password; nothing dead-lettered
    404, 405, 410                   Misconfigured: check url
    301/302/307/308                 Misconfigured, naming the Location (often http:// -> https://)
    413 (LimitRequestBody, the      Reject: the drain bisects, smaller requests pass; a single
         input's max_content_length)        result still too large is dead-lettered
    400, other 4xx                  Reject: the drain bisects to the record at fault
    408, 429 (the input is busy),   Retry, honouring Retry-After
    5xx (502/503/504: Apache cannot
    reach Logstash), timeouts, no answer

Logstash answers 200 before its filters run, so a result the pipeline drops (no test.type, a
field OpenSearch cannot map) still counts as delivered; result.py builds only what the
pipeline keeps, and tests/doubles/perfsonar.py refuses the rest to prove it. The password is
scrubbed from every reason, as written and in its Basic-auth form.
"""
from __future__ import annotations

import base64
import re
import socket
import time
from typing import Callable, Optional, Union

import httpx

from agent.secret import read_secret_file

from ..base import Batch, Delivered, Misconfigured, Outcome, Reject, Retry, Sink, SinkConfig
from ..http import build_client, outcome_for_error, retry_after, scrubber
from .config import Config, loopback, valid_observer, valid_password
from .result import Encoded, encode_lines

_BODY_CHARS = 200
_TAG = re.compile(r"<[^>]*>")
_CREDENTIALS = "check username and password_file (or password)"


def default_observer() -> str:
    """This host's fully-qualified name: what psConfig's `{% scheduled_by_address %}` names.

    A name rather than an address: the archive resolves it (pscheduler_normalize_endpoints.rb,
    `handle_observer`) to meta.observer.ip and .hostname, and a name survives renumbering.
    """
    name = socket.getfqdn()
    return name if name and not loopback(name) else socket.gethostname()


class PerfsonarSink:
    """One perfSONAR 5 archive over one keep-alive `httpx.Client`.

    `client` is the seam for tests; a client passed in belongs to the caller. `hostname`
    gives the observer when the config has none (read once, here, so that encode stays pure).
    """

    def __init__(self, config: Config, client: Optional[httpx.Client] = None,
                 clock: Callable[[], float] = time.time, hostname: Callable[[], str] = default_observer) -> None:
        self._config = config
        self._client = client
        self._owns_client = client is None
        self._clock = clock
        self.observer = config.observer or hostname()

    def encode(self, batch: Batch) -> Encoded:
        """The batch as one request (deterministic: the same batch gives the same bytes)."""
        return encode_lines(batch.records, self.observer)

    def send(self, payload: object) -> Outcome:
        """Refused records first (by id), then the one PUT; its answer decides the outcome."""
        assert isinstance(payload, Encoded)
        if payload.refused:
            reason = payload.refused[0][1]
            return Reject(reason, frozenset(rid for rid, why in payload.refused if why == reason))
        if not payload.ids:
            return Delivered()  # only directory listings and progress markers: nothing to archive
        if not valid_observer(self.observer) or loopback(self.observer):
            return Misconfigured(f"this host's name {self.observer!r} cannot tell the archive who measured: "
                                 'set observer to a name or address the archive resolves, e.g. "dtn01.example.org"')
        headers = {"Content-Type": "application/json", "x-ps-observer": self.observer, "User-Agent": "logspool"}
        secrets: list[str] = []
        if self._config.username is not None:
            password = self._password()
            if isinstance(password, Misconfigured):
                return password
            token = base64.b64encode(f"{self._config.username}:{password}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {token}"
            secrets = [password, token, f"{self._config.username}:{password}"]
        client = self._client
        if client is None:
            try:
                client = self._client = build_client(self._config.tls_verify, self._config.ca_file,
                                                     self._config.timeout)
            except OSError as exc:  # ssl.SSLError is an OSError
                return Misconfigured(f"cannot load ca_file {self._config.ca_file}: {exc}")
        scrub = scrubber(secrets)
        try:
            response = client.put(self._config.url, content=payload.body, headers=headers)
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            return outcome_for_error(exc, self._config.timeout, scrub)
        return outcome_for_response(response, self._clock(), scrub, self._config.url)

    def close(self) -> None:
        """Close the connection pool, if this sink built it."""
        if self._owns_client and self._client is not None:
            self._client.close()
            self._client = None

    def _password(self) -> Union[str, Misconfigured]:
        if self._config.password is not None:
            return self._config.password.get_secret_value()
        path = str(self._config.password_file)
        try:
            password = read_secret_file(path)
        except ValueError as exc:
            return Misconfigured(f"password_file: {exc}")
        if not valid_password(password):
            return Misconfigured(f"password_file {path}: the first line must be the password (not empty, "
                                 "no control characters)")
        return password


def open(config: SinkConfig) -> Sink:
    """A perfsonar sink for a validated `Config`."""
    assert isinstance(config, Config)
    return PerfsonarSink(config)


def outcome_for_response(response: httpx.Response, now: float, scrub: Callable[[str], str] = str,
                         url: str = "") -> Outcome:
    """What the drain should do with the archive's answer (see the module doc)."""
    status = response.status_code
    if 200 <= status < 300:
        return Delivered()
    text = scrub(_text(response.content))
    reason = f"HTTP {status}: {text or response.reason_phrase}"
    if 300 <= status < 400:
        where = scrub(response.headers.get("Location", "elsewhere"))
        return Misconfigured(f"{reason} (the archive redirects to {where}: set url to the final address)")
    if status == 401:
        return Misconfigured(f"{reason} (the archive refuses the credentials: {_CREDENTIALS}; the records stay "
                             "in the spool, none is dead-lettered)")
    if status == 403:
        return Misconfigured(f"{reason} (the archive does not admit this host: {_CREDENTIALS}, or ask its admin "
                             "to allow this address in apache-logstash.conf)")
    if status == 407:
        return Misconfigured(f"{reason} (a proxy between here and the archive asks for credentials)")
    if status in (404, 405, 410):
        return Misconfigured(f"{reason} from {url} (check url: the archive's Logstash address, e.g. "
                             '"https://archive.example.org/logstash")')
    if status in (408, 429) or status >= 500:
        return Retry(reason, after=retry_after(response.headers.get("Retry-After"), now))
    if status == 413:
        return Reject(f"{reason} (the request is too large for the archive: smaller requests are tried; "
                      "consider a lower batch_records)")
    if 400 <= status < 500:
        return Reject(reason)
    return Retry(reason)


def _text(content: bytes) -> str:
    """The first 200 characters of a body, HTML tags dropped (Apache's error pages are HTML)."""
    text = content[:16 * _BODY_CHARS].decode("utf-8", "replace")
    return " ".join(_TAG.sub(" ", text).split())[:_BODY_CHARS]
