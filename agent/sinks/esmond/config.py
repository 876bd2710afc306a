"""The `[[sinks]]` keys of `type = "esmond"` and the rules that tie them together."""
from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal, Optional

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from agent.config_path import ConfigPath
from agent.secret import Secret
from agent.units import ByteSize, Duration

from ..base import SinkConfig
from ..http import http_url

_KEY = re.compile(r"^[\x21-\x7e]+$")          # printable ASCII without spaces: one header token
_ALIAS = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$")
_USER = re.compile(r"^[^\s:\x00-\x1f\x7f]+$")


class Config(SinkConfig):
    """`[[sinks]]` keys of `type = "esmond"`.

    Example:

        [[sinks]]
        name = "ma"
        type = "esmond"
        url = "https://ma.example.org"
        script_alias = "/esmond"
        key_file = "/etc/logspool/esmond.key"
        measurement_agent = "192.0.2.10"
    """

    type: Literal["esmond"] = Field(
        description='the sink kind: "esmond" archives GridFTP transfers and bwctl/iperf3 results in an esmond '
                    "perfSONAR measurement archive")
    batch_records: int = Field(
        40000, ge=1, description="most records in one batch; the batch's points go out as one bulk PUT per "
                                 "metadata, so a large batch is what lets a PUT carry many points when transfers of "
                                 "many endpoint pairs are interleaved (200 pairs: ~200 points a PUT; 40000 records "
                                 "of GridFTP keep the drain under ~130 MB)")
    batch_bytes: ByteSize = Field(
        32 << 20, ge=1, description='most bytes of spooled records in one batch, e.g. "32MiB"')
    url: str = Field(description='the archive host as scheme://host[:port], without a path (the path is script_alias), '
                                 'e.g. "https://ma.example.org"')
    script_alias: str = Field(
        "/esmond", description='the path esmond is mounted under (Apache WSGIScriptAlias); "/" for none; '
                               'requests go to <url><script_alias>/perfsonar/archive/, e.g. "/esmond"')
    username: Optional[str] = Field(
        None, description='the esmond user; needed only with auth = "apikey", e.g. "logspool"')
    auth: Literal["token", "apikey"] = Field(
        "token", description='"token" sends "Authorization: Token <key>" (esmond >= 2.0); "apikey" sends the pre-2.0 '
                             '"ApiKey <username>:<key>", e.g. "apikey"')
    key: Optional[Secret] = Field(
        None, description='the API key (esmond manage.py add_api_key_user), e.g. "env:ESMOND_KEY" or '
                          '"file:/etc/logspool/esmond.key"; or set key_file; neither = no Authorization header, for '
                          "an archive that trusts this host by its address")
    key_file: Optional[ConfigPath] = Field(
        None, validate_default=True, description="a file whose first line is the API key, re-read before every batch so a new key is "
                          'picked up without a reload, e.g. "/etc/logspool/esmond.key"')
    send_file: bool = Field(False, description="archive each GridFTP transfer's FILE path (a per-transfer "
                                               "pscheduler-raw point, never metadata), e.g. true")
    send_user: bool = Field(False, description="put the GridFTP USER in the metadata (gridftp-user), e.g. true")
    send_volume: bool = Field(False, description="put the GridFTP VOLUME in the metadata (gridftp-volume), e.g. true")
    measurement_agent: Optional[str] = Field(
        None, description="this host's IP address as the archive should record it; default: a bwctl run's local "
                          "address, else the GridFTP HOST when it is an address, else HOST (or this host's name) "
                          'resolved through DNS, e.g. "192.0.2.10"')
    timeout: Duration = Field(30.0, gt=0, description='how long to wait to connect, and for each read or write, '
                                                      'e.g. "30s"')
    tls_verify: bool = Field(True, description="verify the archive's TLS certificate; false only for testing")
    ca_file: Optional[ConfigPath] = Field(
        None, description='PEM file of the CA certificates to trust, e.g. "/etc/pki/site-ca.pem"')

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        parsed = http_url(url, "https://ma.example.org", "the API key goes in key or key_file")
        if parsed.query or parsed.fragment:
            raise ValueError('expected scheme://host[:port] without ?query or #fragment, e.g. "https://ma.example.org"')
        if parsed.path not in ("", "/"):
            raise ValueError(f'expected scheme://host[:port] without a path; put "{parsed.path.rstrip("/")}" in '
                             "script_alias")
        return url.rstrip("/")

    @field_validator("script_alias")
    @classmethod
    def _check_alias(cls, alias: str) -> str:
        """Kept as "/a/b" (or "" for none) whatever slashes were written, so no "esmond//perfsonar" can be built."""
        if not _ALIAS.match(alias) or "//" in alias.strip("/"):
            raise ValueError('expected a URL path such as "/esmond", or "/" for none')
        return "/" + alias.strip("/") if alias.strip("/") else ""

    @field_validator("username")
    @classmethod
    def _check_username(cls, username: Optional[str]) -> Optional[str]:
        if username is not None and not _USER.match(username):
            raise ValueError("expected a user name without spaces, colons or control characters")
        return username

    @field_validator("key")
    @classmethod
    def _check_key(cls, key: Optional[SecretStr]) -> Optional[SecretStr]:
        if key is not None and not valid_key(key.get_secret_value()):
            raise ValueError("the API key must be printable ASCII without spaces")
        return key

    @field_validator("key_file")
    @classmethod
    def _one_key(cls, key_file: Any, info: ValidationInfo) -> Any:
        if "key" not in info.data:  # key itself was refused; that error says enough
            return key_file
        if info.data["key"] is not None and key_file is not None:
            raise ValueError("set key or key_file, not both")
        if info.data.get("auth") == "apikey":
            if not info.data.get("username"):
                raise ValueError('auth = "apikey" sends "ApiKey <username>:<key>": set username')
            if info.data["key"] is None and key_file is None:
                raise ValueError('auth = "apikey" needs the key: set key_file or key = "env:ESMOND_KEY"')
        return key_file

    @field_validator("measurement_agent")
    @classmethod
    def _check_agent(cls, agent: Optional[str]) -> Optional[str]:
        if agent is None:
            return None
        try:
            return str(ipaddress.ip_address(agent))
        except ValueError:
            raise ValueError('expected an IPv4 or IPv6 address (esmond stores addresses, not names), '
                             'e.g. "192.0.2.10"') from None

    @field_validator("ca_file")
    @classmethod
    def _check_tls(cls, ca_file: Any, info: ValidationInfo) -> Any:
        # A field rule, not a model rule: a model rule's error would quote the whole table, key included.
        if ca_file is not None and info.data.get("tls_verify") is False:
            raise ValueError("has no effect with tls_verify = false")
        return ca_file

    def root(self) -> str:
        """The archive's base URL, with its trailing slash (esmond redirects the root without it)."""
        return f"{self.url}{self.script_alias}/perfsonar/archive/"


def valid_key(key: str) -> bool:
    return bool(_KEY.match(key))
