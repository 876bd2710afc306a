"""The measurement agent's address when a record gives only a host name: resolved once, then remembered.

esmond stores the measurement agent (and, for GridFTP, this host's end of the transfer)
as an IP address. When neither the config nor the record gives one, the name is
resolved through DNS, in the family of the transfer's remote address. A failure is not
the record's fault: it is reported as `Unresolved`, which the sink answers with Retry, so
a record waits out a DNS outage like any other delivery failure and is never dropped for
it. Answers are kept for the life of the sink (a host's own address rarely moves; a
restart looks again).
"""
from __future__ import annotations

import socket
from typing import Callable, Union

from .measurement import Lookup

#: (host, family) -> an address; raises OSError (socket.gaierror) when there is none.
Resolver = Callable[[str, int], str]
_FAMILY: dict[int, str] = {int(socket.AF_INET): "an IPv4", int(socket.AF_INET6): "an IPv6"}


class Unresolved(Exception):
    """The name could not be resolved now; the reason says which name and how to do without DNS."""


def getaddrinfo_first(host: str, family: int) -> str:
    """The first address getaddrinfo gives for `host`, without an IPv6 zone (esmond would refuse it)."""
    infos = socket.getaddrinfo(host, None, family, socket.SOCK_STREAM)
    if not infos:
        raise socket.gaierror(socket.EAI_NONAME, "no address")
    return str(infos[0][4][0]).split("%", 1)[0]


class Addresses:
    """Resolves `Lookup`s through `resolve`, remembering every answer."""

    def __init__(self, resolve: Resolver = getaddrinfo_first) -> None:
        self._resolve = resolve
        self._known: dict[tuple[str, int], str] = {}

    def address(self, agent: Union[str, Lookup]) -> str:
        """The address for `agent`: itself when it is one already. Raises Unresolved."""
        if isinstance(agent, str):
            return agent
        where = (agent.host, agent.family)
        known = self._known.get(where)
        if known is not None:
            return known
        try:
            found = self._resolve(agent.host, agent.family)
        except (OSError, UnicodeError) as exc:
            kind = _FAMILY.get(agent.family, "an")
            raise Unresolved(f"cannot resolve {agent.host} to {kind} address for the measurement agent ({exc}); "
                             "retried, or set measurement_agent to this host's address") from None
        self._known[where] = found
        return found
