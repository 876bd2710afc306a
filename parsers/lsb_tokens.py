"""The lexer of openlava/LSF event-log lines (lsb.events, lsb.acct): quoted strings and bare numbers.

One record per line; tokens are separated by runs of white space (the writers pad `%6.2f`
with spaces). A token is a quoted string, written by openlava's `addQStr` as `"` + the bytes
with every `"` doubled + `"`, or a bare word (a number written by `%d`/`%f`). Bare words are
read with JSON's number grammar, which is what C's `printf` writes (scheduler.md §2.1).

Tokens come out typed: `str` for a quoted string, `int`/`float` for a number, and `bytes` for
a bare word that is not a number (LSF 9's host-rusage host names, or damage such as `02`,
two fields run together: C's `%d` never writes a leading zero).

Transfer-file names (JOB_NEW's and JOB_MODIFY2's `xf`) are the exception openlava makes: it
writes them with a raw `"%s"`, not `addQStr`. They are read like any quoted string, as
openlava's own `stripQStr` reads them: `""` inside one reads as a single quote, and a lone
quote ends the name early, so the record's later fields shift and it fails to fit its layout
(a `ParseError` naming the field). Nothing better is possible: the bytes are ambiguous.

Strings are decoded as UTF-8 with invalid bytes replaced by U+FFFD, not surrogate-escaped:
the records become JSON, and a lone surrogate is not valid JSON (orjson refuses it), so one
stray byte in a job's command would otherwise stop the batch it is in. The files declare no
encoding; every sample is UTF-8 (`aàb`), and openlava copies the bytes it was given.

Two lexers give the same tokens (a test holds them to it). `lex` rewrites the line into a
JSON array with a few whole-line byte operations and lets orjson convert every token at C
speed; a line that does not fit that (bare words, invalid UTF-8, control characters in a
string, a NUL outside one, an unterminated quote) goes to `lex_slow`, which applies the same
rules part by part. `spans` gives each token's place in the line, for error messages.
"""
from __future__ import annotations

import re
from typing import NamedTuple, Optional, Union, cast

import orjson

#: A lexed token: quoted string (str), number (int, float), or other bare word (bytes).
Token = Union[str, int, float, bytes]

