"""The lavaflow sink's `[[sinks]]` keys: each rule's exact message, with file, table and key.

chunk_size and batch_records are one setting; a key comes from key, key_file or
nowhere (an error), never from both; secrets never reach a message.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import ConfigError, load
from agent.sinks.lavaflow import Config

KEY = "K3y-\"quoted\"-s3cret"


def config() -> Config:
    return Config.model_validate({"name": "lf", "type": "lavaflow", "url": "http://lava.test/lavaflow/", "key": KEY})


SINK = '[[sinks]]\nname = "lf"\ntype = "lavaflow"\nurl = "http://lava.test/lavaflow"\n'


def config_errors(tmp_path: Path, extra: str) -> list[str]:
    path = tmp_path / "agent.toml"
    path.write_text(SINK + extra)
    with pytest.raises(ConfigError) as err:
        load(path)
    return err.value.lines


def test_chunk_size_sets_batch_records_and_batch_records_sets_chunk_size(tmp_path: Path) -> None:
    for extra, size in (('key_file = "k"\n', 200), ('key_file = "k"\nchunk_size = 50\n', 50),
                        ('key_file = "k"\nbatch_records = 70\n', 70),
                        ('key_file = "k"\nchunk_size = 90\nbatch_records = 90\n', 90)):
        (tmp_path / "agent.toml").write_text(SINK + extra)
        sink = load(tmp_path / "agent.toml").sinks[0]
        assert (sink.batch_records, getattr(sink, "chunk_size")) == (size, size)


@pytest.mark.parametrize("extra, message", [
    ("", 'key_file: LavaFlow needs an import key: set key_file = "/etc/logspool/lavaflow.key" or '
         'key = "env:LAVAFLOW_KEY"; got (hidden)'),
    ('key = "env:LAVAFLOW_TEST_KEY"\nkey_file = "/k"\n', "key_file: set key or key_file, not both; got (hidden)"),
    ('key = "env:LAVAFLOW_TEST_NOPE"\n', "key: environment variable LAVAFLOW_TEST_NOPE is not set; got (hidden)"),
    ('key = "env:LAVAFLOW_TEST_EMPTY"\n',
     "key: the import key must be 1 to 255 characters without control characters; got (hidden)"),
    ('key_file = "/k"\nchunk_size = 50\nbatch_records = 1000\n',
     "chunk_size: differs from batch_records = 1000; for LavaFlow they are one setting (records per request): "
     "set chunk_size only; got 50"),
    ('key_file = "/k"\nchunk_size = 0\n', "chunk_size: expected a value ≥ 1; got 0"),
    ('key_file = "/k"\nevent_types = []\n',
     'event_types: expected "all" or a non-empty list of event type names, e.g. ["JOB_NEW", "JOB_FINISH"]; got []'),
    ('key_file = "/k"\nevent_types = "JOB_FINISH"\n',
     'event_types: expected "all" or a non-empty list of event type names, e.g. ["JOB_NEW", "JOB_FINISH"]; '
     'got "JOB_FINISH"'),
    ('key_file = "/k"\nevent_types = ["job_finish"]\n',
     'event_types: expected event type names as lsb.events writes them (e.g. "JOB_FINISH"), or "all"; '
     'got ["job_finish"]'),
    ('key_file = "/k"\ncluster = ""\n',
     "cluster: expected a cluster name of 1 to 100 characters (LavaFlow's limit) without control characters; got \"\""),
    ('key_file = "/k"\nca_file = "/ca.pem"\ntls_verify = false\n',
     'ca_file: has no effect with tls_verify = false; got "/ca.pem"'),
    ('key_file = "/k"\ntimeout = "0s"\n', 'timeout: expected a value > 0s; got "0s"'),
])
def test_each_config_mistake_names_file_table_and_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str,
                                                      message: str) -> None:
    monkeypatch.setenv("LAVAFLOW_TEST_KEY", KEY)
    monkeypatch.setenv("LAVAFLOW_TEST_EMPTY", "")
    assert config_errors(tmp_path, extra) == [f"agent.toml: [sinks.lf] {message}"]


@pytest.mark.parametrize("url, message", [
    ("ftp://lava.test/", 'expected an http:// or https:// URL with a host, e.g. "http://lavaflow.example.org/lavaflow"'),
    ("http://admin:pw@lava.test/lavaflow", "credentials in the URL would show in logs and status; the import key "
                                           "goes in key or key_file"),
    ("http://lava.test/lavaflow?x=1", "expected the base URL without ?query or #fragment: the sink appends "
                                      "/clusters/<cluster>/import/<kind> to it"),
])
def test_a_bad_url_is_refused_with_the_reason(tmp_path: Path, url: str, message: str) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(f'[[sinks]]\nname = "lf"\ntype = "lavaflow"\nurl = "{url}"\nkey_file = "/k"\n')
    with pytest.raises(ConfigError) as err:
        load(path)
    [line] = err.value.lines
    assert line.startswith(f"agent.toml: [sinks.lf] url: {message}; got ")
    assert "pw@" not in line


def test_an_inline_key_never_appears_in_an_error_or_the_config_repr(tmp_path: Path) -> None:
    lines = config_errors(tmp_path, 'key = "inline-S3cret"\nkey_file = "/k"\n')
    assert lines == ["agent.toml: [sinks.lf] key_file: set key or key_file, not both; got (hidden)"]
    lines = config_errors(tmp_path, 'key = "inline-S3cret"\nchunk_size = 5\nbatch_records = 6\n')
    assert lines == ["agent.toml: [sinks.lf] chunk_size: differs from batch_records = 6; for LavaFlow they are one "
                     "setting (records per request): set chunk_size only; got 5"]
    assert KEY not in repr(config())
