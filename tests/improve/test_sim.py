"""The simulator: deterministic for a seed, runs the real scheduling code, keeps its books."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, timedelta

import pytest

import core.improve.sim.policies as policies
from core.improve.sim import (
    DEFAULT_SEEDS,
    POLICIES,
    SimConfig,
    VirtualClock,
    make_workload,
    simulate,
    simulate_policy,
    sweep,
)
from core.improve.sim.engine import World
from core.improve.sim.workload import HISTORY_DAYS, SIM_START
from core.scheduling import budget, protect
from tests.cli.test_cli import ns


def test_the_same_seed_gives_the_same_numbers() -> None:
    first = simulate(days=14, seed=11)
    second = simulate(days=14, seed=11)
    assert {k: v.as_json() for k, v in first.items()} == {k: v.as_json() for k, v in second.items()}
    other = simulate(days=14, seed=12)
    assert {k: v.as_json() for k, v in other.items()} != {k: v.as_json() for k, v in first.items()}


def test_the_workload_is_a_pure_function_of_days_and_seed() -> None:
    a, b = make_workload(7, 3), make_workload(7, 3)
    assert a == b
    assert a.start == SIM_START and a.end == SIM_START + timedelta(days=7)
    assert all(a.start <= t.arrival < a.end for t in a.tasks)
    arrival = {t.id: t.arrival for t in a.tasks}
    assert all(arrival[d] <= t.arrival for t in a.tasks for d in t.depends_on)
    with pytest.raises(ValueError, match="days"):
        make_workload(0, 1)


@pytest.mark.parametrize("seed", [1, 5])
def test_every_policy_keeps_its_books(seed: int) -> None:
    config = SimConfig(days=14, seed=seed)
    for name, result in simulate(14, seed).items():
        assert result.policy == name
        assert 0 <= result.completed <= result.submitted
        assert 0.0 < result.utilization <= 1.0
        assert result.window_utilization is not None and 0.0 < result.window_utilization <= 1.0 + 1e-9
        # Every token anyone used sits in some window, and no window holds more than it can.
        used = result.nightshift_tokens + result.owner_tokens
        assert used <= result.windows * config.capacity_tokens + result.windows
        assert result.start_latency_median_h is not None and result.start_latency_median_h >= 0


def test_reset_aware_beats_a_midnight_cron_and_packing_spares_the_owner() -> None:
    results = simulate(14, 1)
    cron, aware, packing = (results[n] for n in ("midnight-cron", "reset-aware", "reset-aware+packing"))
    assert aware.completed > cron.completed and packing.completed > cron.completed
    assert packing.start_latency_mean_h is not None and cron.start_latency_mean_h is not None
    assert packing.start_latency_mean_h < cron.start_latency_mean_h
    assert packing.limit_hits <= aware.limit_hits
    # Packing may resume more (a task larger than any window starts where the owner's line
    # will stop it, to finish sooner), but it never takes what the owner asked for.
    assert aware.owner_blocked_tokens > 0 and packing.owner_blocked_tokens == 0


def test_packing_runs_the_real_budget_planner(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_plan, real_horizon = budget.plan_protected, protect.horizon

    def plan_spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append("plan")
        return real_plan(*args, **kwargs)

    def horizon_spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append("horizon")
        return real_horizon(*args, **kwargs)

    monkeypatch.setattr(policies, "plan_protected", plan_spy)
    monkeypatch.setattr(policies, "horizon", horizon_spy)
    result = simulate_policy("reset-aware+packing", SimConfig(days=3, seed=2))
    assert "plan" in calls and "horizon" in calls, "the policy must ask the daemon's own budget code"
    assert result.completed > 0


def test_an_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown policy 'fifo'"):
        simulate_policy("fifo", SimConfig(days=1))
    assert list(POLICIES) == ["midnight-cron", "reset-aware", "reset-aware+packing"]


def test_the_virtual_clock_only_moves_forward() -> None:
    clock = VirtualClock(SIM_START)
    clock.advance_to(SIM_START + timedelta(hours=1))
    assert clock() == SIM_START + timedelta(hours=1)
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance_to(SIM_START)
    with pytest.raises(ValueError, match="aware"):
        VirtualClock(SIM_START.replace(tzinfo=None))


def test_the_budget_keeps_the_owner_unblocked_where_greedy_starts_do_not() -> None:
    """The issue's ten seeds, normal owners: the owner is never blocked beyond 1 %, limits are
    fewer than greedy's on every seed, and the queue completes nearly as much as greedy."""
    result = sweep(DEFAULT_SEEDS)
    targets = result.targets()
    assert targets["owner blocked <= 1% on every seed"]
    assert targets["limit hits <= greedy on every seed"]
    assert result.worst("reset-aware", "blocked_share") > 0.05, "greedy does block this owner"
    total = sum(r.results["reset-aware+packing"].completed for r in result.rows)
    greedy = sum(r.results["reset-aware"].completed for r in result.rows)
    assert total >= 0.97 * greedy


