"""The `esmond` sink: metadata found or created, one bulk PUT per metadata per batch, each answer classified.

A batch goes out in three steps, and the first answer that is not a success decides the
outcome: (1) this host's address, where a record names it only by host name (DNS
failure: Retry, address.py); (2) the key of every metadata the batch needs: from memory,
from the sink's state (checked once per process with a GET, keys.py), else POSTed to
`<root>` (esmond returns the existing object for a known checksum); (3) one PUT of every
point of a metadata to `<root><key>/`.

esmond's answers (research/esmond.md §3) and what the drain is told:

    201 (POST, PUT)                  Delivered once every PUT of the batch has it
    409 to a PUT of several points   esmond saved the points before the existing one and
                                     none after it: the points are split in halves and each
                                     half PUT again, so a replay stores what is missing
    409 to a PUT of one point        it is stored already: Delivered (a replayed batch)
    400                              Reject: the records of a refused metadata; the record of a
                                     one-record PUT; else the batch, which the drain bisects
    404 to a PUT or the key's GET    the archive lost the metadata: the key is forgotten;
                                     a PUT answers Retry, a GET creates it again
    401, 403                         Misconfigured: the sink stops, nothing is dead-lettered
    3xx                              Misconfigured, naming the Location (esmond never redirects
                                     a correct URL; an http -> https move is a config change)
    other 404, 405                   Misconfigured (url or script_alias)
    408, 429, 5xx, no answer         Retry (Retry-After honoured)

Two transfers of one endpoint pair that start in the same second share a timestamp, and
esmond keeps one throughput value per second per metadata. In a batch the first record
(spool order) is sent, and a later one whose throughput (or another value esmond keeps
one of per second) falls on that second is counted delivered without a request
(`collisions`), so the archive holds one transfer's values there, not a mix; across
batches the later one's throughput is answered 409 and counted delivered like a replay
(its JSON points, such as streams-packet-retransmits, do overwrite the earlier ones:
esmond cannot be asked to refuse those). Either way it is logged once per sink.

The key is sent only in the Authorization header and scrubbed from every reason.
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

import httpx
import orjson

from agent.secret import read_secret_file

from ..base import Batch, Delivered, Misconfigured, Outcome, Reject, Retry, Sink, SinkConfig, SinkState
from ..http import build_client, outcome_for_error, retry_after, scrubber
from .address import Addresses, Resolver, Unresolved, getaddrinfo_first
from .config import Config, valid_key
from .encode import Encoded, Encoder, Group, Memo, Point, Row, bulk, points_of, settle
from .keys import MetadataKeys
from .measurement import Options, body_of, checksum

log = logging.getLogger("logspool.sinks.esmond")
_BODY_CHARS = 200
_TAG = re.compile(r"<[^>]*>")
_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_KEY_HELP = ("the archive refuses the credentials: check key or key_file (and username with auth = \"apikey\"); "
             "the user needs esmond's permission to post perfSONAR data (manage.py add_ps_metadata_post_user); "
             "the records stay in the spool, none is dead-lettered")
_BODIES = 4096


@dataclass
class _Group:
    """One metadata's share of a batch, its address known: what is POSTed and PUT."""

    body: dict[str, Any]
    checksum: str
    kept: list[Row]  # the records sent, in spool order (their points: `bulk`)
    bulk: Optional[bytes]  # None: a point orjson cannot write, raised when the group is PUT

    @property
    def ids(self) -> list[str]:
        """Every record of the metadata that is sent (with points or without)."""
        return [row[1] for row in self.kept]


