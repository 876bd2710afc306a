"""Replaying dead letters: refused records go back to their sink, unparsed lines back through their parser.

A record a sink refused is re-queued as it was (same id), for after the endpoint or
its config was fixed. A line that failed to parse is parsed again, for after a parser
fix; if it still fails it stays a dead letter. Both happen in one transaction with
the removal from dead_letters, so a replay is never lost or doubled by a crash.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from agent.config import Config
from agent.pipeline import encoder_for
from agent.sources import file as file_source
from parsers import ParseError, parser_for
from spool import Spool, chunks, dead_letters


@dataclass
class ReplayResult:
    requeued: int = 0
    kept: list[str] = field(default_factory=list)


def replay(config: Config, spool: Spool, sink: Optional[str], ids: Optional[list[int]]) -> ReplayResult:
    result = ReplayResult()
    sink_names = {s.name for s in config.sinks}
    with spool.transaction() as db:
        letters = dead_letters.select(db, sink, ids)
        done: list[int] = []
        for letter in letters:
            if letter.sink is not None:
                if letter.sink not in sink_names:
                    result.kept.append(f"#{letter.id}: sink {letter.sink} is no longer configured")
                    continue
                chunks.enqueue(db, letter.source or "replay", letter.record, 1, [letter.sink])
            else:
                reason = _reparse(config, db, letter)
                if reason:
                    result.kept.append(f"#{letter.id}: {reason}")
                    continue
            done.append(letter.id)
        dead_letters.delete(db, done)
        result.requeued = len(done)
    return result


def _reparse(config: Config, db: object, letter: dead_letters.DeadLetter) -> Optional[str]:
    """Parse an unparsed line again and queue it for its source's sinks; the reason if not."""
    try:
        source = config.source(letter.source or "")
    except KeyError:
        return f"source {letter.source} is no longer configured"
    if "max_line_bytes" in letter.reason:
        return "an over-long line is kept only as an excerpt; it cannot be replayed"
    if not isinstance(source, file_source.Config) or letter.record_id is None:
        return "not a replayable line"
    try:
        parsed = parser_for(source.format)(letter.record)
    except ParseError as exc:
        return f"still does not parse: {exc}"
    if parsed is None:
        return "the parser skips this line"
    line = encoder_for(config, source).encode(letter.record_id, parsed)
    chunks.enqueue(db, source.name, line, 1, source.sinks)  # type: ignore[arg-type]
    return None
