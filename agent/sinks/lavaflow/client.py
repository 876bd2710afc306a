"""The `lavaflow` sink: POSTs each batch to a LavaFlow server's import views and classifies the answer.

LavaFlow's answers, as its views give them (scheduler.md §1.3, lavaFlow/views.py), and
what the drain is told (each mapped here and nowhere else):

    200 + JSON "status": "OK"      Delivered
    200 without it                 Retry (the body is in the reason)
    403 "Invalid key specified"    Misconfigured: the sink stops, nothing is dead-lettered
    400 (bad JSON, no key), 413    Reject: the drain bisects (413: smaller requests pass)
    500, first time for a batch    Retry: an outage (database down) also gives Django's 500
    500 again for the same batch   probe with an empty payload, which the view loops over
                                   without touching a record: probe OK -> Reject (a record
                                   breaks the view: bisect, dead-letter it); else Retry
    other 5xx, 408, 429, no answer Retry (Retry-After honoured)
    401, 404, 405, 3xx             Misconfigured (wrong url, or a proxy in the way)

The import key travels in the JSON body, so no request body is ever logged, and every
reason is scrubbed of the key (a Django debug page quotes the POST data).
"""
from __future__ import annotations

import re
import time
from collections import OrderedDict
from typing import Callable, Optional, Union
from urllib.parse import quote

import httpx
import orjson

from agent.lsf_cluster import ClusterNameError, infer_cluster
from agent.secret import read_secret_file

from ..base import Batch, Delivered, Misconfigured, Outcome, Reject, Retry, Sink, SinkConfig
from ..http import build_client, outcome_for_error, retry_after, scrubber
from .config import Config, valid_key
from .encode import ClusterUnknown, Encoded, Part, encode_lines

_BODY_CHARS = 200
_TAG = re.compile(r"<[^>]*>")
#: Batches that got one 500 (by Batch.key()); a second one is told apart from an outage by a probe.
_REMEMBERED = 256
_KEY_HELP = "set key or key_file to an import key of the LavaFlow admin (ImportKey)"


class ServerError(Exception):
    """HTTP 500: a record the view chokes on, or the server itself down; decided by a probe."""


class LavaFlowSink:
    """One LavaFlow server over one keep-alive `httpx.Client`.

    `client` is the seam for tests (a MockTransport); a client passed in belongs to the
    caller. `infer` gives the cluster name when neither the config nor a record has one
    (default: LSF's configuration files, read once).
    """

    def __init__(self, config: Config, client: Optional[httpx.Client] = None,
                 clock: Callable[[], float] = time.time, infer: Callable[[], str] = infer_cluster) -> None:
        self._config = config
        self._client = client
        self._owns_client = client is None
        self._clock = clock
        self._infer_source = infer
        self._inferred: Optional[str] = None
        self._infer_error: Optional[str] = None
        self._wanted = config.wanted()
        self._failed_once: OrderedDict[str, None] = OrderedDict()

    def encode(self, batch: Batch) -> Encoded:
        """The batch as LavaFlow requests (deterministic: the same batch gives the same parts)."""
        return encode_lines(batch.records, self._config.cluster, self._wanted, self._cluster, batch.key())

    def send(self, payload: object) -> Outcome:
        """The requests of one batch, in order; the first one not delivered decides the outcome."""
        assert isinstance(payload, Encoded)
        if payload.cluster_error is not None:
            return Misconfigured(f"no LavaFlow cluster name: neither the sink's cluster nor the records' "
                                 f"([agent] or source cluster) is set, and {payload.cluster_error}")
        if payload.refused:
            reason = payload.refused[0][1]
            return Reject(reason, frozenset(rid for rid, why in payload.refused if why == reason))
        if not payload.parts:
            return Delivered()  # every record filtered out: nothing for LavaFlow
        key = self._key()
        if isinstance(key, Misconfigured):
            return key
        client = self._client
        if client is None:
            try:
                client = self._client = build_client(self._config.tls_verify, self._config.ca_file,
                                                           self._config.timeout)
            except OSError as exc:  # ssl.SSLError is an OSError
                return Misconfigured(f"cannot load ca_file {self._config.ca_file}: {exc}")
        scrub = _scrubber(key)
        for part in payload.parts:
            body = b'{"key":%s,"payload":%s}' % (orjson.dumps(key), part.records)
            try:
                outcome = self._post(client, part, body, scrub)
            except ServerError as exc:
                return self._after_500(client, part, key, payload.key, str(exc), scrub)
            if not isinstance(outcome, Delivered):
                return outcome
        self._failed_once.pop(payload.key, None)
        return Delivered()

    def close(self) -> None:
        if self._owns_client and self._client is not None:
            self._client.close()
            self._client = None

    # ---- helpers -----------------------------------------------------------------
    def url(self, part: Part) -> str:
        return f"{self._config.url}/clusters/{quote(part.cluster, safe='')}/import/{part.kind}"

    def _post(self, client: httpx.Client, part: Part, body: bytes, scrub: Callable[[str], str]) -> Outcome:
        try:
            response = client.post(self.url(part), content=body,
                                   headers={"Content-Type": "application/json", "User-Agent": "logspool"})
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            return outcome_for_error(exc, self._config.timeout, scrub)
        return outcome_for_response(response, self._clock(), scrub, self.url(part))

    def _after_500(self, client: httpx.Client, part: Part, key: str, batch_key: str, reason: str,
                   scrub: Callable[[str], str]) -> Outcome:
        if batch_key not in self._failed_once:
            self._failed_once[batch_key] = None
            while len(self._failed_once) > _REMEMBERED:
                self._failed_once.popitem(last=False)
            return Retry(f"{reason} (first 500 for this batch: retried before a record is blamed)")
        probe = b'{"key":%s,"payload":[]}' % orjson.dumps(key)
        try:
            answer = self._post(client, part, probe, scrub)
        except ServerError as exc:
            return Retry(f"{reason}; an empty import fails too ({exc}): the server is down, not the records")
        if isinstance(answer, Delivered):
            self._failed_once.pop(batch_key, None)
            return Reject(f"{reason} (twice for this batch while an empty import succeeds: a record in it "
                          "breaks LavaFlow's import view)")
        if isinstance(answer, Misconfigured):
            return answer
        return Retry(f"{reason}; an empty import fails too: the server is down, not the records")

    def _key(self) -> Union[str, Misconfigured]:
        if self._config.key is not None:
            return self._config.key.get_secret_value()
        path = str(self._config.key_file)
        try:
            key = read_secret_file(path)
        except ValueError as exc:
            return Misconfigured(f"key_file: {exc}")
        if not valid_key(key):
            return Misconfigured(f"key_file {path}: the first line must be the import key (1 to 255 characters)")
        return key

    def _cluster(self) -> str:
        """The LSF cluster name of this host, read once; ClusterUnknown says why it cannot be."""
        if self._inferred is None and self._infer_error is None:
            try:
                self._inferred = self._infer_source()
            except ClusterNameError as exc:
                self._infer_error = str(exc)
        if self._inferred is None:
            raise ClusterUnknown(self._infer_error)
        return self._inferred