def test_light_and_bursty_workloads_meet_the_completion_and_limit_targets() -> None:
    light = sweep(DEFAULT_SEEDS, shape="light").targets()
    assert all(light.values()), light
    bursty = sweep(DEFAULT_SEEDS, shape="bursty").targets()
    assert all(bursty.values()), bursty


def test_a_saturated_queue_still_never_blocks_the_owner() -> None:
    """Heavy: every target holds, completions too (at least 95 % of greedy's, which takes
    up to a third of the owner's own demand to get there)."""
    result = sweep(DEFAULT_SEEDS, shape="heavy")
    targets = result.targets()
    assert all(targets.values()), targets
    assert result.worst("reset-aware", "blocked_share") > 0.30


def test_the_budget_looks_again_when_a_held_task_fits_before_the_reset() -> None:
    """The daemon looks every minute; the simulator wakes when the planner says a task held
    back fits, because less of it then falls before the reset."""
    policy = policies.ResetAwarePacking(60.0, default_tokens=2_000_000)
    start = SIM_START.replace(hour=10)
    now = SIM_START.replace(hour=14, minute=5)
    view = policies.View(
        now=now, queue=[policies.QueuedTask(1, 2, ("feature",), start, (), False, 0.0)], running=[],
        window_used=5_200_000, owner_used=0.0, window_start=start, window_end=start + timedelta(hours=5),
        capacity_tokens=6_000_000, capacity_exact=True, max_parallel=1, reserve={}, tz=UTC,
    )
    assert policy.starts(view) == []
    # 800k left: a run 15 % faster than 30k/min spends that in the last 23 min 11 s.
    fits = SIM_START.replace(hour=15) - timedelta(seconds=int(800_000 / (30_000 * protect.SAFETY) * 60))
    assert policy.wake_at(view) == fits
    assert policy.starts(dataclasses.replace(view, now=fits)) == [1]


def test_the_owners_history_on_disk_is_learned_from_and_not_measured() -> None:
    bare = make_workload(14, 5, history_days=0)
    known = make_workload(14, 5)
    assert bare.history == () and len(known.history) > 50
    assert (bare.tasks, bare.owner) == (known.tasks, known.owner), "the measured fortnight is the same"
    assert all(use.at < known.start for use in known.history)
    assert known.history[0].at >= known.start - timedelta(days=HISTORY_DAYS)
    new_user = simulate_policy("reset-aware+packing", SimConfig(seed=5, history_days=0))
    assert new_user.owner_tokens + new_user.owner_blocked_tokens == sum(u.tokens for u in known.owner)


def test_a_new_user_learns_the_window_size_instead_of_packing_against_a_guess_forever() -> None:
    config = SimConfig(days=14, seed=8, shape="heavy")
    guessing = simulate_policy("reset-aware+packing", config)
    knowing = simulate_policy("reset-aware+packing", SimConfig(days=14, seed=8, shape="heavy",
                                                               capacity_known=True))
    assert guessing.completed >= 0.95 * knowing.completed


def test_simulate_sweeps_seeds_and_shapes_from_the_cli() -> None:
    out = ns("simulate", "--seeds", "3", "--shape", "light", "--days", "3", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["seeds"] == [3, 5, 8] and data["shape"] == "light"
    assert set(data["targets"]) == {"owner blocked <= 1% on every seed",
                                    "completed >= 95% of greedy on every seed",
                                    "limit hits <= greedy on every seed"}
    bad = ns("simulate", "--shape", "lumpy")
    assert bad.returncode == 1 and "unknown workload shape 'lumpy'" in bad.stderr


def test_two_accounts_finish_more_sooner_and_spare_the_owners_own_account() -> None:
    for seed in (3, 8, 21):
        one = simulate_policy("reset-aware+packing", SimConfig(seed=seed, shape="heavy"))
        two = simulate_policy("reset-aware+packing", SimConfig(seed=seed, shape="heavy", accounts=2))
        assert two.accounts == 2 and two.completed > one.completed
        assert two.start_latency_mean_h is not None and one.start_latency_mean_h is not None
        assert two.start_latency_mean_h < one.start_latency_mean_h
        assert two.owner_blocked_tokens <= one.owner_blocked_tokens


def test_a_paused_task_resumes_on_the_account_that_holds_its_session() -> None:
    config = SimConfig(seed=5, shape="heavy", accounts=2)
    world = World(make_workload(14, 5, shape="heavy"), config, POLICIES["reset-aware"](config))
    where: dict[int, set[int]] = {}
    start = world._start

    def spy(ids: list[int], account: int) -> None:
        start(ids, account)
        for task in world.tasks.values():
            if task.state == "running" and task.account is not None:
                where.setdefault(task.spec.id, set()).add(task.account)

    world._start = spy  # type: ignore[method-assign]
    result = world.run()
    assert result.limit_hits > 0, "the scenario must pause runs for the rule to matter"
    assert {0, 1} <= set().union(*where.values()), "both accounts ran work"
    assert all(len(accounts) == 1 for accounts in where.values())
