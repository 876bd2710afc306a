"""Meta-tests: the shape of the tree that STYLE.md promises, checked rather than hoped for.

They read the source (an AST import walk, line counts, docstrings), the public surface
(`__all__` of every package, pinned here so that a change to it is a visible decision), and the
docs (every CLI verb in README.md, every sink type in agent.toml.example, which must pass
check-config), the way httpx's test_exported_members and sqlite-utils' test_docs do.
"""
from __future__ import annotations

import argparse
import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from agent.cli import build_parser
from agent.sinks import SINKS

ROOT = Path(__file__).resolve().parent.parent
CODE = ("agent", "parsers", "spool")
MAX_LINES = 400
NOT_SOURCE = {"tests", "build", "dist", "venv", "node_modules", "__pycache__"}

#: The public surface of each package. Changing one is a decision: change it here too.
EXPORTS = {
    "agent": [],
    "agent.cli": ["VERSION", "build_parser", "main"],
    "agent.sinks": ["SINKS", "Batch", "Delivered", "Misconfigured", "Outcome", "Reject", "Retry",
                    "RetryPolicy", "Sink", "SinkConfig", "SinkKind"],
    "agent.sources": ["SOURCES", "SourceConfig", "SourceKind"],
    "parsers": ["DOCUMENTS", "ENVELOPE_KEYS", "FRAMERS", "Framer", "HISTORY_OFFSETS", "TEXT_RECORDS", "FORMATS", "ParseError", "Parsed", "Parser", "parser_for"],
    "spool": ["InstanceLock", "Spool", "SpoolBusy", "SpoolCorrupt", "SpoolError", "SpoolFull", "SpoolLocked",
              "SpoolSinkState",
              "checkpoints", "chunks", "counters", "dead_letters"],
}

#: Imports flow one way (DESIGN.md): package -> top-level packages it must never import.
FORBIDDEN = {"parsers": {"agent", "spool"}, "spool": {"agent"}}


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imported_packages(path: Path) -> set[str]:
    """Top-level package names imported anywhere in the file, relative imports resolved."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    here = parts[:-1]  # the package a relative import starts from (for __init__ too)
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - node.level + 1]
                found.add(base[0] if base else (node.module or "").split(".")[0])
            else:
                found.add((node.module or "").split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_flow_one_way(package: str) -> None:
    offenders = [f"{p.relative_to(ROOT)} imports {', '.join(sorted(imported_packages(p) & FORBIDDEN[package]))}"
                 for p in modules(package) if imported_packages(p) & FORBIDDEN[package]]
    assert offenders == []


@pytest.mark.parametrize("package", sorted(EXPORTS))
def test_package_exports_are_pinned(package: str) -> None:
    module = importlib.import_module(package)
    assert sorted(getattr(module, "__all__", ["<no __all__>"])) == sorted(EXPORTS[package])
    assert [name for name in EXPORTS[package] if not hasattr(module, name)] == []


def cli_verbs() -> dict[str, str | None]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    helps = {action.dest: action.help for action in sub._choices_actions}
    return {verb: helps.get(verb) for verb in sub.choices}


def test_every_cli_verb_has_help_text() -> None:
    verbs = cli_verbs()
    assert verbs
    assert [verb for verb, help in verbs.items() if not help] == []


def test_every_cli_verb_appears_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text() if (ROOT / "README.md").exists() else ""
    assert [verb for verb in cli_verbs() if f"logspool {verb}" not in readme] == []


def test_every_sink_type_appears_in_the_example_config() -> None:
    example = (ROOT / "agent.toml.example").read_text()
    written = set(re.findall(r'^[#\s]*type\s*=\s*"([^"]+)"', example, flags=re.MULTILINE))
    assert sorted(set(SINKS) - written) == []


def test_example_config_passes_check_config() -> None:
    done = subprocess.run([sys.executable, "-m", "agent.cli", "check-config", "agent.toml.example"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def source_files() -> list[Path]:
    """Every Python file of ours outside tests/: not build output, caches or virtualenvs."""
    return [p for p in sorted(ROOT.rglob("*.py"))
            if not any(part in NOT_SOURCE or part.startswith(".") or part.endswith(".egg-info")
                       for part in p.relative_to(ROOT).parts[:-1])]


def test_no_source_file_outside_tests_is_over_400_lines() -> None:
    lengths = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in source_files()}
    assert {path: n for path, n in lengths.items() if n > MAX_LINES} == {}


def test_every_module_starts_with_a_docstring() -> None:
    missing = [str(p.relative_to(ROOT)) for pkg in CODE for p in modules(pkg)
               if not ast.get_docstring(ast.parse(p.read_text()))]
    assert missing == []
