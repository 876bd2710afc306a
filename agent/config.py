"""The site config: one TOML file validated into pydantic models, with errors people can act on.

This module assembles the models; each source and sink owns its own fields in its
own module (agent/sources/<kind>.py, agent/sinks/<name>.py). Every error names the
file, the table, the key, the bad value and what was expected:

    agent.toml: [sinks.archive] url: expected an http:// or https:// URL; got "ftp://x"
"""
from __future__ import annotations

import json
import re
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Mapping, Optional, Union

from pydantic import (BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, ValidationInfo, WrapValidator,
                      model_validator)

from agent.config_path import ConfigPath
from agent.listen import ListenAddress
from agent.sinks import SINKS, SinkConfig
from agent.sources import SOURCES
from agent.sources.base import SourceConfig
from agent.units import ByteSize, Duration, format_size, parse_duration, parse_size

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


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
    metrics_listen: Optional[ListenAddress] = Field(
        None, description="serve Prometheus metrics at http://ADDRESS/metrics, e.g. \"9464\" "
                          "(127.0.0.1) or \"0.0.0.0:9464\"; off when unset")


def _kind(value: Any) -> str:
    return str(value.get("type", "")) if isinstance(value, dict) else str(getattr(value, "type", ""))


def _labelled(head: str) -> Any:
    """Prefix the warnings raised inside one `[[sources]]`/`[[sinks]]` table with its label.

    A component's validators (an inline secret) do not know which table they are in;
    the operator needs `[sinks.archive] token: …`, not just `token: …`.
    """

    def validate(value: Any, handler: Any, info: ValidationInfo) -> Any:
        context = info.context
        if not isinstance(context, dict) or not isinstance(context.get("warnings"), list):
            return handler(value)
        outer: list[str] = context["warnings"]
        inner: list[str] = []
        context["warnings"] = inner
        try:
            return handler(value)
        finally:
            context["warnings"] = outer
            name = value.get("name") if isinstance(value, dict) else None
            label = f"[{head}.{name}]" if isinstance(name, str) and name else f"[[{head}]]"
            outer.extend(f"{label} {w}" for w in inner)

    return WrapValidator(validate)


def _union(registry: dict[str, Any], head: str) -> Any:
    members = tuple(Annotated[kind.config, Tag(name)] for name, kind in registry.items())
    return Annotated[Union[members], Discriminator(_kind), _labelled(head)]


if TYPE_CHECKING:  # the checker sees the common base; pydantic sees the discriminated union
    SourceUnion = SourceConfig
    SinkUnion = SinkConfig
else:
    SourceUnion = _union(SOURCES, "sources")
    SinkUnion = _union(SINKS, "sinks")


