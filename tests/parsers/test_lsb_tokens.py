"""The openlava/LSF lexer: each lexical rule of scheduler.md §2.1, and the fast lexer held to the slow one."""
from __future__ import annotations

import tracemalloc

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from parsers import lsb_tokens
from parsers.lsb_tokens import Token, bare, leading_zero, lex, lex_slow, plain, plain_list, show, skipped, spans

PADDED = b'"JOB_NEW" "10.108" 1643910037 101 "simuser" -1 -1 ""   1.00 2 "sender"'


def test_runs_of_spaces_from_padded_floats_are_one_separator() -> None:
    # `%6.2f` writes hostFactor 1.00 as "  1.00": three spaces after the empty hostSpec.
    assert lex(PADDED) == ["JOB_NEW", "10.108", 1643910037, 101, "simuser", -1, -1, "", 1.0, 2, "sender"]


def test_doubled_quotes_inside_a_string_are_one_quote() -> None:
    line = b'"JOB_FINISH" "9.11" 1 "#BSUB -R ""span[ptile=16]""    # run" "" """"'
    assert lex(line) == ["JOB_FINISH", "9.11", 1, '#BSUB -R "span[ptile=16]"    # run', "", '"']


def test_doubled_quotes_are_read_by_the_inline_json_rewrite(monkeypatch: pytest.MonkeyPatch) -> None:
    # The usual LSF line with a quote in a job's command must not need the careful lexers.
    monkeypatch.setattr(lsb_tokens, "_as_json", _not_called)
    monkeypatch.setattr(lsb_tokens, "lex_slow", _not_called)
    line = b'"JOB_FINISH" "10.108" 1 "bash -c ""make"" \\" """" "a""""b" "" "x""" 7 "%s" ""'
    assert lex(line) == ["JOB_FINISH", "10.108", 1, 'bash -c "make" \\', '"', 'a""b', "", 'x"', 7, "%s", ""]


def test_doubled_quotes_in_a_padded_line_are_read_by_the_careful_rewrite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lsb_tokens, "lex_slow", _not_called)
    line = b'"JOB_NEW" "22" 1 ""   1.00 "a""""b""" \t"%s"  2 ""'
    assert lex(line) == ["JOB_NEW", "22", 1, "", 1.0, 'a""b"', "%s", 2, ""]


def test_a_nul_between_two_strings_is_a_bare_word_not_a_doubled_quote() -> None:
    assert lex(b'"X" "22" "a"\x00"b" 1') == ["X", "22", "a", b"\x00", "b", 1]
    assert lex(b'"X" "22" "a""\x00" 1') == ["X", "22", 'a"\x00', 1]


def test_a_comma_outside_the_strings_is_part_of_a_bare_word_on_every_path() -> None:
    # openlava separates fields with spaces only; the JSON rewrite must not take a comma for one.
    assert lex(b'"a","b" 1,2') == ["a", b",", "b", b"1,2"]
    assert lex(b'"a""","b"  1,2') == ['a"', b",", "b", b"1,2"]
    assert lex(b'"a" "%s" %s "b"') == ["a", "%s", b"%s", "b"]


def test_a_format_spec_outside_the_strings_is_a_bare_word_and_pads_nothing() -> None:
    # The inline rewrite fills `"%s"` slots with one `%`: a word such as %99999999s must not
    # reach it (it would pad a 100 MB string before the line fell through).
    tracemalloc.start()
    try:
        assert lex(b'"a" %99999999s "b" %% %') == ["a", b"%99999999s", "b", b"%%", b"%"]
        assert tracemalloc.get_traced_memory()[1] < 1 << 20
    finally:
        tracemalloc.stop()


def _not_called(line: object) -> None:
    raise AssertionError("an earlier path should have read this line")


def test_numbers_keep_their_kind_and_sign() -> None:
    assert lex(b'"X" "22" 5 -2143289344 0.004997 100.0 -1 0 1e3') == \
        ["X", "22", 5, -2143289344, 0.004997, 100.0, -1, 0, 1000.0]


def test_strings_that_look_like_numbers_stay_strings() -> None:
    assert lex(b'"X" "22" "0" "-1 -1 " "1.5"') == ["X", "22", "0", "-1 -1 ", "1.5"]


def test_bare_words_that_are_not_numbers_stay_bytes() -> None:
    # LSF 9 writes host rusage host names unquoted; `02` is two %d fields run together.
    tokens = lex(b'"X" "9.11" 8 host1201-ib 1306 02 +1 1. .5 0x1f nan true [1] {"a":1}')
    assert tokens == ["X", "9.11", 8, b"host1201-ib", 1306, b"02", b"+1", b"1.", b".5", b"0x1f", b"nan",
                      b"true", b"[1]", b"{", "a", b":1}"]


def test_integers_beyond_64_bits_become_floats_and_infinities_stay_words() -> None:
    # orjson could not write such an int back out; both lexers agree on the float.
    assert lex(b'"X" "22" 18446744073709551615 18446744073709551616 1e999') == \
        ["X", "22", 18446744073709551615, 1.8446744073709552e19, b"1e999"]


