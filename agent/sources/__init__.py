"""The kinds of input, by the `type` an operator writes in `[[sources]]`."""
from __future__ import annotations

from typing import NamedTuple

from . import file
from .base import SourceConfig


class SourceKind(NamedTuple):
    config: type[SourceConfig]


SOURCES: dict[str, SourceKind] = {
    "file": SourceKind(file.Config),
}

__all__ = ["SOURCES", "SourceConfig", "SourceKind"]
