"""The `[[sinks]]` keys of `type = "lavaflow"` and the rules that tie them together."""
from __future__ import annotations

import re
from typing import Any, Literal, Optional, Union

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from agent.config_path import ConfigPath
from agent.secret import Secret
from agent.units import ByteSize, Duration

from ..base import SinkConfig
from ..http import http_url

#: What `event_types` keeps by default: the only types LavaFlow's openlava import view acts on.
#: The server loops over the payload and ignores every other type; on the LSF 10 sample
#: lsb.events they are 577 of 664 events (87%; 64% of the bytes), sent for nothing.
DEFAULT_EVENT_TYPES = ("JOB_NEW", "JOB_FINISH")
#: `ImportKey.client_key` is a CharField(max_length=255); `Cluster.name` max_length=100.
KEY_MAX, CLUSTER_MAX = 255, 100
_EVENT_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


class Config(SinkConfig):
    """`[[sinks]]` keys of `type = "lavaflow"`.

    Example:

        [[sinks]]
        name = "lavaflow"
        type = "lavaflow"
        url = "http://lavaflow.example.org/lavaflow"
        key_file = "/etc/logspool/lavaflow.key"
        cluster = "hpc1"
    """

    type: Literal["lavaflow"] = Field(
        description='the sink kind: "lavaflow" imports scheduler accounting into a LavaFlow server')
    batch_records: int = Field(
        200, ge=1, description="the same as chunk_size here (records per request); set one of the two")
    batch_bytes: ByteSize = Field(
        8 << 20, ge=1, description="most bytes of spooled records in one request; high, so that chunk_size is "
                                   'what limits a request, e.g. "8MiB"')
    url: str = Field(description='the LavaFlow base URL; records go to <url>/clusters/<cluster>/import/<kind>, '
                                 'e.g. "http://lavaflow.example.org/lavaflow"')
    key: Optional[Secret] = Field(
        None, description='the LavaFlow import key (an ImportKey of its admin), e.g. "env:LAVAFLOW_KEY" or '
                          '"file:/etc/logspool/lavaflow.key"; or set key_file')
    key_file: Optional[ConfigPath] = Field(
        None, validate_default=True,
        description="a file whose first line is the import key, re-read before every request so a new key is "
                    'picked up without a reload, e.g. "/etc/logspool/lavaflow.key"')
    cluster: Optional[str] = Field(
        None, description="the LavaFlow cluster name; default: the record's cluster ([agent] or source "
                          "cluster), else this host's LSF cluster (lsf.conf, lsf.shared, lsf.cluster.<name> "
                          'under $LSF_ENVDIR); e.g. "hpc1"')
    chunk_size: int = Field(
        200, ge=1, validate_default=True,
        description="records per request (the old importers' --chunk_size); LavaFlow imports a request in one "
                    "go, so large chunks can time out; e.g. 500 for a backfill")
    event_types: Union[Literal["all"], list[str]] = Field(
        list(DEFAULT_EVENT_TYPES),
        description="openlava/LSF event types sent (the others count as delivered); LavaFlow acts only on "
                    'JOB_NEW and JOB_FINISH; "all" sends every type, as the old importer did')
    timeout: Duration = Field(
        60.0, gt=0, description='how long to wait to connect, and for each read or write, e.g. "2m"')
    tls_verify: bool = Field(True, description="verify the server's TLS certificate; false only for testing")
    ca_file: Optional[ConfigPath] = Field(
        None, description='PEM file of the CA certificates to trust, e.g. "/etc/pki/site-ca.pem"')

    @model_validator(mode="before")
    @classmethod
    def _one_size(cls, data: Any) -> Any:
        """chunk_size and batch_records are one setting: the one given sets the other."""
        if isinstance(data, dict):
            if "chunk_size" in data and "batch_records" not in data and _count(data["chunk_size"]):
                return {**data, "batch_records": data["chunk_size"]}
            if "batch_records" in data and "chunk_size" not in data and _count(data["batch_records"]):
                return {**data, "chunk_size": data["batch_records"]}
        return data

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        parsed = http_url(url, "http://lavaflow.example.org/lavaflow", "the import key goes in key or key_file")
        if parsed.query or parsed.fragment:
            raise ValueError("expected the base URL without ?query or #fragment: the sink appends "
                             "/clusters/<cluster>/import/<kind> to it")
        return url.rstrip("/")

    @field_validator("key")
    @classmethod
    def _check_key(cls, key: Optional[SecretStr]) -> Optional[SecretStr]:
        if key is not None and not valid_key(key.get_secret_value()):
            raise ValueError(f"the import key must be 1 to {KEY_MAX} characters without control characters")
        return key

    @field_validator("key_file")
    @classmethod
    def _one_key(cls, key_file: Any, info: ValidationInfo) -> Any:
        if "key" not in info.data:  # key itself was refused; that error says enough
            return key_file
        if info.data["key"] is not None and key_file is not None:
            raise ValueError("set key or key_file, not both")
        if info.data["key"] is None and key_file is None:
            raise ValueError('LavaFlow needs an import key: set key_file = "/etc/logspool/lavaflow.key" '
                             'or key = "env:LAVAFLOW_KEY"')
        return key_file

    @field_validator("cluster")
    @classmethod
    def _check_cluster(cls, cluster: Optional[str]) -> Optional[str]:
        if cluster is not None and (not cluster.strip() or len(cluster) > CLUSTER_MAX or _CONTROL.search(cluster)):
            raise ValueError(f"expected a cluster name of 1 to {CLUSTER_MAX} characters (LavaFlow's limit) "
                             "without control characters")
        return cluster

    @field_validator("chunk_size")
    @classmethod
    def _same_size(cls, chunk_size: int, info: ValidationInfo) -> int:
        batch = info.data.get("batch_records", chunk_size)
        if batch != chunk_size:
            raise ValueError(f"differs from batch_records = {batch}; for LavaFlow they are one setting "
                             "(records per request): set chunk_size only")
        return chunk_size

    @field_validator("event_types", mode="before")
    @classmethod
    def _check_event_types(cls, value: Any) -> Any:
        if value == "all":
            return value
        if not isinstance(value, list) or not value:
            raise ValueError('expected "all" or a non-empty list of event type names, e.g. ["JOB_NEW", "JOB_FINISH"]')
        for name in value:
            if not isinstance(name, str) or not _EVENT_NAME.match(name):
                raise ValueError('expected event type names as lsb.events writes them (e.g. "JOB_FINISH"), '
                                 'or "all"')
        return value

    @field_validator("ca_file")
    @classmethod
    def _check_tls(cls, ca_file: Any, info: ValidationInfo) -> Any:
        # A field rule, not a model rule: a model rule's error would quote the whole table, key included.
        if ca_file is not None and info.data.get("tls_verify") is False:
            raise ValueError("has no effect with tls_verify = false")
        return ca_file

    def wanted(self) -> Optional[frozenset[str]]:
        """The openlava event types to send, or None for all of them."""
        return None if self.event_types == "all" else frozenset(self.event_types)


def valid_key(key: str) -> bool:
    return 0 < len(key) <= KEY_MAX and not _CONTROL.search(key) and bool(key.strip())
