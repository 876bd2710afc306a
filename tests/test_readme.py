"""README.md agrees with the code: the config reference is the rendered models, and the
quick start and CI use the same test command."""
from __future__ import annotations

import re
from pathlib import Path

from agent.config_reference import render

ROOT = Path(__file__).resolve().parent.parent


def test_config_reference_in_readme_is_generated_from_the_models() -> None:
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- config-reference:start -->")[1].split("<!-- config-reference:end -->")[0]
    assert block.strip() == render().strip(), "run: python -m agent.config_reference and paste into README.md"


def test_ci_runs_the_test_command_the_readme_gives() -> None:
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"pip install -e '\.\[test\]' && python -m pytest -q", readme)
    assert command is not None
    assert command.group(0) in (ROOT / ".ci" / "run").read_text()
