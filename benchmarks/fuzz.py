#!/usr/bin/env python3
"""Hypothesis at depth: every parser's property tests, run for N examples each, with a report.

The properties are the ones the test suite already holds (tests/parsers/test_*.py, fed by the
strategies of tests/parsers/*_writer.py): arbitrary bytes give a record, None or ParseError and
nothing else; written records round-trip; damaged records fail with a located ParseError. This
script only re-runs them with `max_examples=N` instead of the suite's 100, so a deeper run can
never test something the suite does not, nor drift from it. On top, every framer
(`parsers.FRAMERS`) is fed arbitrary bytes here: a framer must be total.

    python benchmarks/fuzz.py --examples 100000
    python benchmarks/fuzz.py --examples 2000 --parser gridftp --seed 7
    python benchmarks/fuzz.py --examples 300 --json        # one JSON object, for tests

A property parametrised by pytest (e.g. one per openlava event type) shares its N examples
between its parameters, so every property gets N examples in all. A failing property stops at
its first (shrunk) counterexample, which is printed; the run goes on with the next one. Exit
status 0 when no property failed.
"""
from __future__ import annotations

import argparse
import functools
import importlib
import json
import math
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import parsers  # noqa: E402

TESTS = ROOT / "tests" / "parsers"
#: Test modules that are not named after one format, and the formats they exercise (a full run
#: reports them under the first; `--parser` with either runs them).
SHARED = {"test_lsb_tokens": ("openlava-events", "openlava-acct")}
#: Test modules parametrised by format name (the `name` argument).
BY_NAME = ("test_formats", "test_text_records")


@dataclass
class Result:
    """One property run: how many examples it tried, whether it failed, and how long it took."""

    parser: str
    test: str
    examples: int = 0
    failures: int = 0
    wall_s: float = 0.0
    failure: Optional[str] = None


@dataclass
class Property:
    """A @given function bound to its pytest parameters, and its share of the examples."""

    parser: str
    test: str
    fn: Any
    kwargs: dict[str, Any]
    examples: int
    count: list[int] = field(default_factory=lambda: [0])

    def run(self, seed: Optional[int]) -> None:
        """Run with this property's settings; a parametrised function is shared by several
        properties, so its settings and example counter are installed just before the call."""
        fn = self.fn
        original = _ORIGINAL.setdefault(id(fn), fn.hypothesis.inner_test)
        count = self.count

        @functools.wraps(original)
        def counted(*args: Any, **kwargs: Any) -> Any:
            count[0] += 1
            return original(*args, **kwargs)

        fn.hypothesis.inner_test = counted  # reassignable by design (hypothesis's docs)
        current = _SETTINGS.setdefault(id(fn), getattr(fn, "_hypothesis_internal_use_settings", None)
                                       or settings.default)
        fn._hypothesis_internal_use_settings = settings(
            current, max_examples=self.examples, deadline=None, database=None, derandomize=False,
            suppress_health_check=list(HealthCheck), print_blob=False)
        fn._hypothesis_internal_use_seed = seed
        fn(**self.kwargs)


_ORIGINAL: dict[int, Any] = {}
_SETTINGS: dict[int, Any] = {}


def _format_of(module: str) -> Optional[str]:
    name = module.removeprefix("test_").replace("_", "-")
    return name if name in parsers.FORMATS else None


def _params(fn: Any) -> list[dict[str, Any]]:
    """The pytest parametrisations of `fn` as keyword dicts (the cross product of its marks)."""
    combos: list[dict[str, Any]] = [{}]
    for mark in getattr(fn, "pytestmark", []):
        if mark.name != "parametrize":
            continue
        names = mark.args[0]
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
        values = []
        for v in mark.args[1]:
            v = v.values if hasattr(v, "values") and hasattr(v, "marks") else v  # pytest.param
            values.append(dict(zip(names, v if len(names) > 1 else (v,))))
        combos = [{**c, **v} for c in combos for v in values]
    return combos


def _framer_property(name: str, framer: parsers.Framer) -> Any:
    @given(st.one_of(st.binary(), st.binary(max_size=20000)), st.booleans())
    def framer_is_total(data: bytes, final: bool) -> None:
        spans, consumed = framer(data, final)
        assert 0 <= consumed <= len(data), (consumed, len(data))
        assert all(0 <= s <= e <= len(data) for s, e in spans), spans
    framer_is_total.__name__ = f"framer_of_any_bytes_is_total[{name}]"
    return framer_is_total


