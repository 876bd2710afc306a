"""The site config: one TOML file validated into pydantic models, with errors people can act on.

This module assembles the models; each source and sink owns its own fields in its
own module (agent/sources/<kind>.py, agent/sinks/<name>.py). Every error names the
file, the table, the key, the bad value and what was expected:

    agent.toml: [sinks.archive] url: expected an http:// or https:// URL; got "ftp://x"
"""
from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, model_validator

from agent.config_path import ConfigPath
from agent.sinks import SINKS, SinkConfig
from agent.sources import SOURCES
from agent.sources.base import SourceConfig
from agent.units import ByteSize, Duration

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_CONFIG = "/etc/logspool/agent.toml"


class AgentSettings(BaseModel):
    """The `[agent]` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    spool: ConfigPath = Field(Path("/var/lib/logspool/spool.db"), description="the SQLite spool file")
    host: str = Field(default_factory=socket.gethostname, description="host name put on every record")
    cluster: Optional[str] = Field(None, description="cluster name put on every record, e.g. \"hpc1\"")
    spool_max_bytes: ByteSize = Field(2 << 30, ge=1 << 20,
                                      description="size cap of the spool; at the cap reading pauses, e.g. \"2GiB\"")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    poll_interval: Duration = Field(0.25, gt=0, description="how often files are checked for new data, e.g. \"250ms\"")
    checkpoint_ttl: Duration = Field(7 * 86400.0, description="forget files gone for this long, e.g. \"7d\"")


def _kind(value: Any) -> str:
    return str(value.get("type", "")) if isinstance(value, dict) else str(getattr(value, "type", ""))


def _union(registry: dict[str, Any]) -> Any:
    members = tuple(Annotated[kind.config, Tag(name)] for name, kind in registry.items())
    return Annotated[Union[members], Discriminator(_kind)]  # type: ignore[valid-type]


SourceUnion = _union(SOURCES)
SinkUnion = _union(SINKS)


class Config(BaseModel):
    """The whole file: `[agent]`, `[[sources]]`, `[[sinks]]`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    agent: AgentSettings = Field(default_factory=AgentSettings)
    sources: list[SourceUnion] = Field(default_factory=list)  # type: ignore[valid-type]
    sinks: list[SinkUnion] = Field(default_factory=list)  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _references(self) -> "Config":
        sink_names = [s.name for s in self.sinks]
        for i, sink in enumerate(self.sinks):
            if sink_names.index(sink.name) != i:
                raise _Located(("sinks", i, "name"), sink.name, "another [[sinks]] table has this name")
        source_names = [s.name for s in self.sources]
        for i, source in enumerate(self.sources):
            if source_names.index(source.name) != i:
                raise _Located(("sources", i, "name"), source.name, "another [[sources]] table has this name")
            for sink in source.sinks:
                if sink not in sink_names:
                    raise _Located(("sources", i, "sinks"), sink,
                                   f"no [[sinks]] table is named so; known: {', '.join(sink_names) or 'none'}")
        return self

    def sink(self, name: str) -> SinkConfig:
        for s in self.sinks:
            if s.name == name:
                return s  # type: ignore[no-any-return]
        raise KeyError(name)

    def source(self, name: str) -> SourceConfig:
        for s in self.sources:
            if s.name == name:
                return s  # type: ignore[no-any-return]
        raise KeyError(name)


class _Located(ValueError):
    """A cross-table rule broken at a known location (raised inside validation)."""

    def __init__(self, loc: tuple[Any, ...], value: Any, msg: str) -> None:
        super().__init__(msg)
        self.loc, self.value, self.msg = loc, value, msg


class ConfigError(Exception):
    """The config cannot be used; `lines` are the messages, one per problem (exit code 2)."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def _table(raw: dict[str, Any], loc: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
    """`[sinks.archive]` and the key path inside it, from a pydantic location."""
    if not loc:
        return "", ()
    head = loc[0]
    if head in ("sources", "sinks") and len(loc) > 1 and isinstance(loc[1], int):
        items = raw.get(head) or []
        name = items[loc[1]].get("name") if loc[1] < len(items) and isinstance(items[loc[1]], dict) else None
        label = f"[{head}.{name}]" if isinstance(name, str) and name else f"[[{head}]] #{loc[1] + 1}"
        rest = loc[2:]
        if rest and isinstance(rest[0], str) and rest[0] in SINKS | SOURCES:  # discriminator tag
            rest = rest[1:]
        return label, rest
    if head == "agent":
        return "[agent]", loc[1:]
    return "", loc


def _value(raw: Any, keys: tuple[Any, ...]) -> Any:
    for key in keys:
        try:
            raw = raw[key]
        except (KeyError, IndexError, TypeError):
            return None
    return raw


_SECRET_KEYS = ("token", "password", "key", "secret", "headers")


def _describe(value: Any, keys: tuple[Any, ...]) -> str:
    if any(isinstance(k, str) and any(s in k.lower() for s in _SECRET_KEYS) for k in keys):
        return "(hidden)"
    text = repr(value) if not isinstance(value, str) else '"' + value + '"'
    return text if len(text) <= 120 else text[:117] + "..."


def _message(err: dict[str, Any]) -> str:
    kind, msg = err.get("type", ""), str(err.get("msg", ""))
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known key here (check its spelling)"
    if kind == "union_tag_invalid" or kind == "union_tag_not_found":
        return f"unknown type; expected one of {', '.join(sorted(set(SINKS) | set(SOURCES)))}"
    return msg.removeprefix("Value error, ")


def load(path: Path, *, warnings: Optional[list[str]] = None) -> Config:
    """Read and validate the config at `path`; raises ConfigError with one line per problem."""
    path = Path(path)
    label = path.name
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the config: {exc.strerror}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{label}: not valid TOML: {exc}"]) from None
    collected: list[str] = []
    context = {"base_dir": path.resolve().parent, "warnings": collected}
    try:
        config = Config.model_validate(raw, context=context)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = tuple(err.get("loc", ()))
            table, keys = _table(raw, loc)
            if isinstance(err.get("ctx", {}).get("error"), _Located):
                located = err["ctx"]["error"]
                table, keys = _table(raw, located.loc)
                lines.append(f"{label}: {table} {'.'.join(map(str, keys))}: {located.msg}; got \"{located.value}\"")
                continue
            where = ".".join(str(k) for k in keys) or "(table)"
            shown = "" if err.get("type") == "missing" else f"; got {_describe(_value(raw, loc), keys)}"
            lines.append(f"{label}: {table + ' ' if table else ''}{where}: {_message(err)}{shown}")
        raise ConfigError(lines) from None
    if warnings is not None:
        for w in collected:
            warnings.append(f"{label}: {w}")
    return config
