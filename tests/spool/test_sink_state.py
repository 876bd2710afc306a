"""A sink's remembered facts (esmond metadata keys) survive a restart and stay per sink."""
from __future__ import annotations

from pathlib import Path

from spool import Spool, SpoolSinkState


def test_saved_values_survive_reopening_and_stay_with_their_sink(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    esmond, other = SpoolSinkState(spool, "esmond"), SpoolSinkState(spool, "other")
    esmond.save("md:abc", "/esmond/perfsonar/archive/0123/")
    esmond.save("md:def", "first")
    esmond.save("md:def", "second")  # a new answer replaces the old one
    other.save("md:abc", "theirs")
    spool.close()
    reopened = Spool(tmp_path / "spool.db")
    assert SpoolSinkState(reopened, "esmond").load() == {"md:abc": "/esmond/perfsonar/archive/0123/",
                                                         "md:def": "second"}
    assert SpoolSinkState(reopened, "other").load() == {"md:abc": "theirs"}


def test_forget_removes_one_key_of_one_sink(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    a, b = SpoolSinkState(spool, "a"), SpoolSinkState(spool, "b")
    a.save("k1", "v1")
    a.save("k2", "v2")
    b.save("k1", "w1")
    a.forget("k1")
    a.forget("never-saved")
    assert a.load() == {"k2": "v2"}
    assert b.load() == {"k1": "w1"}
