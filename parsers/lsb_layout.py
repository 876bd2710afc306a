"""Record layouts of the openlava/LSF event logs, and the two readers made from each layout.

A layout is a tuple of steps (a field, a counted array, a fixed list, a nested group, fields
present only when an option bit is set, a place where the record may end). From it come:

- `compile_layout`: Python source generated once per (event type, version) and `exec`ed, so
  the hot path (≈120 JOB_FINISH fields) runs as straight-line code with no call per field.
  Each value is checked by an operation that fails on any other kind of token
  (`index(tok)` accepts only an int, `0.0 + tok` a number, `tok + ""` a string), so a record
  that does not fit raises TypeError, ValueError or IndexError and nothing else;
- `check_layout`: an interpreter over the same steps that checks each field and raises `Bad`
  naming the field, the token and the reason. The compiled reader's failures are re-read
  with it, so errors are precise without slowing down the records that parse.

Tests hold the two to the same answers on generated records.
"""
from __future__ import annotations

import sys
from operator import index
from typing import Any, Callable, NamedTuple, Optional, Union

from .lsb_tokens import Token, plain_list

I, F, S, W = "int", "float", "str", "word"  # W: a quoted string or a bare word (LSF host names)
_EXPECT = {I: "an integer", F: "a number", S: "a quoted string"}

#: Tokens and the position of the next one -> the values read and the next position.
Reader = Callable[[list[Token], int], tuple[dict[str, Any], int]]


class Field(NamedTuple):
    """One value: I an int, F a number (ints widened to float), S a quoted string, W either."""

    name: str
    kind: str


class Fixed(NamedTuple):
    """`size` values with no count before them (openlava's 11 rLimits)."""

    name: str
    kind: str
    size: int


class Array(NamedTuple):
    """A count field (`num`), then that many items: values of one kind, or records of a layout."""

    num: str
    name: str
    item: Union[str, "Layout"]


class Group(NamedTuple):
    """Fields gathered in a nested object (lsfRusage)."""

    name: str
    fields: tuple[Field, ...]


class When(NamedTuple):
    """Steps written only when any of the tests holds: (field, bit mask) is `field & mask`;
    a mask of 0 means `field != 0`, -1 means `field == 0`. The fields tested are read earlier
    in the same layout."""

    tests: tuple[tuple[str, int], ...]
    steps: "Layout"


class End(NamedTuple):
    """The record may end here (older LSF versions stop earlier than newer ones)."""


class Custom(NamedTuple):
    """A count and its entries read by hand (LSF's host rusage, whose width the samples must
    decide). `read` checks everything itself, raises `Bad`, and returns {num: n, name:
    entries} and the next position. A count of 0 is read without the call."""

    num: str
    name: str
    read: Reader


Step = Union[Field, Fixed, Array, Group, When, End, Custom]
Layout = tuple[Step, ...]


