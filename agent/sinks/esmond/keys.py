"""The metadata keys the archive gave, by metadata checksum: in memory, and in the sink's state.

esmond finds an existing metadata object again when the same body is POSTed (201 either
way), so a lost key costs one request, never a duplicate series; keeping the keys saves
that request per endpoint pair, also across restarts when the drain attaches the sink's
persistent state (`attach`). State entries are named after the archive's URL too, so a
sink pointed at another archive does not reuse keys that mean nothing there.

A key loaded from the state is used only after the archive confirmed it once in this
process (`confirmed`): an archive whose database was reset may accept points for an
unknown key and keep none (esmond at 424013f answers such a PUT 201), and a GET of the
key's detail is the one request that tells.
"""
from __future__ import annotations

import logging
from typing import Callable, Optional

from ..base import SinkState

log = logging.getLogger("logspool.sinks.esmond")


class MetadataKeys:
    """checksum -> metadata key for one archive root URL."""

    def __init__(self, root: str) -> None:
        self._prefix = f"metadata {root} "
        self._keys: dict[str, str] = {}
        self._confirmed: set[str] = set()
        self._state: Optional[SinkState] = None

    def attach(self, state: SinkState) -> None:
        """Load the keys this sink stored for this archive; later changes are written through."""
        self._state = state
        try:
            stored = state.load()
        except Exception as exc:  # the state only saves requests: never a reason to stop delivering
            log.warning("Cannot load the esmond metadata keys; they are looked up again.", extra={"error": str(exc)})
            return
        for name, key in stored.items():
            if name.startswith(self._prefix):
                self._keys.setdefault(name[len(self._prefix):], key)

    def get(self, checksum: str) -> Optional[str]:
        return self._keys.get(checksum)

    def confirmed(self, checksum: str) -> bool:
        """Whether the key is known good in this process (created or checked here)."""
        return checksum in self._confirmed

    def confirm(self, checksum: str) -> None:
        self._confirmed.add(checksum)

    def remember(self, checksum: str, key: str) -> None:
        """Keep a key the archive just gave; written to the state when it is new or changed."""
        self._confirmed.add(checksum)
        if self._keys.get(checksum) == key:
            return
        self._keys[checksum] = key
        self._write(lambda state: state.save(self._prefix + checksum, key))

    def forget(self, checksum: str) -> None:
        """Drop a key the archive no longer knows."""
        self._confirmed.discard(checksum)
        if self._keys.pop(checksum, None) is not None:
            self._write(lambda state: state.forget(self._prefix + checksum))

    def __len__(self) -> int:
        return len(self._keys)

    def _write(self, change: Callable[[SinkState], None]) -> None:
        if self._state is None:
            return
        try:
            change(self._state)
        except Exception as exc:  # see attach(): a key not kept is looked up again after a restart
            log.warning("Cannot store an esmond metadata key; it is looked up again after a restart.",
                        extra={"error": str(exc)})

