from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.scheduling.priming import prime_decision, prime_times

NOW = datetime(2026, 5, 4, 6, 0, tzinfo=UTC)


def test_prime_times_sorted_and_unique() -> None:
    assert prime_times(["11:00", "06:00", "6:00"]) == [(6, 0), (11, 0)]


def test_primes_only_when_no_window_is_open() -> None:
    assert prime_decision(NOW, window_start=None, limited=False, last_primed_at=None).prime
    old = NOW - timedelta(hours=5)
    assert prime_decision(NOW, window_start=old, limited=False, last_primed_at=old).prime


def test_never_primes_while_a_window_is_open() -> None:
    open_since = NOW - timedelta(hours=4, minutes=59)
    assert not prime_decision(NOW, window_start=open_since, limited=False,
                              last_primed_at=None).prime
    assert not prime_decision(NOW, window_start=None, limited=True, last_primed_at=None).prime
    # Our own prime an hour ago opened a window the logs may not show yet.
    assert not prime_decision(NOW, window_start=None, limited=False,
                              last_primed_at=NOW - timedelta(hours=1)).prime