class Config(BaseModel):
    """The whole file: `[agent]`, `[[sources]]`, `[[sinks]]`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    agent: AgentSettings = Field(default_factory=AgentSettings)
    sources: list[SourceUnion] = Field(default_factory=list)
    sinks: list[SinkUnion] = Field(default_factory=list)

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
            for target in source.sinks:
                if target not in sink_names:
                    known = f"expected one of {', '.join(sink_names)}" if sink_names else "the file defines none"
                    raise _Located(("sources", i, "sinks"), target, f"no [[sinks]] table has this name; {known}")
        return self

    def sink(self, name: str) -> SinkConfig:
        for s in self.sinks:
            if s.name == name:
                return s
        raise KeyError(name)

    def source(self, name: str) -> SourceConfig:
        for s in self.sources:
            if s.name == name:
                return s
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


_REGISTRIES: dict[str, dict[str, Any]] = {"sources": SOURCES, "sinks": SINKS}


def _table(raw: dict[str, Any], loc: tuple[Any, ...]) -> tuple[str, tuple[Any, ...], tuple[Any, ...]]:
    """`[sinks.archive]`, the key path inside it, and the path of the value in `raw`."""
    if not loc:
        return "", (), ()
    head = loc[0]
    if head in _REGISTRIES and len(loc) > 1 and isinstance(loc[1], int):
        items = raw.get(head) or []
        name = items[loc[1]].get("name") if loc[1] < len(items) and isinstance(items[loc[1]], dict) else None
        label = f"[{head}.{name}]" if isinstance(name, str) and name else f"[[{head}]] #{loc[1] + 1}"
        rest = loc[2:]
        if rest and isinstance(rest[0], str) and rest[0] in _REGISTRIES[head]:  # the discriminator's tag
            rest = rest[1:]
        return label, rest, loc[:2] + rest
    if head == "agent":
        return "[agent]", loc[1:], loc
    return "", loc, loc


def _value(raw: Any, keys: tuple[Any, ...]) -> Any:
    for key in keys:
        try:
            raw = raw[key]
        except (KeyError, IndexError, TypeError):
            return None
    return raw


_SECRET_KEYS = ("token", "password", "key", "secret", "headers")
_USERINFO = re.compile(r"(://)[^/@\s\"]+@")  # user:password in a URL


def _secret_key(key: Any) -> bool:
    return isinstance(key, str) and any(s in key.lower() for s in _SECRET_KEYS)


def _masked(value: Any) -> Any:
    """A table shown whole (an error about a combination of keys) with its secrets hidden."""
    if isinstance(value, dict):
        return {k: "(hidden)" if _secret_key(k) else _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def _describe(value: Any, keys: tuple[Any, ...]) -> str:
    """The offending value as TOML-like text, or "(hidden)" under a key that holds secrets."""
    if any(_secret_key(k) for k in keys):
        return "(hidden)"
    text = _USERINFO.sub(r"\1***@", json.dumps(_masked(value), ensure_ascii=False, default=str))
    return text if len(text) <= 120 else text[:117] + "..."


_NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"


def _bound(bound: Any, value: Any) -> str:
    """A limit in the unit the operator wrote the value in: "1.0 MiB" for a size, "0s" for a duration."""
    if isinstance(value, str) and isinstance(bound, (int, float)):
        for parse, show in ((parse_size, format_size), (parse_duration, lambda b: f"{b:g}s")):
            try:
                parse(value)
            except ValueError:
                continue
            return show(bound)
    return f"{bound:g}" if isinstance(bound, float) else str(bound)


def _message(err: Mapping[str, Any], value: Any) -> str:
    """Pydantic's message reworded as what was expected."""
    kind, msg, ctx = err.get("type", ""), str(err.get("msg", "")), err.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known key here (check its spelling)"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        op = {"greater_than_equal": "≥", "greater_than": ">", "less_than_equal": "≤", "less_than": "<"}[kind]
        return f"expected a value {op} {_bound(next(iter(ctx.values()), ''), value)}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "expected a whole number"
    if kind in ("bool_parsing", "bool_type"):
        return "expected true or false"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "expected a table"
    if kind == "list_type":
        return "expected a list"
    if kind == "too_short":
        return f"expected at least {ctx.get('min_length', 1)} item(s)"
    if kind == "string_pattern_mismatch" and ctx.get("pattern") == _NAME_PATTERN:
        return "expected only letters, digits, '_', '.' and '-'"
    if msg.startswith("Input should be "):
        return "expected " + msg.removeprefix("Input should be ")
    return msg.removeprefix("Value error, ")


def _line(raw: dict[str, Any], err: Mapping[str, Any]) -> str:
    """One error as `[table] key: what is wrong; got value` (without the file name)."""
    located = (err.get("ctx") or {}).get("error")
    if isinstance(located, _Located):
        table, keys, _ = _table(raw, located.loc)
        return f"{table} {'.'.join(map(str, keys))}: {located.msg}; got {_describe(located.value, keys)}"
    loc = tuple(err.get("loc", ()))
    table, keys, path = _table(raw, loc)
    kind = err.get("type")
    if kind in ("union_tag_invalid", "union_tag_not_found") and loc and loc[0] in _REGISTRIES:
        item = _value(raw, path)
        expected = f"expected one of {', '.join(sorted(_REGISTRIES[loc[0]]))}"
        if not isinstance(item, dict):
            return f"{table}: expected a table; got {_describe(item, ())}"
        if "type" not in item:
            return f"{table} type: is required; {expected}"
        return f"{table} type: unknown {loc[0][:-1]} type; {expected}; got {_describe(item['type'], ())}"
    if kind == "extra_forbidden" and len(loc) == 1:
        return (f"{loc[0]}: is not a known top-level key; expected [agent], [[sources]] or [[sinks]]; "
                f"got {_describe(_value(raw, path), keys)}")
    where = " ".join(p for p in (table, ".".join(map(str, keys))) if p)
    value = _value(raw, path)
    shown = "" if kind == "missing" else f"; got {_describe(value, keys)}"
    return f"{where}: {_message(err, value)}{shown}"


def load(path: Path, *, warnings: Optional[list[str]] = None) -> Config:
    """Read and validate the config at `path`; raises ConfigError with one line per problem."""
    path = Path(path)
    label = path.name
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the config: {exc.strerror}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{label}: not valid TOML: not UTF-8 text (byte {exc.start})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{label}: not valid TOML: {exc}"]) from None
    collected: list[str] = []
    context = {"base_dir": path.resolve().parent, "warnings": collected}
    try:
        config = Config.model_validate(raw, context=context)
    except ValidationError as exc:
        lines = [f"{label}: {_line(raw, err)}" for err in exc.errors()]
        raise ConfigError(lines) from None
    if warnings is not None:
        for w in collected:
            warnings.append(f"{label}: {w}")
    return config
