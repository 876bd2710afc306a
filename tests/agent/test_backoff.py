"""The retry schedule: full jitter under an exponential cap, never shorter than Retry-After."""
from __future__ import annotations

from agent.backoff import MAX_RETRY_AFTER, Backoff


def test_cap_doubles_from_initial_up_to_max() -> None:
    b = Backoff(1.0, 300.0)
    assert [b.cap(a) for a in range(10)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]


def test_delay_is_a_uniform_draw_below_the_cap() -> None:
    assert Backoff(1.0, 300.0, rand=lambda: 0.5).delay(3) == 4.0
    assert Backoff(1.0, 300.0, rand=lambda: 0.0).delay(3) == 0.0


def test_retry_after_is_a_floor_and_is_capped_at_an_hour() -> None:
    b = Backoff(1.0, 300.0, rand=lambda: 0.0)
    assert b.delay(0, retry_after=7.0) == 7.0
    assert b.delay(0, retry_after=86400.0) == MAX_RETRY_AFTER


def test_huge_attempt_counts_do_not_overflow() -> None:
    assert Backoff(1.0, 300.0, rand=lambda: 1.0).delay(10_000) == 300.0
