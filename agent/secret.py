"""Secret config values: read from "env:VAR" or "file:PATH", never echoed.

An inline secret is accepted (a first install should not fail on it) but produces a
warning, because the config file is usually world-readable. The value is held in a
pydantic `SecretStr`, whose str() and repr() are masked, so it cannot leak through a
log line, `status`, or the text of a validation error.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Optional

from pydantic import SecretStr, ValidationInfo, WrapValidator


def resolve_secret(value: Any, warn: Any = None, where: str = "", base_dir: Optional[Path] = None) -> SecretStr:
    """Turn "env:VAR", "file:PATH" or an inline string into a `SecretStr`.

    Raises ValueError naming the variable or file (never the value) when it cannot
    be read. `warn` (a list) collects the inline-secret warning. A relative PATH is
    relative to `base_dir` (the config file's directory), like every path in the config.
    """
    if isinstance(value, SecretStr):
        return value
    if not isinstance(value, str):
        raise ValueError('expected a string: "env:VAR", "file:PATH" or the value itself')
    if value.startswith("env:"):
        var = value[4:]
        if not var:
            raise ValueError('expected "env:VAR" with the name of an environment variable')
        if var not in os.environ:
            raise ValueError(f"environment variable {var} is not set")
        return SecretStr(os.environ[var])
    if value.startswith("file:"):
        if not value[5:]:
            raise ValueError('expected "file:PATH" with the path of a file')
        path = Path(value[5:]).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        return SecretStr(read_secret_file(str(path)))
    if isinstance(warn, list):
        warn.append(f"{where}an inline secret is readable by anyone who can read the config; "
                    'write "env:VAR" or "file:PATH" instead')
    return SecretStr(value)


def read_secret_file(path: str) -> str:
    """The first line of a secret file, without its newline (how key files are written)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None
    return text.splitlines()[0] if text else ""


def _validate(value: Any, handler: Any, info: ValidationInfo) -> SecretStr:
    context = info.context if isinstance(info.context, dict) else {}
    return resolve_secret(value, context.get("warnings"), f"{info.field_name}: " if info.field_name else "",
                          context.get("base_dir"))


Secret = Annotated[SecretStr, WrapValidator(_validate)]


def hide_in_cmdline(secret: str) -> bool:
    """Overwrite `secret` with "x"s in this process's command line, as `mysql -p` does.

    The old importers take their key as an argument; logspool accepts it (a drop-in must),
    but `ps` and /proc/<pid>/cmdline of this process and of every process forked from it
    (the drain) would show it for the whole run. Linux keeps the command line in the
    process's own memory between `arg_start` and `arg_end` (/proc/self/stat, fields 48-49);
    a process may write its own memory through /proc/self/mem. The key stays visible for
    the moment between exec and this call. Returns whether the command line held it.
    """
    if not secret:
        return False
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        start, end = int(fields[45]), int(fields[46])  # fields 48 and 49, counted from "state" = 3
        with open("/proc/self/mem", "r+b", buffering=0) as mem:
            mem.seek(start)
            args = mem.read(end - start)
            hidden = args.replace(secret.encode(), b"x" * len(secret.encode()))
            if hidden == args:
                return False
            mem.seek(start)
            mem.write(hidden)
        return True
    except (OSError, ValueError, IndexError):  # not Linux, or /proc not mounted: nothing to hide
        return False
