"""The configuration reference, rendered from the models' field descriptions.

README.md embeds this output between markers and a test compares the two, so the
reference cannot drift from the code: `python -m agent.config_reference`.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from agent.config import AgentSettings
from agent.sinks import SINKS
from agent.sinks.base import RetryPolicy
from agent.sources import SOURCES

_UNITS = {"spool_max_bytes": "size", "batch_bytes": "size", "max_line_bytes": "size"}


def _default(name: str, info: Any) -> str:
    if name == "host":
        return "this host's name"
    if info.default is PydanticUndefined:
        return "required" if info.default_factory is None else "see below"
    value = info.default
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and name not in _UNITS:
        return f'"{value:g}s"'
    if isinstance(value, int) and name in _UNITS:
        for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
            if value % size == 0:
                return f'"{value // size}{unit}"'
    if isinstance(value, str):
        return f'"{value}"'
    return str(value).replace("PosixPath(", "").replace(")", "").replace("'", '"')


def table(model: type[BaseModel], skip: tuple[str, ...] = ()) -> str:
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        desc = (info.description or "").replace("|", "\\|")
        if name == "retry":
            desc = "retry policy: `{ initial, max, max_retries }` (below)"
        if name == "log_level":
            desc = "debug, info, warning or error"
        if name == "type":
            continue
        rows.append(f"| `{name}` | {_default(name, info)} | {desc} |")
    return "\n".join(rows)


def render() -> str:
    parts = ["### `[agent]`", "", table(AgentSettings), ""]
    for kind, entry in SOURCES.items():
        parts += [f"### `[[sources]]` with `type = \"{kind}\"`", "", table(entry.config), ""]
    parts += ["### `retry` (in every `[[sinks]]`)", "", table(RetryPolicy), ""]
    for kind, sink in SINKS.items():
        parts += [f"### `[[sinks]]` with `type = \"{kind}\"`", "", table(sink.config), ""]
    return "\n".join(parts).rstrip() + "\n"


if __name__ == "__main__":
    print(render(), end="")
