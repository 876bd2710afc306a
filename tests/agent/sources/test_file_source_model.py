"""Model-based test of the file tailer (Vector's FileWatcherAction interpreter, in hypothesis).

A state machine writes lines (some in two halves), rotates by rename, rotates by
copytruncate, truncates, deletes and re-creates the file (inode reuse), deletes old
generations, restarts the reader (losing all in-memory
state, as kill -9 would between two transactions) and polls, in any order. The model
is simply the list of complete lines written. After every poll, every record in the
spool must be a line that was written, no line may carry two different ids, and at
the end — once everything is complete and polled — every line written is in the
spool. The tailer is driven one `step()` at a time with an injected clock: no sleeps.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import orjson
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from agent.envelope import EnvelopeEncoder
from agent.sources import file as file_source
from spool import Spool


def spooled(spool: Spool) -> list[tuple[str, str]]:
    """(record id, message) of every record in the spool's chunks, in order."""
    out = []
    for (payload,) in spool.query("SELECT payload FROM chunks ORDER BY id"):
        for line in payload.splitlines():
            rec = orjson.loads(line)
            out.append((rec["id"], rec["data"]["message"]))
    return out


class TailerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        import tempfile
        self.dir = Path(tempfile.mkdtemp(prefix="logspool-model-"))
        self.log = self.dir / "app.log"
        self.log.touch()
        self.spool = Spool(self.dir / "spool.db")
        self.now = 1000.0
        self.written: list[str] = []
        self.partial = ""
        self.seq = 0
        self.source = self._reader()

    def _reader(self) -> file_source.FileSource:
        cfg = file_source.Config(name="app", type="file", paths=[str(self.dir / "app.log*")], format="lines",
                                 sinks=["s"], rotate_wait="1h")
        return file_source.FileSource(cfg, self.spool, EnvelopeEncoder("app", "lines", "h", None),
                                      clock=lambda: self.now)

    def _line(self) -> str:
        self.seq += 1
        return f"SEQ={self.seq:06d} payload"

    def _finish_partial(self) -> None:
        if self.partial:
            with open(self.log, "a") as fh:
                fh.write(self.partial[len(self.partial) // 2:] + "\n")
            self.written.append(self.partial)
            self.partial = ""

    @rule(n=st.integers(1, 30))
    def write(self, n: int) -> None:
        self._finish_partial()
        lines = [self._line() for _ in range(n)]
        with open(self.log, "a") as fh:
            fh.write("".join(line + "\n" for line in lines))
        self.written.extend(lines)

    @precondition(lambda self: not self.partial)
    @rule()
    def write_half_a_line(self) -> None:
        self.partial = self._line()
        with open(self.log, "a") as fh:
            fh.write(self.partial[:len(self.partial) // 2])

    def _shift(self) -> None:
        for n in (3, 2, 1):
            src = self.dir / f"app.log.{n}"
            if src.exists():
                if n == 3:
                    self.poll()  # the oldest generation is deleted; a poll reads it to its end first
                    src.unlink()
                else:
                    os.rename(src, self.dir / f"app.log.{n + 1}")

    @rule()
    def rotate_by_rename(self) -> None:
        self._finish_partial()
        self._shift()
        os.rename(self.log, self.dir / "app.log.1")
        self.log.touch()

    @rule()
    def rotate_by_copytruncate(self) -> None:
        self._finish_partial()
        self._shift()
        shutil.copyfile(self.log, self.dir / "app.log.1")
        with open(self.log, "r+") as fh:
            fh.truncate(0)

    @rule()
    def truncate_in_place(self) -> None:
        """An operator's `: > app.log`: what was read before survives, the file starts over."""
        self._finish_partial()
        self.poll()
        with open(self.log, "r+") as fh:
            fh.truncate(0)

    @rule(restart_first=st.booleans())
    def delete_and_recreate(self, restart_first: bool) -> None:
        """The path is deleted and created again; the new file often gets the old inode."""
        self._finish_partial()
        self.poll()
        if restart_first:
            self.source.close()  # nobody holds the inode: it is free for reuse
        self.log.unlink()
        self.log.touch()
        if restart_first:
            self.source = self._reader()

    @rule()
    def restart(self) -> None:
        self.source.close()
        self.source = self._reader()

    @rule(seconds=st.sampled_from([0.1, 5.0]))
    def poll(self, seconds: float = 0.1) -> None:
        self.now += seconds
        self.source.step()

    @invariant()
    def records_are_written_lines_with_one_id_each(self) -> None:
        ids_of: dict[str, set[str]] = {}
        for rid, message in spooled(self.spool):
            ids_of.setdefault(message, set()).add(rid)
        written = set(self.written) | ({self.partial} if self.partial else set())
        assert set(ids_of) <= written
        assert all(len(ids) == 1 for ids in ids_of.values()), {m: i for m, i in ids_of.items() if len(i) > 1}

    def teardown(self) -> None:
        """Everything written arrives: complete the last line, poll, compare with the model."""
        self._finish_partial()
        for _ in range(3):
            self.poll()
        got = {m for _, m in spooled(self.spool)}
        missing = [w for w in self.written if w not in got]
        self.source.close()
        self.spool.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        assert not missing, f"{len(missing)} lines never spooled, first {missing[:3]}"


TailerMachine.TestCase.settings = settings(max_examples=int(os.environ.get("LOGSPOOL_MODEL_EXAMPLES", "80")), stateful_step_count=40, deadline=None,
                                           suppress_health_check=[HealthCheck.too_slow])
test_tailer_model = TailerMachine.TestCase
