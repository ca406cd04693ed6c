"""Choosing styles: Thompson sampling settles on the better style; pins, floor, retirement."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from core.improve.bandit import Pin, choose, retirements
from core.improve.bayes import Posterior
from core.improve.styles import PromptStyle

NOW = datetime(2026, 10, 5, 3, 0, tzinfo=UTC)
A = PromptStyle("direct", "", "$prompt")
B = PromptStyle("plan-test-verify", "", "$prompt")
C = PromptStyle("terse", "", "$prompt")


def run_experiment(seed: int, rates: dict[str, float], rounds: int, floor: float = 0.1) -> list[str]:
    rng = random.Random(seed)
    world = random.Random(seed + 1000)
    stats: dict[str, Posterior] = {}
    picks = []
    for _ in range(rounds):
        style = choose([A, B], stats, rng, now=NOW, floor=floor)
        success = world.random() < rates[style.name]
        stats[style.name] = stats.get(style.name, Posterior()).add(success)
        picks.append(style.name)
    return picks


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_thompson_sampling_settles_on_the_better_style(seed: int) -> None:
    picks = run_experiment(seed, {"direct": 0.35, "plan-test-verify": 0.7}, rounds=400)
    late = Counter(picks[-150:])
    # The floor keeps 10 % uniform exploration (half of it on the worse style), so the
    # better one gets nearly all of the rest once the posteriors separate.
    assert late["plan-test-verify"] / 150 > 0.85
    assert late["direct"] > 0, "exploration never stops entirely"


def test_the_same_seed_gives_the_same_choices() -> None:
    rates = {"direct": 0.5, "plan-test-verify": 0.6}
    assert run_experiment(9, rates, 100) == run_experiment(9, rates, 100)


def test_floor_one_is_uniform_whatever_the_stats() -> None:
    rng = random.Random(5)
    stats = {"direct": Posterior(100, 0), "plan-test-verify": Posterior(0, 100)}
    picks = Counter(choose([A, B], stats, rng, now=NOW, floor=1.0).name for _ in range(2000))
    assert 850 < picks["plan-test-verify"] < 1150


def test_floor_zero_follows_overwhelming_evidence() -> None:
    rng = random.Random(5)
    stats = {"direct": Posterior(100, 0), "plan-test-verify": Posterior(0, 100)}
    assert {choose([A, B], stats, rng, now=NOW, floor=0.0).name for _ in range(200)} == {"direct"}


def test_a_pin_wins_until_it_expires() -> None:
    rng = random.Random(1)
    stats = {"direct": Posterior(50, 0), "plan-test-verify": Posterior(0, 50)}
    pin = Pin("plan-test-verify", until=NOW + timedelta(hours=2))
    assert choose([A, B], stats, rng, now=NOW, pin=pin).name == "plan-test-verify"
    later = NOW + timedelta(hours=3)
    assert {choose([A, B], stats, rng, now=later, pin=pin, floor=0).name for _ in range(50)} == {"direct"}


def test_a_pin_to_an_unknown_style_is_ignored() -> None:
    assert choose([A], {}, random.Random(1), now=NOW, pin=Pin("gone")).name == "direct"


def test_retired_styles_are_not_chosen_unless_nothing_else_is_left() -> None:
    rng = random.Random(2)
    assert {choose([A, B], {}, rng, now=NOW, retired=frozenset({"direct"})).name
            for _ in range(100)} == {"plan-test-verify"}
    assert choose([A], {}, rng, now=NOW, retired=frozenset({"direct"})).name == "direct"


def test_a_clearly_worse_style_retires_with_its_reason() -> None:
    stats = {"direct": Posterior(4, 16), "plan-test-verify": Posterior(15, 5), "terse": Posterior(12, 8)}
    found = retirements(stats, ["direct", "plan-test-verify", "terse"])
    assert [r.name for r in found] == ["direct"]
    assert found[0].versus == "plan-test-verify"
    assert found[0].probability_worse > 0.95
    assert "direct succeeded 4/20, plan-test-verify 15/20" in found[0].reason


def test_no_retirement_without_enough_runs_or_evidence_or_when_pinned() -> None:
    assert retirements({"direct": Posterior(0, 5), "plan-test-verify": Posterior(5, 0)},
                       ["direct", "plan-test-verify"]) == []
    assert retirements({"direct": Posterior(9, 11), "plan-test-verify": Posterior(11, 9)},
                       ["direct", "plan-test-verify"]) == []
    assert retirements({"direct": Posterior(4, 16), "plan-test-verify": Posterior(15, 5)},
                       ["direct", "plan-test-verify"], protected=frozenset({"direct"})) == []


def test_bad_floor_is_refused() -> None:
    with pytest.raises(ValueError, match="exploration floor"):
        choose([A, B], {}, random.Random(1), now=NOW, floor=1.5)
