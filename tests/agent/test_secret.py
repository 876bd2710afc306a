"""Secret config values: "env:VAR", "file:PATH" or inline (with a warning), never echoed."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import pytest
from pydantic import BaseModel

from agent.secret import Secret, read_secret_file, resolve_secret

VALUE = "s3cr3t-Value-42"


class Holder(BaseModel):
    token: Optional[Secret] = None


def test_env_reads_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGSPOOL_TEST_TOKEN", VALUE)
    assert resolve_secret("env:LOGSPOOL_TEST_TOKEN").get_secret_value() == VALUE


def test_an_unset_variable_is_named_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOGSPOOL_TEST_NOPE", raising=False)
    with pytest.raises(ValueError, match="^environment variable LOGSPOOL_TEST_NOPE is not set$"):
        resolve_secret("env:LOGSPOOL_TEST_NOPE")


def test_env_without_a_name_says_what_is_expected() -> None:
    with pytest.raises(ValueError, match='^expected "env:VAR" with the name of an environment variable$'):
        resolve_secret("env:")


def test_file_reads_the_first_line_without_its_newline(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(f"{VALUE}\r\nsecond line\n")
    assert resolve_secret(f"file:{tmp_path}/token").get_secret_value() == VALUE
    assert read_secret_file(str(tmp_path / "token")) == VALUE


def test_an_empty_secret_file_gives_an_empty_secret(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("")
    assert resolve_secret(f"file:{tmp_path}/token").get_secret_value() == ""


def test_a_relative_file_is_read_from_the_base_directory(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(VALUE)
    assert resolve_secret("file:token", base_dir=tmp_path).get_secret_value() == VALUE


def test_a_missing_file_is_named_in_the_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as err:
        resolve_secret(f"file:{tmp_path}/missing")
    assert str(err.value) == f"cannot read secret file {tmp_path}/missing: No such file or directory"


def test_file_without_a_path_says_what_is_expected() -> None:
    with pytest.raises(ValueError, match='^expected "file:PATH" with the path of a file$'):
        resolve_secret("file:")


def test_an_inline_secret_is_accepted_with_a_warning() -> None:
    warnings: list[str] = []
    assert resolve_secret(VALUE, warnings, "token: ").get_secret_value() == VALUE
    assert warnings == ['token: an inline secret is readable by anyone who can read the config; '
                        'write "env:VAR" or "file:PATH" instead']


def test_a_value_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(ValueError, match='^expected a string: "env:VAR", "file:PATH" or the value itself$'):
        resolve_secret(42)


def test_a_validated_secret_is_masked_in_repr_and_str() -> None:
    holder = Holder.model_validate({"token": VALUE}, context={"warnings": []})
    assert VALUE not in repr(holder) and VALUE not in str(holder)
    assert holder.token is not None and holder.token.get_secret_value() == VALUE

