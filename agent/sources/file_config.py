"""Configuration of the `file` source (`[[sources]]` with `type = "file"`)."""
from __future__ import annotations

import os
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from agent.sources.base import SourceConfig
from agent.sources.identity import FINGERPRINT_BYTES
from agent.units import ByteSize, Duration
from parsers import DOCUMENTS


class Config(SourceConfig):
    """A `[[sources]]` table with `type = "file"`.

    Example:
        [[sources]]
        name = "transfers"
        type = "file"
        paths = ["/var/log/gridftp-transfer.log*"]
        format = "lines"
        sinks = ["archive"]
    """

    type: Literal["file"]
    paths: list[str] = Field(min_length=1, description="glob patterns; include the rotated names (\"app.log*\")")
    exclude: list[str] = Field(["*.gz", "*.bz2", "*.xz", "*.zst", "*.zip"],
                               description="name patterns never read (compressed generations)")
    max_line_bytes: ByteSize = Field(1 << 20, ge=FINGERPRINT_BYTES,
                                     description="longer lines go to dead_letters, e.g. \"1MiB\"")
    read_from: Literal["beginning", "end"] = Field(
        "beginning", description="where to start in files found on the very first start (no checkpoints yet)")
    rotate_wait: Duration = Field(300.0, description="keep a file that left the glob open this long after its "
                                                     "last growth, e.g. \"5m\"")

    @field_validator("format")
    @classmethod
    def _not_a_document(cls, value: str) -> str:
        if value in DOCUMENTS:
            raise ValueError(f"{value} is one whole command output per record, not a log a file source can follow; "
                             f"pipe it in: `... | logspool pipe --format {value} --sink NAME`")
        return value

    @field_validator("paths")
    @classmethod
    def _relative_to_config(cls, value: list[str], info: ValidationInfo) -> list[str]:
        base = (info.context or {}).get("base_dir") if info.context else None
        out = []
        for pattern in value:
            if not pattern:
                raise ValueError("expected non-empty glob patterns")
            pattern = os.path.expanduser(pattern)
            out.append(os.path.join(str(base), pattern) if base and not os.path.isabs(pattern) else pattern)
        return out