def open(config: SinkConfig) -> Sink:
    """A lavaflow sink for a validated `Config`."""
    assert isinstance(config, Config)
    return LavaFlowSink(config)


def outcome_for_response(response: httpx.Response, now: float, scrub: Callable[[str], str] = str,
                         url: str = "") -> Outcome:
    """What the drain should do with LavaFlow's answer; raises ServerError for a 500 (see the module doc)."""
    status = response.status_code
    text = scrub(_text(response.content))
    if 200 <= status < 300:
        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            answer = None
        if isinstance(answer, dict) and answer.get("status") == "OK":
            return Delivered()
        return Retry(f'HTTP {status} without "status": "OK": {text or "(empty body)"}')
    reason = f"HTTP {status}: {text or response.reason_phrase}"
    if status == 500:
        raise ServerError(reason)
    if status == 403:
        return Misconfigured(f"{reason} (LavaFlow refuses the import key: {_KEY_HELP}, then reload; the records "
                             "stay in the spool, none is dead-lettered)")
    if status in (401, 407):
        return Misconfigured(f"{reason} (something in front of LavaFlow asks for credentials; check url)")
    if status in (404, 405, 410):
        return Misconfigured(f"{reason} from {url} (check url: the LavaFlow base URL, e.g. "
                             '"http://host/lavaflow", to which /clusters/<cluster>/import/<kind> is appended)')
    if 300 <= status < 400:
        where = scrub(response.headers.get("Location", "elsewhere"))
        return Misconfigured(f"{reason} (redirected to {where}: set url to the final address)")
    if status in (408, 429) or status >= 500:
        return Retry(reason, after=retry_after(response.headers.get("Retry-After"), now))
    if status == 413:
        return Reject(f"{reason} (the request is too large for the server: smaller requests are tried; "
                      "consider a lower chunk_size)")
    return Reject(reason)


def _text(content: bytes) -> str:
    """The first 200 characters of a body, HTML tags dropped (Django's error pages are HTML)."""
    text = content[:16 * _BODY_CHARS].decode("utf-8", "replace")
    return " ".join(_TAG.sub(" ", text).split())[:_BODY_CHARS]


def _scrubber(key: str) -> Callable[[str], str]:
    """Hides the key as written and as it appears inside a JSON body."""
    return scrubber([key, orjson.dumps(key).decode()[1:-1]])
