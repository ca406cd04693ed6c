"""Automatic adjustments: each a bounded step, taken on fresh evidence, with its reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.improve.adjustments import Adjustment, Bounds, Knob, Knobs, RunFact, propose
from core.improve.bayes import Posterior
from core.models import Outcome

NOW = datetime(2026, 10, 9, 8, 0, tzinfo=UTC)


def fact(run_id: int, outcome: Outcome, hours_ago: float, minutes: float = 30,
         tags: tuple[str, ...] = ("migrations",)) -> RunFact:
    start = NOW - timedelta(hours=hours_ago)
    return RunFact(run_id, outcome, tags, start, start + timedelta(minutes=minutes))


def test_timeouts_lengthen_a_tags_time_limit_one_step_at_a_time_up_to_the_bound() -> None:
    runs = [fact(1, Outcome.TIMEOUT, 30), fact(2, Outcome.TIMEOUT, 20), fact(3, Outcome.SUCCESS, 10)]
    first = propose(Knobs.from_log([]), runs, now=NOW, default_minutes=60, default_parallel=1)
    assert [(a.knob, a.scope, a.old, a.new, a.evidence) for a in first] == [
        (Knob.TIME_LIMIT, "migrations", 60.0, 90.0, (1, 2))
    ]
    assert "2 runs tagged 'migrations' timed out" in first[0].reason and "60 → 90 min" in first[0].reason
    knobs = Knobs.from_log(first)
    # The same timeouts do not count twice.
    assert propose(knobs, runs, now=NOW + timedelta(minutes=1), default_minutes=60,
                   default_parallel=1) == []
    # Fresh timeouts take further steps, never past 4x the default (240 min).
    log: list[Adjustment] = list(first)
    now = NOW
    for step in range(6):
        now += timedelta(hours=3)
        fresh = [RunFact(100 + 2 * step + i, Outcome.TIMEOUT, ("migrations",),
                         now - timedelta(hours=1), now - timedelta(minutes=30)) for i in (0, 1)]
        log.extend(propose(Knobs.from_log(log), fresh, now=now, default_minutes=60, default_parallel=1))
    values = [a.new for a in log]
    assert values == [90.0, 135.0, 202.5, 240.0]
    assert Knobs.from_log(log).time_limit_minutes(["Migrations", "other"], 60) == 240.0
    assert Knobs.from_log(log).time_limit_minutes(["other"], 60) == 60.0


def test_limits_that_cut_parallel_runs_lower_parallelism_near_the_windows_end() -> None:
    runs = [fact(1, Outcome.LIMIT, 5, 60), fact(2, Outcome.SUCCESS, 5.2, 60),
            fact(3, Outcome.LIMIT, 2, 60), fact(4, Outcome.LIMIT, 2.1, 60)]
    found = propose(Knobs.from_log([]), runs, now=NOW, default_minutes=60, default_parallel=3)
    assert [(a.knob, a.old, a.new) for a in found] == [(Knob.PARALLEL_NEAR_END, 3.0, 2.0)]
    assert "cut short by the limit while other runs were in flight" in found[0].reason
    knobs = Knobs.from_log(found)
    end = NOW + timedelta(hours=2)
    assert knobs.max_parallel(NOW, end, 3) == 3
    assert knobs.max_parallel(end - timedelta(minutes=30), end, 3) == 2
    assert knobs.max_parallel(end - timedelta(minutes=30), None, 3) == 3


def test_a_lone_limit_or_a_single_parallel_slot_changes_nothing() -> None:
    alone = [fact(1, Outcome.LIMIT, 5), fact(2, Outcome.LIMIT, 2)]  # never overlapping
    assert propose(Knobs.from_log([]), alone, now=NOW, default_minutes=60, default_parallel=3) == []
    overlapping = [fact(1, Outcome.LIMIT, 2, 60), fact(2, Outcome.LIMIT, 2.1, 60)]
    assert propose(Knobs.from_log([]), overlapping, now=NOW, default_minutes=60,
                   default_parallel=1) == []


def test_a_style_worse_with_posterior_probability_over_95_percent_retires() -> None:
    stats = {"direct": Posterior(3, 17), "plan-test-verify": Posterior(14, 6)}
    found = propose(Knobs.from_log([]), [], now=NOW, default_minutes=60, default_parallel=1,
                    style_stats=stats, live_styles=["direct", "plan-test-verify"])
    assert [(a.knob, a.scope, a.new) for a in found] == [(Knob.RETIRE_STYLE, "direct", "retired")]
    assert Knobs.from_log(found).retired_styles == {"direct"}
    pinned = propose(Knobs.from_log([]), [], now=NOW, default_minutes=60, default_parallel=1,
                     style_stats=stats, live_styles=["direct", "plan-test-verify"],
                     pinned_style="direct")
    assert pinned == []


def test_old_evidence_is_ignored() -> None:
    runs = [fact(1, Outcome.TIMEOUT, 24 * 8), fact(2, Outcome.TIMEOUT, 24 * 9)]
    assert propose(Knobs.from_log([]), runs, now=NOW, default_minutes=60, default_parallel=1,
                   bounds=Bounds()) == []