def properties(examples: int, only: Optional[str]) -> list[Property]:
    """Every @given test of tests/parsers, bound to its parameters, configured for `examples`."""
    found: list[Property] = []

    def add(parser: str, test: str, fn: Any, kwargs: dict[str, Any], share: int) -> None:
        if only is not None and parser != only:
            return
        found.append(Property(parser, test, fn, kwargs, max(1, math.ceil(examples / share))))

    for path in sorted(TESTS.glob("test_*.py")):
        module = importlib.import_module(f"tests.parsers.{path.stem}")
        for attr, fn in sorted(vars(module).items()):
            if not (attr.startswith("test_") and getattr(fn, "is_hypothesis_test", False)):
                continue
            combos = _params(fn)
            for kwargs in combos:
                label = attr + (f"[{','.join(str(v) for v in kwargs.values())}]" if kwargs else "")
                if path.stem in BY_NAME:
                    name = kwargs.get("name")
                    if name is not None:
                        add(name, f"{path.stem}::{label}", fn, kwargs, 1)
                    continue
                owners = SHARED.get(path.stem) or ((_format_of(path.stem),) if _format_of(path.stem) else ())
                if only is None:  # a shared module runs once in a full run, under its first format
                    owners = owners[:1]
                for owner in owners:
                    add(owner, f"{path.stem}::{label}", fn, kwargs, len(combos))
    for name, framer in sorted(parsers.FRAMERS.items()):
        prop_fn = _framer_property(name, framer)
        add(name, prop_fn.__name__, prop_fn, {}, 1)
    return found


def run(props: list[Property], seed: Optional[int] = None, progress: bool = True) -> list[Result]:
    results = []
    for prop in props:
        res = Result(prop.parser, prop.test)
        start = time.perf_counter()
        try:
            prop.run(seed)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - a property failed (pytest.fail is a BaseException): go on
            res.failures = 1
            notes = "\n".join(getattr(exc, "__notes__", []))
            res.failure = "".join(traceback.format_exception_only(type(exc), exc)).strip() + "\n" + notes
        res.wall_s = time.perf_counter() - start
        res.examples = prop.count[0]
        results.append(res)
        if progress:
            print(f"  {res.parser:16} {res.test:90.90} {res.examples:>8} ex {res.wall_s:8.1f} s"
                  + ("  FAILED" if res.failures else ""), file=sys.stderr, flush=True)
    return results


def summary(results: list[Result]) -> list[dict[str, Any]]:
    """One row per parser: examples, failing properties, wall s, examples/s."""
    rows: dict[str, dict[str, Any]] = {}
    for r in results:
        row = rows.setdefault(r.parser, {"parser": r.parser, "properties": 0, "examples": 0, "failures": 0,
                                         "wall_s": 0.0})
        row["properties"] += 1
        row["examples"] += r.examples
        row["failures"] += r.failures
        row["wall_s"] += r.wall_s
    for row in rows.values():
        row["examples_per_s"] = row["examples"] / row["wall_s"] if row["wall_s"] else 0.0
    return [rows[k] for k in sorted(rows)]


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--examples", type=int, default=1000, help="examples per property (default 1000)")
    ap.add_argument("--parser", choices=sorted(parsers.FORMATS), help="only this format's properties")
    ap.add_argument("--seed", type=int, help="hypothesis seed (default: random)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--quiet", action="store_true", help="no per-property progress on stderr")
    args = ap.parse_args(argv)
    props = properties(args.examples, args.parser)
    start = time.perf_counter()
    results = run(props, args.seed, progress=not args.quiet)
    wall = time.perf_counter() - start
    rows = summary(results)
    failed = [r for r in results if r.failures]
    if args.json:
        print(json.dumps({"examples": args.examples, "seed": args.seed, "wall_s": wall, "parsers": rows,
                          "properties": [asdict(r) for r in results]}))
    else:
        print(f"{'parser':16} {'properties':>10} {'examples':>10} {'failures':>8} {'wall s':>9} {'examples/s':>11}")
        for row in rows:
            print(f"{row['parser']:16} {row['properties']:>10} {row['examples']:>10} {row['failures']:>8} "
                  f"{row['wall_s']:>9.1f} {row['examples_per_s']:>11.0f}")
        print(f"total: {sum(r['examples'] for r in rows)} examples, {len(failed)} failing properties, {wall:.1f} s")
        for r in failed:
            print(f"\nFAILED {r.parser} {r.test}:\n{r.failure}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