class Bad(Exception):
    """A record does not fit its layout: which field, at which token, why.

    `got`: append the offending token as written (the caller has the line).
    """

    def __init__(self, reason: str, field: Optional[str], index: int, got: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.field, self.index, self.got = reason, field, index, got


_STEPS = (Field, Fixed, Array, Group, When, End, Custom)


def fields(kind: str, names: str) -> Layout:
    """Several fields of one kind, named in one space-separated string."""
    return tuple(Field(name, kind) for name in names.split())


def seq(*parts: Union[Step, Layout]) -> Layout:
    """Steps and layouts, flattened into one layout (steps are tuples too: told apart by type)."""
    out: list[Step] = []
    for part in parts:
        if isinstance(part, _STEPS):
            out.append(part)
        else:
            out += part
    return tuple(out)


def word(token: Token) -> str:
    """A bare or quoted word as text (LSF writes some host names unquoted)."""
    if isinstance(token, str):
        return token
    if isinstance(token, bytes):
        return token.decode("utf-8", "replace")
    return str(token)


# ---- the compiled reader ----------------------------------------------------------------

#: Each check returns the value or raises. `_index` (operator.index) returns an int itself and
#: refuses anything else, at a third of the cost of `| 0`, which makes a new int; `0.0 + x`
#: is float's own addition, which takes an int directly (and makes -0.0 0.0, as `x + 0.0`).
_CHECKS = {I: "_index({})", F: "0.0 + {}", S: "{} + ''", W: "_word({})"}


class _Source:
    """Python source for one reader.

    `pos` is the index of the next token: a constant until a count makes the position vary,
    then an offset from the variable `i` (item readers start there). The data dict starts
    as a copy of a template holding the keys up to the first `When` or `End` in order (a
    copy is about half the cost of a 100-key dict display), and each value is stored as it
    is read.
    """

    def __init__(self, env: dict[str, Any], item: bool) -> None:
        self.lines: list[str] = []
        self.env = env
        self.relative = item
        self.pos = 0

    def at(self, extra: int = 0) -> str:
        k = self.pos + extra
        return (f"i + {k}" if k else "i") if self.relative else str(k)

    def advance(self, indent: int, expr: str) -> None:
        """The next token is at `expr` (an index expression): `i` from now on."""
        self.emit(indent, f"i = {expr}")
        self.relative, self.pos = True, 0

    def emit(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)

    def settle(self, indent: int) -> None:
        """Make `i` the position, before code whose length varies."""
        if self.pos or not self.relative:
            self.advance(indent, self.at())

    def constant(self, value: Any) -> str:
        name = f"_c{len(self.env)}"
        self.env[name] = value
        return name


def _keys(layout: Layout) -> list[str]:
    """The keys every record of `layout` has, in order, up to the first `When` or `End`."""
    keys: list[str] = []
    for step in layout:
        if isinstance(step, (When, End)):
            break
        keys += [step.num, step.name] if isinstance(step, (Array, Custom)) else [step.name]
    return keys


def compile_layout(layout: Layout, head: tuple[tuple[str, str], ...] = (), start: int = 0,
                   item: bool = False) -> Callable[..., Any]:
    """The fast reader of `layout`.

    Record readers (`item=False`) take the token list and return the data, beginning with
    `head` (name, expression) entries, reading from token `start`, and keeping tokens past
    the layout as `unparsed`. Item readers take (tokens, position) and return (data, next).
    """
    env: dict[str, Any] = {"_word": word, "_plain_list": plain_list, "_items": _items, "_index": index}
    src = _Source(env, item)
    src.pos = 0 if item else start
    # interned like the code's constant keys, so that each store finds its key by identity
    template = dict.fromkeys(sys.intern(name) for name in [name for name, _ in head] + _keys(layout))
    src.emit(1, f"d = {src.constant(template)}.copy()")
    for name, expr in head:
        src.emit(1, f"d[{name!r}] = {expr}")
    _steps(src, layout, 1)
    if item:
        src.emit(1, f"return d, {src.at()}")
        header = "def _read(t, i):"
    else:
        src.emit(1, f"if len(t) > {src.at()}:")
        src.emit(2, f"d['unparsed'] = _plain_list(t[{src.at()}:])")
        src.emit(1, "return d")
        header = "def _read(t):"
    code = "\n".join([header] + src.lines)
    exec(compile(code, "<lsb layout>", "exec"), env)  # noqa: S102 - our own generated source
    reader: Callable[..., Any] = env["_read"]
    return reader


def _test(name: str, mask: int) -> str:
    return f"d[{name!r}] & {mask}" if mask > 0 else f"d[{name!r}] {'!=' if mask == 0 else '=='} 0"


def _steps(src: _Source, layout: Layout, indent: int) -> None:
    run: list[Union[Field, Group]] = []
    for k, step in enumerate(layout):
        if isinstance(step, (Field, Group)):
            run.append(step)
            if k + 1 == len(layout) or not isinstance(layout[k + 1], (Field, Group)):
                _run(src, run, indent)
                run = []
        elif isinstance(step, Fixed):
            src.emit(indent, f"if len(t) < {src.at(step.size)}: raise IndexError")
            items = f"t[{src.at()}:{src.at(step.size)}]"
            src.emit(indent, f"d[{step.name!r}] = [{_CHECKS[step.kind].format('x')} for x in {items}]")
            src.pos += step.size
        elif isinstance(step, Array):
            _array(src, step, indent)
        elif isinstance(step, When):
            src.settle(indent)
            src.emit(indent, f"if {' or '.join(_test(name, mask) for name, mask in step.tests)}:")
            src.emit(indent + 1, "pass")
            _steps(src, step.steps, indent + 1)
            src.settle(indent + 1)
        elif isinstance(step, End):
            src.emit(indent, f"if len(t) == {src.at()}: return d")
        else:
            _custom(src, step, indent)


def _run(src: _Source, run: list[Union[Field, Group]], indent: int) -> None:
    """Fields in a row: one slice unpacked into locals (a short record raises ValueError),
    which costs less than indexing each token at a varying position."""
    width = sum(len(step.fields) if isinstance(step, Group) else 1 for step in run)
    names = [f"v{k}" for k in range(width)] if width > 1 else [f"t[{src.at()}]"]
    if width > 1:
        src.emit(indent, f"{', '.join(names)} = t[{src.at()}:{src.at(width)}]")
    for step in run:
        if isinstance(step, Field):
            src.emit(indent, f"d[{step.name!r}] = " + _CHECKS[step.kind].format(names.pop(0)))
            continue
        # a display of up to 15 entries is built presized (BUILD_CONST_KEY_MAP); one more and
        # CPython 3.11 adds them one by one to a dict that grows
        values = [(f.name, _CHECKS[f.kind].format(names.pop(0))) for f in step.fields]
        src.emit(indent, "g = {" + ", ".join(f"{name!r}: {expr}" for name, expr in values[:15]) + "}")
        for name, expr in values[15:]:
            src.emit(indent, f"g[{name!r}] = {expr}")
        src.emit(indent, f"d[{step.name!r}] = g")
    src.pos += width


def _custom(src: _Source, step: Custom, indent: int) -> None:
    src.settle(indent)
    first = src.at()
    src.emit(indent, f"if t[{first}] == 0:")  # the usual count of 0, without the call
    src.emit(indent + 1, f"d[{step.num!r}] = _index(t[{first}])")
    src.emit(indent + 1, f"d[{step.name!r}] = []")
    src.emit(indent + 1, f"e = {first} + 1")
    src.emit(indent, "else:")
    src.emit(indent + 1, f"v, e = {src.constant(step.read)}(t, {first})")
    src.emit(indent + 1, "d.update(v)")
    src.advance(indent, "e")


def _flat(item: "Layout") -> bool:
    return all(isinstance(step, Field) for step in item)


def _array(src: _Source, step: Array, indent: int) -> None:
    src.emit(indent, f"c = _index(t[{src.at()}])")
    first = src.at(1)
    src.emit(indent, "if c:")  # the usual empty array in three statements
    src.emit(indent + 1, "if c < 0: raise ValueError")
    inner = indent + 1
    if isinstance(step.item, str):
        src.emit(inner, f"a = t[{first}:{first} + c]")
        src.emit(inner, "if len(a) != c: raise IndexError")
        if step.item == S:
            src.emit(inner, "''.join(a)")  # TypeError unless every item is a string
        elif step.item != W:
            src.emit(inner, f"a = [{_CHECKS[step.item].format('x')} for x in a]")
        else:
            src.emit(inner, "a = [_word(x) for x in a]")
        src.emit(inner, f"e = {first} + c")
    elif _flat(step.item):  # fixed-width records: one comprehension, no call per item
        width = len(step.item)
        body = ", ".join(f"{f.name!r}: " + _CHECKS[f.kind].format(f"t[j + {k}]" if k else "t[j]")
                         for k, f in enumerate(step.item) if isinstance(f, Field))
        src.emit(inner, f"e = {first} + {width} * c")
        src.emit(inner, "if len(t) < e: raise IndexError")
        src.emit(inner, f"a = [{{{body}}} for j in range({first}, e, {width})]")
    else:
        src.emit(inner, f"a, e = _items(t, {first}, c, {src.constant(compile_layout(step.item, item=True))})")
    src.emit(indent, "else:")
    src.emit(indent + 1, "a = []")
    src.emit(indent + 1, f"e = {first}")
    src.advance(indent, "e")
    src.emit(indent, f"d[{step.num!r}] = c")
    src.emit(indent, f"d[{step.name!r}] = a")


def _items(t: list[Token], i: int, count: int, read: Callable[..., Any]) -> tuple[list[Any], int]:
    out = []
    for _ in range(count):
        value, i = read(t, i)
        out.append(value)
    return out, i


# ---- the checked reader -----------------------------------------------------------------

def check_layout(layout: Layout, t: list[Token], head: dict[str, Any], start: int) -> dict[str, Any]:
    """Read `t` from `start` field by field, raising `Bad` at the first that does not fit."""
    d = dict(head)
    i = _check(layout, t, start, d, "")
    if i is not None and i < len(t):
        d["unparsed"] = plain_list(t[i:])
    return d


def _check(layout: Layout, t: list[Token], i: int, d: dict[str, Any], prefix: str) -> Optional[int]:
    """Returns the next position, or None when the record ended at an `End`."""
    for step in layout:
        if isinstance(step, Field):
            d[step.name] = value(t, i, step.kind, prefix + step.name)
            i += 1
        elif isinstance(step, Group):
            group: dict[str, Any] = {}
            for f in step.fields:
                group[f.name] = value(t, i, f.kind, f"{prefix}{step.name}.{f.name}")
                i += 1
            d[step.name] = group
        elif isinstance(step, Fixed):
            d[step.name] = [value(t, i + k, step.kind, f"{prefix}{step.name}[{k}]") for k in range(step.size)]
            i += step.size
        elif isinstance(step, Array):
            count = value(t, i, I, prefix + step.num)
            if count < 0:
                raise Bad(f"count is negative ({count})", prefix + step.num, i)
            i += 1
            items: list[Any] = []
            for k in range(count):
                name = f"{prefix}{step.name}[{k}]"
                if isinstance(step.item, str):
                    items.append(value(t, i, step.item, name))
                    i += 1
                else:
                    entry: dict[str, Any] = {}
                    end = _check(step.item, t, i, entry, name + ".")
                    assert end is not None, "item layouts have no End"
                    i = end
                    items.append(entry)
            d[step.num] = count
            d[step.name] = items
        elif isinstance(step, When):
            if any((d[name] & mask) if mask > 0 else (d[name] != 0) == (mask == 0) for name, mask in step.tests):
                end = _check(step.steps, t, i, d, prefix)
                if end is None:
                    return None
                i = end
        elif isinstance(step, End):
            if i == len(t):
                return None
        else:
            values, i = step.read(t, i)
            d.update(values)
    return i


def value(t: list[Token], i: int, kind: str, name: str) -> Any:
    """Token `i` as a field of `kind`, or `Bad` saying why not."""
    if i >= len(t):
        raise Bad(f"missing (the record ends after {len(t)} fields)", name, i)
    token = t[i]
    if kind == W:
        return word(token)
    if kind == S:
        if isinstance(token, str):
            return token
    elif isinstance(token, int) if kind == I else isinstance(token, (int, float)):
        return token if kind == I else float(token)
    raise Bad(f"expected {_EXPECT[kind]}", name, i, got=True)
