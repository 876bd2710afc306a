"""The `--config FILE` option every verb shares, and loading it with operator-grade errors."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.config import Config

#: Where the config is looked for without --config or $LOGSPOOL_CONFIG.
DEFAULT_CONFIG = "/etc/logspool/agent.toml"


def add(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", metavar="FILE",
                        help=f"site config (default: $LOGSPOOL_CONFIG, else {DEFAULT_CONFIG})")


def path(args: argparse.Namespace) -> Path:
    return Path(getattr(args, "config", None) or os.environ.get("LOGSPOOL_CONFIG") or DEFAULT_CONFIG)


class ConfigFailed(SystemExit):
    """Raised after printing config errors; exits 2 (the CLI convention for bad input)."""

    def __init__(self) -> None:
        super().__init__(2)


def load(args: argparse.Namespace, *, quiet_warnings: bool = False) -> "Config":
    """Load and validate the config; on error print each problem on stderr and exit 2."""
    # Imported here, not at the top: `--version`, `--help` and `parse` start without
    # building every config model (the logrotate hook and cron pay that start-up).
    from agent import config as config_mod
    from agent import logs
    from agent.config import ConfigError
    warnings: list[str] = []
    try:
        config = config_mod.load(path(args), warnings=warnings)
    except ConfigError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        raise ConfigFailed() from None
    logs.setup(config.agent.log_level)
    if not quiet_warnings:
        for w in warnings:
            print(f"warning: {w}", file=sys.stderr)
    return config
