"""The `[[sinks]]` keys of `type = "perfsonar"` and the rules that tie them together.

What psConfig writes for a perfSONAR 5 archive (perfsonar/archive:
perfsonar-archive/perfsonar-archive/opensearch-scripts/psconfig_archive.sh @455622ea) is an
`http` archiver with `"_url": "https://<host>/logstash"`, `"op": "put"`, the headers
`x-ps-observer` and `content-type: application/json`, the Basic `Authorization` of
/etc/perfsonar/logstash/proxy_auth.json, and `"verify-ssl": false`. The keys here are those
settings under the names issue 4 fixed (`url`, `username`, `password_file`, `observer`).

TLS is verified by default, unlike psConfig's archiver: the Basic password travels in
every request, and an unverified connection hands it to whoever answers for the host.
psConfig turns verification off because the archive's Apache usually keeps the
self-signed certificate the package installs (an inference from psconfig_archive.sh
setting it for every remote archive); for such an archive set `ca_file` to that
certificate rather than `tls_verify = false`.
"""
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

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
                       r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$")


class Config(SinkConfig):
    """`[[sinks]]` keys of `type = "perfsonar"`.

    Example:

        [[sinks]]
        name = "ps-archive"
        type = "perfsonar"
        url = "https://archive.example.org/logstash"
        username = "perfsonar"
        password_file = "/etc/logspool/perfsonar-archive.pass"
        observer = "dtn01.example.org"
    """

    type: Literal["perfsonar"] = Field(
        description='the sink kind: "perfsonar" sends GridFTP transfers and bwctl/iperf3 results to a '
                    "perfSONAR 5 archive (Logstash behind Apache), as psConfig's http archiver does")
    batch_records: int = Field(
        100, ge=1, description="most results in one request (one JSON array); a request that times out after "
                               "Logstash queued it is sent again whole, so this also bounds the duplicates; e.g. 100")
    batch_bytes: ByteSize = Field(1 << 20, ge=1, description='most bytes of spooled records in one request, e.g. "1MiB"')
    url: str = Field(description='the archive\'s Logstash address, as psConfig writes it, e.g. '
                                 '"https://archive.example.org/logstash"')
    username: Optional[str] = Field(
        None, description='the Basic-auth user of the archive\'s Apache (perfsonar-archive creates "perfsonar", '
                          'password in /etc/perfsonar/opensearch/logstash_login); leave out with password and '
                          "password_file when the archive admits this host by address (Require ip)")
    password: Optional[Secret] = Field(
        None, description='the Basic-auth password, e.g. "env:PS_ARCHIVE_PASSWORD" or "file:/etc/logspool/ps.pass"; '
                          "or set password_file")
    password_file: Optional[ConfigPath] = Field(
        None, validate_default=True,
        description="a file whose first line is the Basic-auth password, re-read before every request so a new "
                    'password is picked up without a reload, e.g. "/etc/logspool/perfsonar-archive.pass"')
    observer: Optional[str] = Field(
        None, description="the x-ps-observer header: the measurement host the archive files these results under "
                          "(it resolves the name to meta.observer); default: this host's fully-qualified name, as "
                          'psConfig sends its own address; e.g. "dtn01.example.org"')
    timeout: Duration = Field(
        30.0, gt=0, description='how long to wait to connect, and for each read or write, e.g. "30s" '
                                "(pScheduler's http archiver waits PT30S)")
    tls_verify: bool = Field(True, description="verify the archive's TLS certificate; false only for testing")
    ca_file: Optional[ConfigPath] = Field(
        None, description="PEM file of the CA certificates to trust (for an archive with its self-signed "
                          'certificate: that certificate), e.g. "/etc/pki/perfsonar-archive.pem"')

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        parsed = http_url(url, "https://archive.example.org/logstash", "set username and password_file")
        if parsed.fragment:
            raise ValueError('expected the URL without a #fragment, e.g. "https://archive.example.org/logstash"')
        return url

    @field_validator("username")
    @classmethod
    def _check_username(cls, username: Optional[str]) -> Optional[str]:
        if username is not None and (not username or ":" in username or _CONTROL.search(username)):
            raise ValueError("expected a Basic-auth user name: not empty, without ':' or control characters")
        return username

    @field_validator("password")
    @classmethod
    def _check_password(cls, password: Optional[SecretStr]) -> Optional[SecretStr]:
        if password is not None and not valid_password(password.get_secret_value()):
            raise ValueError("the password must be non-empty and without control characters")
        return password

    @field_validator("password_file")
    @classmethod
    def _one_password(cls, password_file: Any, info: ValidationInfo) -> Any:
        # Field rules, not a model rule: a model rule's error would quote the whole table, password included.
        if "password" not in info.data or "username" not in info.data:
            return password_file  # that key was refused itself; its error says enough
        password = info.data["password"]
        if password is not None and password_file is not None:
            raise ValueError("set password or password_file, not both")
        has_password = password is not None or password_file is not None
        if info.data["username"] is None and has_password:
            raise ValueError('a password needs a username too, e.g. username = "perfsonar"')
        if info.data["username"] is not None and not has_password:
            raise ValueError('username needs a password: set password_file = "/etc/logspool/perfsonar-archive.pass" '
                             'or password = "env:PS_ARCHIVE_PASSWORD"')
        return password_file

    @field_validator("observer")
    @classmethod
    def _check_observer(cls, observer: Optional[str]) -> Optional[str]:
        if observer is not None and not valid_observer(observer):
            raise ValueError('expected a host name or an IP address, e.g. "dtn01.example.org" or "192.0.2.10"')
        if observer is not None and loopback(observer):
            raise ValueError("a loopback name or address would file the results under the archive host itself; "
                             'give this host\'s name as the archive resolves it, e.g. "dtn01.example.org"')
        return observer

    @field_validator("ca_file")
    @classmethod
    def _check_tls(cls, ca_file: Any, info: ValidationInfo) -> Any:
        if ca_file is not None and info.data.get("tls_verify") is False:
            raise ValueError("has no effect with tls_verify = false")
        return ca_file


def valid_password(password: str) -> bool:
    return bool(password) and not _CONTROL.search(password)


def loopback(observer: str) -> bool:
    """True for names and addresses that mean "this host" wherever they are resolved."""
    try:
        return ipaddress.ip_address(observer).is_loopback
    except ValueError:
        return observer.lower().rstrip(".") in ("localhost", "localhost.localdomain", "localhost6",
                                                "localhost6.localdomain6")


def valid_observer(observer: str) -> bool:
    """A name or address the archive can resolve: what psConfig's `{% scheduled_by_address %}` gives."""
    try:
        ipaddress.ip_address(observer)
        return True
    except ValueError:
        return bool(_HOSTNAME.match(observer))
