"""`metrics_listen`: an address as operators write it, loopback unless they name another.

A bare port ("9464" or ":9464") binds 127.0.0.1: metrics name every source and sink of
the site, and a head node's other interfaces face users and the internet, so exposing
them is a choice the operator writes down ("0.0.0.0:9464", "[::]:9464").
"""
from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, NamedTuple

from pydantic import BeforeValidator

_EXPECTED = 'expected a port ("9464") or HOST:PORT ("127.0.0.1:9464", "[::1]:9464")'
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$")


class Listen(NamedTuple):
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_listen(value: Any) -> Listen:
    """Listen from "9464", ":9464", "host:9464" or "[v6]:9464" (or a bare port number)."""
    if isinstance(value, Listen):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(_EXPECTED)
    text = str(value).strip()
    host, _, port_text = text.rpartition(":") if ":" in text else ("", "", text)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{_EXPECTED}; {host!r} is not an IPv6 address") from None
    elif ":" in host:
        raise ValueError(f"{_EXPECTED}; write an IPv6 address in brackets")
    elif host and not _HOSTNAME.match(host):
        raise ValueError(_EXPECTED)
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"{_EXPECTED}; the port must be 1-65535")
    return Listen(host or "127.0.0.1", int(port_text))


ListenAddress = Annotated[Listen, BeforeValidator(parse_listen)]