def test_utf8_is_decoded_and_invalid_bytes_become_replacement_characters() -> None:
    assert lex('"JOB_FINISH" "9.11" 1 "aàb"'.encode()) == ["JOB_FINISH", "9.11", 1, "aàb"]
    tokens = lex(b'"X" "22" 1 "a\xffb\xc3" 2')
    assert tokens == ["X", "22", 1, "a\ufffdb\ufffd", 2]
    orjson.dumps(tokens)  # valid JSON, unlike surrogate escapes


def test_backslashes_and_control_characters_are_kept_as_written() -> None:
    # No backslash escapes in openlava strings; a tab inside a string is not a separator.
    assert lex(b'"X" "22" "a\\nb\\""" "t\tab" "\x00"\t7') == ["X", "22", 'a\\nb\\"', "t\tab", "\x00", 7]


def test_a_string_may_touch_the_next_token_as_openlava_reads_it() -> None:
    # hpccostsim's invalid-record-type sample has `""0 0`: stripQStr and sscanf read it as "" 0 0.
    assert lex(b'"X" "10.108" 1 ""0 0 ""') == ["X", "10.108", 1, "", 0, 0, ""]


def test_unterminated_strings_are_found_where_openlava_would() -> None:
    assert lex(b'"X" "22" 1 "abc') is None
    assert lex_slow(b'"X" "22" 1 "abc') == (["X", "22", 1], 11)
    # `"abc""` is abc" and then nothing closes it: the string starts at byte 11, not 16.
    assert lex_slow(b'"X" "22" 1 "abc""') == (["X", "22", 1], 11)
    assert lex_slow(b'"X" "22" 1 "a" "b" 2 "c""" "') == (["X", "22", 1, "a", "b", 2, 'c"'], 27)


def test_skipped_lines_are_blank_or_start_with_a_hash() -> None:
    assert skipped(b"#80" + b" " * 77)
    assert skipped(b"# Test a comment line")
    assert skipped(b"     # Test a comment line with leading spaces")
    assert skipped(b"") and skipped(b"   \t ")
    assert not skipped(b'"JOB_FINISH" "10.108" 1')
    assert not skipped(b"garbage #")


def test_spans_point_at_each_token_for_error_messages() -> None:
    line = b'"JOB_NEW" "10.108" 16  ""   1.00 "a""b" x'
    assert spans(line) == [(0, 9), (10, 18), (19, 21), (23, 25), (28, 32), (33, 39), (40, 41)]
    assert [show(line, s) for s in spans(line)] == ['"JOB_NEW"', '"10.108"', "16", '""', "1.00", '"a""b"', "x"]
    assert show(b'"' + b"x" * 50 + b'"', (0, 52), limit=10) == '"xxxxxxxxx...'
    assert leading_zero(b"1 02", (2, 4)) and not leading_zero(b"1 20", (2, 4)) and not leading_zero(b"0", (0, 1))


def test_plain_values_are_json_values() -> None:
    assert bare(b"12") == 12 and bare(b"-1.5") == -1.5 and bare(b"host") == b"host"
    assert plain(b"host") == "host" and plain(3) == 3
    tokens: list[Token] = ["a", 1]
    assert plain_list(tokens) is tokens  # no copy without bare words
    assert plain_list(["a", b"h\xff"]) == ["a", "h\ufffd"]


# ---- the fast lexer (JSON rewrite + orjson) gives what the slow one (byte rules) gives --------

_string = st.text(st.characters(codec="utf-8"), max_size=8).map(
    lambda s: b'"' + s.encode().replace(b'"', b'""') + b'"')
_number = st.one_of(st.integers(-(2 ** 70), 2 ** 70).map(lambda n: b"%d" % n),
                    st.floats(allow_nan=False, allow_infinity=False).map(lambda x: repr(x).encode()),
                    st.sampled_from([b"0.004997", b"100.0", b"-1", b"  1.00", b"02", b"1.", b"-0", b"1e5"]))
_word = st.sampled_from([b"host1-ib", b"true", b"null", b"[1]", b"{", b"\\", b"\x00", b"nan", b"e"])
_gap = st.sampled_from([b" ", b" ", b" ", b"  ", b"\t", b"", b" \x0b "])
_line = st.lists(st.tuples(st.one_of(_string, _string, _number, _number, _word), _gap), max_size=12).map(
    lambda parts: b"".join(token + gap for token, gap in parts))


@given(line=_line)
def test_fast_and_slow_lexers_agree_on_record_like_lines(line: bytes) -> None:
    slow = lex_slow(line)
    assert lex(line) == (slow.tokens if slow.unterminated is None else None)
    if slow.unterminated is None:
        assert len(spans(line)) == len(slow.tokens)


@given(line=st.binary(max_size=60))
def test_fast_and_slow_lexers_agree_on_any_bytes(line: bytes) -> None:
    slow = lex_slow(line)
    assert lex(line) == (slow.tokens if slow.unterminated is None else None)
    orjson.dumps(plain_list(slow.tokens))
