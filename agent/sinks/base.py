"""What every sink shares: the batch it is given, the outcomes it may answer, its base config.

A sink turns a batch of records into its wire format and classifies the endpoint's
answer; it never sleeps, retries or writes dead letters itself. That is the drain's
job, so backoff and acknowledgement behave the same for every endpoint (Vector's
`RetryAction`, DESIGN.md "Drain").

Outcomes (what the drain does with them):

    Delivered            ack every record of the batch
    Retry(reason, after) keep the batch; back off (at least `after` seconds if given)
    Reject(reason, ids)  these ids are refused for good -> dead letters; ids=None means
                         "something in this batch": the drain bisects to find it
    Misconfigured(reason) the endpoint will refuse everything until a person acts
                         (bad credentials, wrong URL): stop this sink loudly
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Optional, Protocol, Sequence, Union

from pydantic import BaseModel, ConfigDict, Field

from agent.envelope import record_id
from agent.units import ByteSize, Duration


class Batch:
    """Records to deliver, in spool order: each an encoded envelope line (JSON + newline).

    Built either from a list of record lines or, on the hot path, from whole spooled
    chunk payloads (`parts`, each many NDJSON lines): then `ndjson()` needs no split
    and no re-encoding, and `records` is split only if a sink or bisection asks for it.
    """

    __slots__ = ("_records", "_parts", "_count", "_ids")

    def __init__(self, records: Optional[Sequence[bytes]] = None, *, parts: Optional[list[bytes]] = None,
                 count: Optional[int] = None) -> None:
        if (records is None) == (parts is None):
            raise ValueError("give records or parts")
        self._records: Optional[Sequence[bytes]] = records
        self._parts = parts
        self._count = len(records) if records is not None else int(count or 0)
        self._ids: list[str] = []

    @property
    def records(self) -> Sequence[bytes]:
        if self._records is None:
            assert self._parts is not None
            self._records = [line for part in self._parts for line in part.splitlines(keepends=True)]
        return self._records

    def ids(self) -> list[str]:
        """The record ids, in order (decoded lazily: only bisection and dead letters need them)."""
        if not self._ids:
            self._ids.extend(record_id(r) for r in self.records)
        return self._ids

    def _first_last(self) -> tuple[bytes, bytes]:
        if self._parts is None:
            return self.records[0], self.records[-1]
        first, last = self._parts[0], self._parts[-1]
        start = last.rfind(b"\n", 0, len(last) - 1) + 1
        return first, last[start:]

    def key(self) -> str:
        """A deterministic idempotency key: the same records always give the same key."""
        h = hashlib.blake2b(digest_size=16)
        if self._count:  # first, last and count identify a batch: the spool never reorders records
            first, last = self._first_last()
            h.update(f"{self._count}\0{record_id(first)}\0{record_id(last)}".encode())
        else:
            h.update(b"empty")
        return h.hexdigest()

    def ndjson(self) -> bytes:
        """The records as an NDJSON body, exactly as spooled."""
        if self._parts is not None:
            return self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
        return b"".join(self.records)

    def __len__(self) -> int:
        return self._count

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Batch) and list(self.records) == list(other.records)

    def __repr__(self) -> str:
        return f"Batch({self._count} records)"


@dataclass(frozen=True)
class Delivered:
    pass


@dataclass(frozen=True)
class Retry:
    reason: str
    after: Optional[float] = None


@dataclass(frozen=True)
class Reject:
    reason: str
    record_ids: Optional[frozenset[str]] = None


@dataclass(frozen=True)
class Misconfigured:
    reason: str


Outcome = Union[Delivered, Retry, Reject, Misconfigured]


class RetryPolicy(BaseModel):
    """How the drain backs off: full jitter between 0 and min(max, initial·2^attempt).

    Example: `retry = { initial = "1s", max = "5m" }`; `max_retries` absent = forever.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    initial: Duration = Field(1.0, description="first backoff step, e.g. \"1s\"")
    max: Duration = Field(300.0, description="longest wait between two attempts, e.g. \"5m\"")
    max_retries: Optional[int] = Field(
        None, ge=0, description="give up after this many retries and dead-letter the batch; absent = retry forever")


class SinkConfig(BaseModel):
    """Keys every `[[sinks]]` table has; each sink's `Config` adds its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="the name sources route to")
    type: str
    batch_records: int = Field(1000, ge=1, description="most records in one request")
    batch_bytes: ByteSize = Field(1 << 20, ge=1, description="most bytes of records in one request, e.g. \"1MiB\"")
    retry: RetryPolicy = Field(default_factory=lambda: RetryPolicy())


class SinkState(Protocol):
    """What a sink may keep across restarts (key -> text), in the spool; see `attach_state`.

    A sink that has such facts (esmond's metadata keys) defines
    `attach_state(self, state: SinkState) -> None`; the drain calls it once, after opening
    the sink and before the first batch. `save` is durable when it returns.
    """

    def load(self) -> dict[str, str]: ...

    def save(self, key: str, value: str) -> None: ...

    def forget(self, key: str) -> None: ...


class Sink(Protocol):
    """One endpoint. `encode` is pure; `send` does the I/O and maps every failure to an Outcome."""

    def encode(self, batch: Batch) -> object: ...

    def send(self, payload: object) -> Outcome: ...

    def close(self) -> None: ...
