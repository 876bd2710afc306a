"""The CI profile of benchmarks/fuzz.py: every parser's properties at a small depth, and proof
that the harness reports a broken parser rather than passing whatever happens.

Both run fuzz.py in a child process: it re-configures the @given functions of tests/parsers
(settings, seed, an example counter), which must not leak into this pytest session.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from parsers import FORMATS, FRAMERS

ROOT = Path(__file__).resolve().parent.parent
FUZZ = ROOT / "benchmarks" / "fuzz.py"


def _fuzz(*args: str, prelude: str = "") -> tuple[int, dict[str, Any]]:
    code = (f"import sys, runpy; sys.argv = ['fuzz.py', *{list(args)!r}]; {prelude}\n"
            f"mod = runpy.run_path({str(FUZZ)!r}, run_name='fuzz')\n"
            "sys.exit(mod['main'](sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def test_every_parser_passes_its_properties_at_the_ci_depth() -> None:
    code, report = _fuzz("--examples", "100", "--seed", "0", "--json", "--quiet")
    rows = {row["parser"]: row for row in report["parsers"]}
    assert set(rows) == set(FORMATS)
    failed = [(p["parser"], p["test"], p["failure"]) for p in report["properties"] if p["failures"]]
    assert failed == [] and code == 0
    tests = {p["test"] for p in report["properties"]}
    for name in FORMATS:  # the arbitrary-bytes property runs for every format
        assert f"test_formats::test_any_bytes_give_a_record_none_or_parse_error[{name}]" in tests
    for name in FRAMERS:
        assert f"framer_of_any_bytes_is_total[{name}]" in tests
    for p in report["properties"]:  # each property ran its share of the examples, none vacuously
        assert p["examples"] >= 1, p
    for row in rows.values():
        assert row["examples"] >= 100 * min(row["properties"], 2), row


def test_a_parser_raising_anything_but_parse_error_is_reported_as_a_failure() -> None:
    prelude = ("import parsers\n"
               "good = parsers.FORMATS['lines']\n"
               "def broken(raw):\n"
               "    if b'x' in raw: raise IndexError('broken on purpose')\n"
               "    return good(raw)\n"
               "parsers.FORMATS['lines'] = broken\n")
    code, report = _fuzz("--examples", "200", "--parser", "lines", "--seed", "0", "--json", "--quiet",
                         prelude=prelude)
    failed = {p["test"]: p["failure"] for p in report["properties"] if p["failures"]}
    assert code == 1
    assert "test_formats::test_any_bytes_give_a_record_none_or_parse_error[lines]" in failed
    assert "IndexError: broken on purpose" in failed["test_formats::test_any_bytes_give_a_record_none_or_parse_error[lines]"]
    assert report["parsers"][0]["failures"] == len(failed)