class EsmondSink:
    """One esmond archive over one keep-alive `httpx.Client`.

    `client` is the seam for tests (a client passed in belongs to the caller); `resolve`
    finds an address for a host name (default getaddrinfo); `clock` gives "now" for
    Retry-After dates.
    """

    def __init__(self, config: Config, client: Optional[httpx.Client] = None,
                 clock: Callable[[], float] = time.time, resolve: Resolver = getaddrinfo_first) -> None:
        self._config = config
        self._client = client
        self._owns_client = client is None
        self._clock = clock
        self._root = config.root()
        self._encoder = Encoder(Options(config.send_file, config.send_user, config.send_volume,
                                        config.measurement_agent))
        self._addresses = Addresses(resolve)
        self.keys = MetadataKeys(self._root)
        self._bodies: dict[tuple[Any, ...], tuple[dict[str, Any], str]] = {}
        self._urls: dict[str, httpx.URL] = {}  # parsed once per metadata, not once per request
        self._told: set[str] = set()
        self.collisions = 0   # records not sent: another record of their metadata had their second
        self.duplicates = 0   # single points answered 409: stored before (a replay or a collision)

    def attach_state(self, state: SinkState) -> None:
        """Keep metadata keys across restarts in the drain's persistent sink state."""
        self.keys.attach(state)

    def encode(self, batch: Batch) -> Encoded:
        """The batch as groups of records by metadata, their PUT bodies built (pure: encode.py)."""
        return self._encoder.encode(batch.records)

    def send(self, payload: object) -> Outcome:
        """The requests of one batch (see the module doc for what each answer means)."""
        assert isinstance(payload, Encoded)
        if payload.refused:
            reason = payload.refused[0][1]
            return Reject(reason, frozenset(rid for rid, why in payload.refused if why == reason))
        if not payload.groups:
            return Delivered()  # only transfers esmond does not record (LIST, NLST, ...)
        credentials = self._credentials()
        if isinstance(credentials, Misconfigured):
            return credentials
        header, secret = credentials
        client = self._client
        if client is None:
            try:
                client = self._client = build_client(self._config.tls_verify, self._config.ca_file,
                                                     self._config.timeout)
            except OSError as exc:  # ssl.SSLError is an OSError
                return Misconfigured(f"cannot load ca_file {self._config.ca_file}: {exc}")
        call = _Caller(client, header, scrubber([secret]), self._config.timeout, self._urls)
        try:
            groups = self._groups(payload.groups)
        except Unresolved as exc:
            return Retry(str(exc))
        keys = []
        for group in groups:  # every metadata first: a refused one costs no PUT that a retry repeats
            key = self._key(call, group)
            if not isinstance(key, str):
                return key
            keys.append(key)
        for group, key in zip(groups, keys):
            outcome = self._put(call, group, key, None)
            if not isinstance(outcome, Delivered):
                return outcome
        return Delivered()

    def close(self) -> None:
        """Close the connection pool, if this sink built it."""
        if self._owns_client and self._client is not None:
            self._client.close()
            self._client = None

    # ---- the steps ---------------------------------------------------------------
    def _groups(self, encoded: tuple[Group, ...]) -> list[_Group]:
        """The batch's groups by metadata, first-seen order, each only once it has points.

        Groups encode kept apart turn out to be one metadata when their agents' host names
        resolve to one address: their rows are merged in spool order and settled again.
        """
        found: dict[str, tuple[dict[str, Any], list[Group]]] = {}
        for group in encoded:
            body, digest = self._body(group.memo)
            known = found.get(digest)
            if known is None:
                found[digest] = (body, [group])
            else:
                known[1].append(group)
        groups = []
        for digest, (body, parts) in found.items():
            if len(parts) == 1:
                kept, collisions, put = parts[0].kept, parts[0].collisions, parts[0].bulk
            else:
                kept, collisions, put = settle(sorted((row for part in parts for row in part.rows),
                                                      key=lambda row: row[0]))
            if collisions:
                self.collisions += collisions
                self._tell("collision", "Two records of one esmond metadata start in the same second; esmond keeps "
                                        "one value per second, so the later one is counted delivered unsent.")
            if put != b"":
                groups.append(_Group(body, digest, kept, put))
        return groups

    def _body(self, memo: Memo) -> tuple[dict[str, Any], str]:
        fields, agent, agent_fields, event_types = memo
        address = self._addresses.address(agent)
        known = self._bodies.get((fields, address, agent_fields, event_types))
        if known is None:
            if len(self._bodies) >= _BODIES:
                self._bodies.clear()
            body = body_of(fields, agent_fields, event_types, address)
            known = self._bodies[(fields, address, agent_fields, event_types)] = (body, checksum(body))
        return known

    def _key(self, call: _Caller, group: _Group) -> Union[str, Outcome]:
        """The metadata key for `group`: remembered, confirmed, or found-or-created by a POST."""
        key = self.keys.get(group.checksum)
        if key is not None and not self.keys.confirmed(group.checksum):
            response = call("GET", f"{self._root}{key}/")
            if isinstance(response, httpx.Response) and response.status_code == 200:
                self.keys.confirm(group.checksum)
            elif isinstance(response, httpx.Response) and response.status_code == 404:
                self.keys.forget(group.checksum)
                key = None
            else:
                return self._outcome(call, response, "checking a remembered metadata key", group.ids)
        if key is not None:
            return key
        response = call("POST", self._root, orjson.dumps(group.body))
        if not isinstance(response, httpx.Response) or response.status_code not in (200, 201):
            return self._outcome(call, response, "creating the metadata", group.ids)
        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            answer = None
        key = answer.get("metadata-key") if isinstance(answer, dict) else None
        if not isinstance(key, str) or not _KEY.match(key):
            return Misconfigured(f"HTTP {response.status_code} without a metadata-key from {self._root} (is url plus "
                                 f"script_alias an esmond archive?): {call.text(response)}")
        self.keys.remember(group.checksum, key)
        return key

    def _put(self, call: _Caller, group: _Group, key: str, points: Optional[list[Point]]) -> Outcome:
        """PUT `points`, or (None) every point of the group, whose body encode built already."""
        if points is None and group.bulk is None:
            points = points_of(group.kept)  # bulk() raises what orjson cannot write, as it always did
        response = call("PUT", f"{self._root}{key}/", group.bulk if points is None else bulk(points))
        if isinstance(response, httpx.Response) and response.status_code == 409:
            if points is None:
                points = points_of(group.kept)
            if len(points) == 1:
                self.duplicates += 1
                self._tell("duplicate", f"esmond holds {points[0][1]} at {points[0][0]} already (a replayed batch, "
                                        "or two records in one second); counted delivered.")
                return Delivered()
            middle = len(points) // 2
            for half in (points[:middle], points[middle:]):
                outcome = self._put(call, group, key, half)
                if not isinstance(outcome, Delivered):
                    return outcome
            return Delivered()
        if isinstance(response, httpx.Response) and 200 <= response.status_code < 300:
            return Delivered()
        if isinstance(response, httpx.Response) and response.status_code == 404:
            self.keys.forget(group.checksum)
            return Retry(f"HTTP 404 for metadata key {key}: the archive no longer has it (its database was reset?); "
                         "it is created again on the next attempt")
        ids = ({rid for _pos, rid, _ts, body, _c in group.kept if body} if points is None else
               {rid for _ts, _et, _v, rid in points})
        return self._outcome(call, response, "storing the points", list(ids) if len(ids) == 1 else None)

    def _outcome(self, call: _Caller, response: Union[httpx.Response, Outcome], what: str,
                 ids: Optional[list[str]]) -> Outcome:
        """What the drain should do with an answer other than the step's success."""
        if not isinstance(response, httpx.Response):
            return response
        status = response.status_code
        if 200 <= status < 300:
            return Delivered()
        reason = f"HTTP {status} {what}: {call.text(response) or response.reason_phrase}"
        if status in (401, 403):
            return Misconfigured(f"{reason} ({_KEY_HELP})")
        if 300 <= status < 400:
            where = call.scrub(response.headers.get("Location", "elsewhere"))
            return Misconfigured(f"{reason} (the archive redirects to {where}: set url and script_alias to the "
                                 "final address)")
        if status in (404, 405, 410):
            return Misconfigured(f"{reason} (check url and script_alias: requests go to {self._root})")
        if status in (408, 429) or status >= 500:
            return Retry(reason, after=retry_after(response.headers.get("Retry-After"), self._clock()))
        return Reject(reason, frozenset(ids) if ids else None)

    def _credentials(self) -> Union[tuple[Optional[str], str], Misconfigured]:
        """(the Authorization header value, the key); (None, "") without a key (an archive trusting this
        host's address)."""
        if self._config.key is not None:
            key = self._config.key.get_secret_value()
        elif self._config.key_file is not None:
            path = str(self._config.key_file)
            try:
                key = read_secret_file(path)
            except ValueError as exc:
                return Misconfigured(f"key_file: {exc}")
            if not valid_key(key):
                return Misconfigured(f"key_file {path}: the first line must be the API key (printable ASCII, "
                                     "no spaces)")
        else:
            return None, ""
        if self._config.auth == "apikey":
            return f"ApiKey {self._config.username}:{key}", key
        return f"Token {key}", key

    def _tell(self, what: str, message: str) -> None:
        if what not in self._told:
            self._told.add(what)
            log.warning(message, extra={"sink": self._config.name})