_loads = orjson.loads
_NUMBER = re.compile(rb"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
#: A quoted string (possessive: a doubled quote is never a closing one), a bare word, or a
#: quote that opens a string nothing closes.
_TOKEN = re.compile(rb'"((?:[^"]|"")*+)"|([^ \t\n\r\x0b\x0c"]+)|"')
_LEADING_ZERO = re.compile(rb"[+-]?0[0-9]+")
_NUMERIC = b"0123456789-+.eE,"  # bare words joined by commas that may be JSON numbers
#: What may stand outside the strings on the inline path: numbers, single spaces, `"%s"` slots
#: where the strings were. Not commas: `1,2` is one bare word, as `lex_slow` reads it.
_SLOTTED = b'0123456789-+.eE "%s'
_OUTSIDE = b"0123456789-+.eE \t\n\r\x0b\x0c\x00"  # the careful path's: any white space, NUL per string
_DIGITS = b"0123456789"
_SPACE = b" \t\n\r\x0b\x0c"  # C isspace(), which is also what bytes.split() splits on
_INT_MIN, _INT_MAX = -(1 << 63), (1 << 64) - 1  # what orjson can write back out


class Lexed(NamedTuple):
    """The slow lexer's answer: the tokens, and where a quoted string that nothing closes
    starts (then `tokens` are those before it, to name the field it should have filled)."""

    tokens: list[Token]
    unterminated: Optional[int]


def skipped(line: bytes) -> bool:
    """Blank lines and `#` lines (the `#80` header, comments, also indented) are not records."""
    stripped = line.lstrip(_SPACE)
    return not stripped or stripped[:1] == b"#"


def lex(line: bytes) -> Optional[list[Token]]:
    """The tokens of one line, or None when a quoted string is not terminated (the caller
    then asks `lex_slow` where, to report it)."""
    src = line.replace(b"\\", b"\\\\") if b"\\" in line else line
    parts = src.split(b'"')
    if len(parts) & 1:
        # The usual shape first (one space between tokens), inline: a `"%s"` slot where each
        # string was, filled by one `%`. No other `%` may reach it (`%99999999s` would pad).
        text = b'"%s"'.join(parts[0::2])
        if not text.translate(None, _SLOTTED) and text.count(b"%") == len(parts) >> 1:
            text = text.replace(b" ", b",")
            if b'""' in text:  # two strings with nothing between them: a doubled quote
                text = text.replace(b'""', b'\\"')
            try:
                tokens: list[Token] = _loads(b"[" + text % tuple(parts[1::2]) + b"]")
                return tokens
            except orjson.JSONDecodeError:  # e.g. a stray s or e, or a run of spaces
                pass
        careful = _as_json(parts)
        if careful is not None:
            return careful
    lexed = lex_slow(line)
    return lexed.tokens if lexed.unterminated is None else None


def _as_json(parts: list[bytes]) -> Optional[list[Token]]:
    """Rewrite the quote-split line as a JSON array and let orjson read it.

    The outside parts are joined with NUL where each string was and white space becomes
    commas; each NUL then becomes a `"%s"` slot, filled with the strings by one `%`. `lex`
    tries the usual shape inline first (where two slots with nothing between them are a
    doubled quote); this careful try joins doubled quotes first and collapses runs of white
    space. Anything but numbers outside the strings (a word, JSON's true, [1]...) is left to
    `lex_slow`; so is a NUL outside them, which makes a slot too many (a TypeError).
    """
    _join_doubled(parts, b'\\"')
    outside = b"\x00".join(parts[0::2])
    if outside.translate(None, _OUTSIDE):
        return None
    bare = b",".join(outside.replace(b"\x00", b" \x00 ").split())
    try:
        tokens: list[Token] = _loads(b"[%b]" % bare.replace(b"\x00", b'"%s"') % tuple(parts[1::2]))
        return tokens
    except (orjson.JSONDecodeError, TypeError):
        return None


def lex_slow(line: bytes) -> Lexed:
    """Read the line the way openlava's `stripQStr` and `sscanf` do: a string runs from a
    quote to the next quote that is not doubled; anything else up to white space or a
    quote is a bare word."""
    parts = line.split(b'"')
    if not len(parts) & 1:
        return Lexed(*_unterminated(line))
    _join_doubled(parts, b'"')
    tokens: list[Token] = []
    words: list[bytes] = []
    where: list[int] = []
    last = len(parts) - 1
    for k, part in enumerate(parts):
        if k & 1:
            tokens.append(part.decode("utf-8", "replace"))
            continue
        for word in part.split():
            where.append(len(tokens))
            words.append(word)
            tokens.append(word)
        if k == last:
            break
    for at, value in zip(where, _numbers(words)):
        tokens[at] = value
    return Lexed(tokens, None)


def _join_doubled(parts: list[bytes], quote: bytes) -> None:
    """Merge `"a""b"` (split as a, empty, b) into one string part holding a + quote + b.

    An empty outside part between two string parts is a doubled quote; the first and last
    parts are outside any string and may be empty (a line that starts or ends with a quote).
    `list.index` finds the empty ones at C speed; each run of them (quotes in a row inside a string)
    becomes one part, and the parts between runs are copied by slices, so that the cost follows the
    number of doubled quotes, not of parts, and a line of many stays linear.
    """
    outside = parts[2:len(parts) - 1:2]  # parts[2 + 2j], between two string parts
    if b"" not in outside:
        return
    empty = [outside.index(b"")]
    try:
        while True:
            empty.append(outside.index(b"", empty[-1] + 1))
    except ValueError:
        pass
    out: list[bytes] = []
    copied = r = 0
    while r < len(empty):
        first = empty[r]
        while r + 1 < len(empty) and empty[r + 1] == empty[r] + 1:
            r += 1
        # outside parts first..empty[r] are parts 2*first+2 ..: join the strings around them
        out += parts[copied:2 * first + 1]
        out.append(quote.join(parts[2 * first + 1:2 * empty[r] + 4:2]))
        copied = 2 * empty[r] + 4
        r += 1
    out += parts[copied:]
    parts[:] = out


def _numbers(words: list[bytes]) -> list[Token]:
    """`bare` over many words, in one orjson call when they are all plain numbers."""
    values = _all_numbers(words)
    if values is not None:
        return values
    # Some are not numbers (LSF 9's bare host names): a JSON number starts with a digit or
    # `-` and ends with a digit; read those together, keep the others as bytes.
    out: list[Token] = list(words)
    at = [k for k, w in enumerate(words) if w[-1] in _DIGITS and (w[0] in _DIGITS or w[0] == 45)]
    numbers = _all_numbers([words[k] for k in at]) or [bare(words[k]) for k in at]
    for k, value in zip(at, numbers):
        out[k] = value
    return out


def _all_numbers(words: list[bytes]) -> Optional[list[Token]]:
    joined = b",".join(words)
    if not joined.translate(None, _NUMERIC):
        try:
            values: list[Token] = _loads(b"[%b]" % joined)
            if len(values) == len(words):
                return values
        except orjson.JSONDecodeError:
            pass
    return None


def _unterminated(line: bytes) -> tuple[list[Token], int]:
    """The tokens before the quoted string that nothing closes, and where that string starts."""
    for m in _TOKEN.finditer(line):
        if m.group(1) is None and m.group(2) is None:
            return lex_slow(line[:m.start()]).tokens, m.start()
    raise AssertionError("an odd number of quotes always leaves one unterminated string")


def spans(line: bytes) -> list[tuple[int, int]]:
    """The byte span of every token `lex_slow` gives (for error messages)."""
    found = []
    for m in _TOKEN.finditer(line):
        if m.group(1) is None and m.group(2) is None:
            break
        found.append(m.span())
    return found


def bare(raw: bytes) -> Token:
    """A bare word as a number when it is one in JSON's grammar, else the raw bytes.

    Integers beyond 64 bits become floats, as orjson reads them, so that both lexers agree
    and every int can be written back as JSON.
    """
    m = _NUMBER.fullmatch(raw)
    if m is None:
        return raw
    if m.group(1) is None and b"e" not in raw and b"E" not in raw:
        value = int(raw)
        return value if _INT_MIN <= value <= _INT_MAX else float(value)
    number = float(raw)
    return number if number not in (float("inf"), float("-inf")) else raw


def plain(token: Token) -> Union[str, int, float]:
    """A token as a JSON value: a bare word that is not a number becomes text."""
    return token.decode("utf-8", "replace") if isinstance(token, bytes) else token


def plain_list(tokens: list[Token]) -> list[Union[str, int, float]]:
    """`plain` over a list, without copying in the usual case of no bare words."""
    if bytes in map(type, tokens):
        return [plain(t) for t in tokens]
    return cast("list[Union[str, int, float]]", tokens)


def show(line: bytes, span: tuple[int, int], limit: int = 40) -> str:
    """A token as written in the line, shortened, for error messages."""
    raw = line[span[0]:span[1]]
    text = raw[:limit].decode("utf-8", "replace")
    return text + "..." if len(raw) > limit else text


def leading_zero(line: bytes, span: tuple[int, int]) -> bool:
    """Whether a bare word is digits with a leading zero (two `%d` fields run together)."""
    return _LEADING_ZERO.fullmatch(line[span[0]:span[1]]) is not None
