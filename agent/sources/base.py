"""Keys every `[[sources]]` table has; each source type's `Config` adds its own."""
from __future__ import annotations

from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from parsers import FORMATS


class SourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$",
                      description="names the source in record ids, status and checkpoints; e.g. \"transfers\"")
    type: str
    format: str = Field(description=f"the parser for each record: one of {', '.join(sorted(FORMATS))}")
    sinks: list[str] = Field(min_length=1, description="names of the [[sinks]] its records go to")
    cluster: Optional[str] = Field(None, description="overrides [agent] cluster for this source's records")

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value not in FORMATS:
            raise ValueError(f"unknown format; expected one of {', '.join(sorted(FORMATS))}")
        return value
