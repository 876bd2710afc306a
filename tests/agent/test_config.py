"""The site config: each rule loads a TOML snippet and asserts the exact line an operator reads.

Lines have the form `agent.toml: [table] key: what is wrong; got <value>`; secrets
never appear in them, nor in the loaded config's repr.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.config import Config, ConfigError, load
from agent.sinks import SINKS
from parsers import FORMATS

ROOT = Path(__file__).resolve().parents[2]
SOURCE = """
[[sources]]
name = "transfers"
type = "file"
paths = ["/var/log/gridftp-transfer.log*"]
format = "lines"
sinks = ["archive"]
"""
SINK = """
[[sinks]]
name = "archive"
type = "http"
url = "http://127.0.0.1:8080/ingest"
"""
SECRET = "s3cr3t-Value-42"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


def load_toml(tmp_path: Path, text: str, warnings: list[str] | None = None) -> Config:
    return load(write(tmp_path, text), warnings=warnings)


def errors(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_toml(tmp_path, text)
    assert str(err.value) == "\n".join(err.value.lines)
    return err.value.lines


def test_without_an_agent_table_the_defaults_apply(tmp_path: Path) -> None:
    agent = load_toml(tmp_path, SOURCE + SINK).agent
    assert agent.spool == Path("/var/lib/logspool/spool.db")
    assert (agent.spool_max_bytes, agent.poll_interval, agent.log_level) == (2 << 30, 0.25, "info")


def test_relative_spool_and_source_paths_are_resolved_against_the_config_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")
    config = load_toml(tmp_path, '[agent]\nspool = "data/spool.db"\n' + SOURCE.replace("/var/log/", "logs/") + SINK)
    assert config.agent.spool == tmp_path / "data" / "spool.db"
    assert config.source("transfers").paths == [f"{tmp_path}/logs/gridftp-transfer.log*"]  # type: ignore[attr-defined]


def test_a_valid_file_gives_typed_values(tmp_path: Path) -> None:
    config = load_toml(tmp_path, '[agent]\npoll_interval = "100ms"\nspool_max_bytes = "1GiB"\n' + SOURCE + SINK
                       + 'batch_bytes = "512KiB"\nretry = { initial = "2s", max = "1h", max_retries = 5 }\n')
    sink = config.sink("archive")
    assert (config.agent.poll_interval, config.agent.spool_max_bytes) == (0.1, 1 << 30)
    assert (sink.batch_bytes, sink.retry.initial, sink.retry.max, sink.retry.max_retries) == (512 << 10, 2.0, 3600.0, 5)


def test_an_unknown_top_level_key_is_named(tmp_path: Path) -> None:
    assert errors(tmp_path, 'spool = "spool.db"\n' + SOURCE + SINK) == [
        'agent.toml: spool: is not a known top-level key; expected [agent], [[sources]] or [[sinks]]; got "spool.db"']


def test_an_unknown_key_in_agent_is_named(tmp_path: Path) -> None:
    assert errors(tmp_path, '[agent]\npoll = "1s"\n') == [
        'agent.toml: [agent] poll: is not a known key here (check its spelling); got "1s"']


def test_an_unknown_key_in_a_sink_names_the_sink_table_and_the_key(tmp_path: Path) -> None:
    assert errors(tmp_path, SOURCE + SINK + 'colour = "red"\n') == [
        'agent.toml: [sinks.archive] colour: is not a known key here (check its spelling); got "red"']


def test_an_unknown_key_inside_retry_names_its_path(tmp_path: Path) -> None:
    assert errors(tmp_path, SOURCE + SINK + 'retry = { initial = "1s", maximum = "5m" }\n') == [
        'agent.toml: [sinks.archive] retry.maximum: is not a known key here (check its spelling); got "5m"']


def test_a_url_that_is_not_http_names_the_value(tmp_path: Path) -> None:
    assert errors(tmp_path, SOURCE + SINK.replace("http://127.0.0.1:8080/ingest", "ftp://x")) == [
        'agent.toml: [sinks.archive] url: expected an http:// or https:// URL with a host, '
        'e.g. "https://logs.example.org/ingest"; got "ftp://x"']


def test_an_unknown_source_type_lists_the_source_types(tmp_path: Path) -> None:
    assert errors(tmp_path, SOURCE.replace('type = "file"', 'type = "nope"') + SINK) == [
        'agent.toml: [sources.transfers] type: unknown source type; expected one of file; got "nope"']


def test_an_unknown_sink_type_lists_the_sink_types(tmp_path: Path) -> None:
    assert errors(tmp_path, SOURCE + SINK.replace('type = "http"', 'type = "nope"')) == [
        f'agent.toml: [sinks.archive] type: unknown sink type; expected one of {", ".join(sorted(SINKS))}; got "nope"']


def test_a_sink_without_a_type_says_it_is_required(tmp_path: Path) -> None:
    assert errors(tmp_path, SOURCE + SINK.replace('type = "http"\n', "")) == [
        f"agent.toml: [sinks.archive] type: is required; expected one of {', '.join(sorted(SINKS))}"]


def test_an_unknown_format_lists_the_formats(tmp_path: Path) -> None:
    assert errors(tmp_path, SOURCE.replace('"lines"', '"xml"') + SINK) == [
        f'agent.toml: [sources.transfers] format: unknown format; expected one of {", ".join(sorted(FORMATS))}; '
        'got "xml"']
    assert {"file", "http", "lavaflow", "esmond", "perfsonar"} <= set(SINKS) and "openlava-acct" in FORMATS


def test_a_source_routing_to_an_unknown_sink_lists_the_sinks(tmp_path: Path) -> None:
    assert errors(tmp_path, SOURCE.replace('["archive"]', '["archive", "nowhere"]') + SINK) == [
        'agent.toml: [sources.transfers] sinks: no [[sinks]] table has this name; expected one of archive; '
        'got "nowhere"']


def test_a_source_routing_to_a_sink_when_none_is_defined(tmp_path: Path) -> None:
    assert errors(tmp_path, SOURCE) == [
        'agent.toml: [sources.transfers] sinks: no [[sinks]] table has this name; the file defines none; '
        'got "archive"']


def test_two_sinks_with_one_name_are_refused(tmp_path: Path) -> None:
    assert errors(tmp_path, SOURCE + SINK + SINK) == [
        'agent.toml: [sinks.archive] name: another [[sinks]] table has this name; got "archive"']


def test_two_sources_with_one_name_are_refused(tmp_path: Path) -> None:
    assert errors(tmp_path, SOURCE + SOURCE + SINK) == [
        'agent.toml: [sources.transfers] name: another [[sources]] table has this name; got "transfers"']


def test_a_name_with_a_space_says_which_characters_are_allowed(tmp_path: Path) -> None:
    assert errors(tmp_path, SOURCE.replace('"transfers"', '"grid ftp"') + SINK) == [
        "agent.toml: [sources.grid ftp] name: expected only letters, digits, '_', '.' and '-'; got \"grid ftp\""]


def test_a_duration_without_a_known_unit_is_refused(tmp_path: Path) -> None:
    assert errors(tmp_path, '[agent]\npoll_interval = "5 minutes"\n') == [
        'agent.toml: [agent] poll_interval: expected a duration such as "250ms", "30s", "5m", "1h"; got "5 minutes"']


def test_a_bad_duration_inside_retry_names_its_path(tmp_path: Path) -> None:
    assert errors(tmp_path, SOURCE + SINK + 'retry = { initial = "soon" }\n') == [
        'agent.toml: [sinks.archive] retry.initial: expected a duration such as "250ms", "30s", "5m", "1h"; '
        'got "soon"']


def test_a_zero_poll_interval_shows_the_limit_in_seconds(tmp_path: Path) -> None:
    assert errors(tmp_path, '[agent]\npoll_interval = "0ms"\n') == [
        'agent.toml: [agent] poll_interval: expected a value > 0s; got "0ms"']


def test_a_size_without_a_known_unit_is_refused(tmp_path: Path) -> None:
    assert errors(tmp_path, SOURCE + SINK + 'batch_bytes = "2 gigs"\n') == [
        'agent.toml: [sinks.archive] batch_bytes: expected a size such as "512KiB", "1MiB", "2GiB"; got "2 gigs"']


def test_a_spool_cap_below_the_minimum_shows_the_limit_as_a_size(tmp_path: Path) -> None:
    assert errors(tmp_path, '[agent]\nspool_max_bytes = "1KiB"\n') == [
        'agent.toml: [agent] spool_max_bytes: expected a value ≥ 1.0 MiB; got "1KiB"']


def test_zero_batch_records_is_refused(tmp_path: Path) -> None:
    assert errors(tmp_path, SOURCE + SINK + "batch_records = 0\n") == [
        "agent.toml: [sinks.archive] batch_records: expected a value ≥ 1; got 0"]


def test_a_text_batch_records_asks_for_a_whole_number(tmp_path: Path) -> None:
    assert errors(tmp_path, SOURCE + SINK + 'batch_records = "many"\n') == [
        'agent.toml: [sinks.archive] batch_records: expected a whole number; got "many"']


def test_a_log_level_outside_the_choices_lists_them(tmp_path: Path) -> None:
    assert errors(tmp_path, '[agent]\nlog_level = "loud"\n') == [
        "agent.toml: [agent] log_level: expected 'debug', 'info', 'warning' or 'error'; got \"loud\""]


def test_a_sink_without_a_name_is_labelled_by_its_position(tmp_path: Path) -> None:
    nameless = '\n[[sinks]]\ntype = "stdout"\n'
    assert errors(tmp_path, SOURCE + SINK + nameless) == ["agent.toml: [[sinks]] #2 name: is required"]


def test_a_sink_that_is_not_a_table_is_named(tmp_path: Path) -> None:
    assert errors(tmp_path, 'sinks = ["archive"]\n') == ['agent.toml: [[sinks]] #1: expected a table; got "archive"']


def test_every_problem_gets_its_own_line(tmp_path: Path) -> None:
    assert errors(tmp_path, '[agent]\nlog_level = "loud"\n' + SOURCE + SINK + "batch_records = 0\n") == [
        "agent.toml: [agent] log_level: expected 'debug', 'info', 'warning' or 'error'; got \"loud\"",
        "agent.toml: [sinks.archive] batch_records: expected a value ≥ 1; got 0"]


def test_invalid_toml_names_the_file_and_the_position(tmp_path: Path) -> None:
    [line] = errors(tmp_path, '[agent]\nspool = "spool.db\n')
    assert line.startswith("agent.toml: not valid TOML: ")
    assert line.endswith("(at line 2, column 18)")


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    (tmp_path / "agent.toml").write_bytes(b'[agent]\nhost = "h\xe9"\n')
    with pytest.raises(ConfigError) as err:
        load(tmp_path / "agent.toml")
    assert err.value.lines == ["agent.toml: not valid TOML: not UTF-8 text (byte 17)"]


def test_a_missing_config_file_names_its_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path / "nope.toml")
    assert err.value.lines == [f"{tmp_path}/nope.toml: cannot read the config: No such file or directory"]


# ---- secrets -------------------------------------------------------------------------

def test_a_token_from_an_unset_variable_names_the_variable_not_a_value(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOGSPOOL_TEST_NOPE", raising=False)
    assert errors(tmp_path, SOURCE + SINK + 'token = "env:LOGSPOOL_TEST_NOPE"\n') == [
        "agent.toml: [sinks.archive] token: environment variable LOGSPOOL_TEST_NOPE is not set; got (hidden)"]


def test_a_token_from_a_set_variable_is_loaded_without_warning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGSPOOL_TEST_TOKEN", SECRET)
    warnings: list[str] = []
    config = load_toml(tmp_path, SOURCE + SINK + 'token = "env:LOGSPOOL_TEST_TOKEN"\n', warnings)
    assert config.sink("archive").token.get_secret_value() == SECRET  # type: ignore[attr-defined]
    assert warnings == []


def test_a_token_from_a_missing_file_names_the_file(tmp_path: Path) -> None:
    assert errors(tmp_path, SOURCE + SINK + 'token = "file:/missing"\n') == [
        "agent.toml: [sinks.archive] token: cannot read secret file /missing: No such file or directory; got (hidden)"]


def test_a_relative_token_file_is_read_beside_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")
    (tmp_path / "archive.token").write_text(SECRET + "\n")
    config = load_toml(tmp_path, SOURCE + SINK + 'token = "file:archive.token"\n')
    assert config.sink("archive").token.get_secret_value() == SECRET  # type: ignore[attr-defined]


def test_an_inline_token_warns_naming_the_table_and_never_shows_in_the_config(tmp_path: Path) -> None:
    warnings: list[str] = []
    config = load_toml(tmp_path, SOURCE + SINK + f'token = "{SECRET}"\n', warnings)
    assert warnings == ['agent.toml: [sinks.archive] token: an inline secret is readable by anyone who can read '
                        'the config; write "env:VAR" or "file:PATH" instead']
    assert SECRET not in repr(config) and SECRET not in str(config)


def test_an_inline_secret_never_shows_in_error_text(tmp_path: Path) -> None:
    text = SOURCE + SINK.replace("http://127.0.0.1:8080/ingest", "ftp://x") + f'token = "{SECRET}\\u0001"\n'
    text += f'headers = {{ "Bad Name" = "{SECRET}" }}\n'
    lines = errors(tmp_path, text)
    assert len(lines) == 3
    assert not any(SECRET in line for line in lines)


def test_credentials_in_a_url_are_masked_in_the_error(tmp_path: Path) -> None:
    assert errors(tmp_path, SOURCE + SINK.replace("http://", f"http://bob:{SECRET}@")) == [
        'agent.toml: [sinks.archive] url: credentials in the URL would show in logs and status; use token or '
        'headers with "env:VAR"; got "http://***@127.0.0.1:8080/ingest"']


def test_a_header_from_an_unset_variable_names_the_header_and_the_variable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOGSPOOL_TEST_NOPE", raising=False)
    assert errors(tmp_path, SOURCE + SINK + 'headers = { X-Scope-OrgID = "env:LOGSPOOL_TEST_NOPE" }\n') == [
        "agent.toml: [sinks.archive] headers.X-Scope-OrgID: environment variable LOGSPOOL_TEST_NOPE is not set; "
        "got (hidden)"]


# ---- logspool check-config -------------------------------------------------------------

def check_config(path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LOGSPOOL_CONFIG"}
    return subprocess.run([sys.executable, "-m", "agent.cli", "check-config", str(path)],
                          capture_output=True, text=True, cwd=path.parent, env=env)


def test_check_config_exits_2_with_the_error_lines_on_stderr(tmp_path: Path) -> None:
    done = check_config(write(tmp_path, SOURCE + SINK + "batch_records = 0\n"))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == "agent.toml: [sinks.archive] batch_records: expected a value ≥ 1; got 0\n"


def test_check_config_prints_an_inline_secret_warning_on_stderr(tmp_path: Path) -> None:
    done = check_config(write(tmp_path, SOURCE + SINK + f'token = "{SECRET}"\n'))
    assert done.returncode == 0
    assert done.stderr == ('warning: agent.toml: [sinks.archive] token: an inline secret is readable by anyone who '
                           'can read the config; write "env:VAR" or "file:PATH" instead\n')
    assert SECRET not in done.stdout


def test_check_config_accepts_the_example_and_summarises_it(tmp_path: Path) -> None:
    done = check_config(ROOT / "agent.toml.example")
    assert (done.returncode, done.stderr) == (0, "")
    lines = done.stdout.splitlines()
    assert lines[0] == f"{ROOT}/agent.toml.example: OK"
    assert f"  source transfers: file {ROOT}/examples/gridftp-transfer.log* as lines -> local" in lines


def test_an_error_about_a_whole_table_hides_the_secrets_in_it(tmp_path: Path) -> None:
    text = SOURCE + SINK + f'token = "{SECRET}"\ntoken_file = "/etc/logspool/t"\n'
    assert errors(tmp_path, text) == [
        'agent.toml: [sinks.archive]: set token or token_file, not both; got {"name": "archive", "type": "http", '
        '"url": "http://127.0.0.1:8080/ingest", "token": "(hidden)", "token_file": "(hidde...']  # cut at 120
