"""A filesystem path in the config, resolved against the config file's directory.

Operators copy a site config around; a relative `spool = "spool.db"` must mean the
file beside the config, not whatever directory a systemd unit or logrotate runs in.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import ValidationInfo, WrapValidator


def _resolve(value: Any, handler: Any, info: ValidationInfo) -> Path:
    if not isinstance(value, (str, Path)) or str(value) == "":
        raise ValueError("expected a path (a non-empty string)")
    path = Path(value).expanduser()
    base = (info.context or {}).get("base_dir") if info.context else None
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    return path


ConfigPath = Annotated[Path, WrapValidator(_resolve)]