class _Caller:
    """One batch's requests: headers, credentials, and exceptions turned into Outcomes."""

    def __init__(self, client: httpx.Client, credentials: Optional[str], scrub: Callable[[str], str],
                 timeout: float, urls: dict[str, httpx.URL]) -> None:
        self._client = client
        self._urls = urls
        headers = {"Content-Type": "application/json", "User-Agent": "logspool"}
        if credentials:
            headers["Authorization"] = credentials
        self._headers = httpx.Headers(headers)  # built once: httpx copies a Headers faster than it reads a dict
        self.scrub = scrub
        self._timeout = timeout

    def __call__(self, method: str, url: str, body: Optional[bytes] = None) -> Union[httpx.Response, Outcome]:
        try:
            parsed = self._urls.get(url)
            if parsed is None:
                if len(self._urls) >= _BODIES:
                    self._urls.clear()
                parsed = self._urls[url] = httpx.URL(url)
            return self._client.request(method, parsed, content=body, headers=self._headers)
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            return outcome_for_error(exc, self._timeout, self.scrub)

    def text(self, response: httpx.Response) -> str:
        """esmond's `detail`, else the first 200 characters of the body without HTML tags; scrubbed."""
        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            answer = None
        if isinstance(answer, dict) and isinstance(answer.get("detail"), str):
            return self.scrub(answer["detail"][:_BODY_CHARS])
        text = response.content[:16 * _BODY_CHARS].decode("utf-8", "replace")
        return self.scrub(" ".join(_TAG.sub(" ", text).split())[:_BODY_CHARS])


def open(config: SinkConfig) -> Sink:
    """An esmond sink for a validated `Config`."""
    assert isinstance(config, Config)
    return EsmondSink(config)
