"""The wait-reasons record: each account's look replaces only its own reasons (`core.waits`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.waits import BUDGET, KINDS, MODELS, Waits, same_record, waits_view

NOW = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)
ACCOUNTS = ("work", "home", "box/spare")
IDS = st.integers(min_value=1, max_value=12)
REASONS = st.dictionaries(IDS, st.text(min_size=1, max_size=12), max_size=5)
SAID = st.dictionaries(IDS, st.text(max_size=12), max_size=5)
"""What a look may hand over: an empty reason is no reason."""
UPDATE = st.tuples(st.sampled_from(ACCOUNTS), st.sampled_from(KINDS), REASONS)
STEP = st.one_of(UPDATE, st.tuples(st.just("*"), st.just("every"), REASONS))
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=12)
ID_TEXT = st.one_of(IDS.map(str), st.text(max_size=4))
DAMAGED_REASONS = st.one_of(JSON, st.dictionaries(ID_TEXT, JSON, max_size=4))
DAMAGED = st.fixed_dictionaries({}, optional={
    "at": JSON, "every": DAMAGED_REASONS, "waits": DAMAGED_REASONS,
    "by_account": st.one_of(JSON, st.dictionaries(st.text(max_size=5), st.one_of(JSON, st.dictionaries(
        st.sampled_from((*KINDS, "weather")), DAMAGED_REASONS, max_size=3)), max_size=3)),
})
"""Records as a damaged store or another version may hold them: right keys, wrong insides."""


def _apply(waits: Waits, step: tuple[str, str, dict[int, str]]) -> Waits:
    account, kind, reasons = step
    return Waits.everywhere(reasons) if account == "*" else waits.with_account(account, kind, reasons)


@given(st.lists(STEP, max_size=12))
def test_each_look_replaces_its_own_accounts_reasons_and_no_others(steps: list[tuple[str, str, Any]]) -> None:
    waits = Waits()
    for step in steps:
        waits = _apply(waits, step)
    # What each (account, kind) said last, since the last hold on every account.
    last_everywhere = max((i for i, (a, _, _) in enumerate(steps) if a == "*"), default=-1)
    expected: dict[tuple[str, str], dict[int, str]] = {}
    for account, kind, reasons in steps[last_everywhere + 1:]:
        expected[(account, kind)] = reasons
    got = {(a, k): dict(part) for a, parts in waits.accounts.items() for k, part in parts.items()}
    assert got == {key: r for key, r in expected.items() if r}
    budget_since = any(k == BUDGET for (_, k) in expected)
    every = steps[last_everywhere][2] if last_everywhere >= 0 and not budget_since else {}
    assert dict(waits.every) == every


@given(st.lists(UPDATE, max_size=8), st.randoms())
def test_looks_at_different_accounts_give_the_same_record_in_any_order(
    steps: list[tuple[str, str, dict[int, str]]], rnd: Any,
) -> None:
    """The round's account order (least used first) does not change what is kept."""
    last = {(a, k): (a, k, r) for a, k, r in steps}  # one look per account and kind
    looks = list(last.values())
    shuffled = looks[:]
    rnd.shuffle(shuffled)
    one, other = Waits(), Waits()
    for step in looks:
        one = _apply(one, step)
    for step in shuffled:
        other = _apply(other, step)
    assert one == other
    assert one.as_json(NOW, ACCOUNTS) == other.as_json(NOW, ACCOUNTS)


@given(st.lists(st.tuples(st.sampled_from(("*", *ACCOUNTS)), st.sampled_from(KINDS), SAID), max_size=8),
       st.lists(st.sampled_from(ACCOUNTS), unique=True, max_size=3))
def test_the_record_round_trips_through_the_store(steps: list[Any], order: list[str]) -> None:
    waits = Waits()
    for step in steps:
        waits = _apply(waits, step)
    kept = json.loads(json.dumps(waits.as_json(NOW, order)))
    assert Waits.parse(kept) == waits
    assert waits_view(kept) == waits.flat(order)
    assert "" not in waits.flat(order).values()
    assert same_record(kept, waits.as_json(datetime(2027, 1, 1, tzinfo=UTC), order))


@given(REASONS, REASONS)
def test_with_one_account_the_text_is_its_reason_as_it_was_said(budget: dict[int, str],
                                                                models: dict[int, str]) -> None:
    waits = Waits().with_account("default", BUDGET, budget).with_account("default", MODELS, models)
    assert waits.flat(("default",)) == {**budget, **models}  # a model limit beats the budget


@given(st.dictionaries(st.sampled_from(ACCOUNTS), st.tuples(REASONS, REASONS), min_size=2))
def test_with_several_accounts_each_reason_says_whose_it_is_in_the_named_order(
    said: dict[str, tuple[dict[int, str], dict[int, str]]],
) -> None:
    waits = Waits()
    for account, (budget, models) in said.items():
        waits = waits.with_account(account, BUDGET, budget).with_account(account, MODELS, models)
    order = ("home", "work")  # box/spare is another machine's: after this machine's accounts
    flat = waits.flat(order)
    keys = [k for k in (*order, "box/spare") if k in said]
    for task_id in {i for b, m in said.values() for i in (*b, *m)}:
        parts = [f"account {k}: {({**said[k][0], **said[k][1]})[task_id]}" for k in keys
                 if task_id in {**said[k][0], **said[k][1]}]
        assert flat[task_id] == "; ".join(parts)


def test_one_configured_account_in_several_means_its_reason_says_so() -> None:
    """A task only one of two accounts gives a reason for still says which one."""
    waits = Waits().with_account("home", BUDGET, {3: "needs ~9,000 tokens"})
    assert waits.flat(("work", "home")) == {3: "account home: needs ~9,000 tokens"}
    assert waits.flat(("home",)) == {3: "needs ~9,000 tokens"}


@given(st.lists(STEP, max_size=8), st.sets(IDS, max_size=6), st.sampled_from(ACCOUNTS),
       st.sampled_from(KINDS), REASONS)
def test_tasks_no_longer_ready_lose_their_reasons_on_every_account(
    steps: list[Any], ready: set[int], account: str, kind: str, reasons: dict[int, str],
) -> None:
    waits = Waits()
    for step in steps:
        waits = _apply(waits, step)
    before = waits
    waits = waits.with_account(account, kind, {i: r for i, r in reasons.items() if i in ready}, ready=ready)
    assert set(waits.flat()) <= ready
    for key, parts in before.accounts.items():  # what another account said of a ready task stays
        for kind_, part in parts.items():
            if (key, kind_) != (account, kind):
                assert {i: r for i, r in part.items() if i in ready} == dict(
                    waits.accounts.get(key, {}).get(kind_, {}))
    if not ready:
        assert waits.empty, "a look that finds nothing ready clears them all"


def test_the_nightly_cap_holds_every_account_until_a_budget_plan() -> None:
    waits = (Waits().with_account("work", BUDGET, {1: "needs more"})
             .with_account("home", MODELS, {2: "it needs Opus"}))
    capped = Waits.everywhere({1: "cap reached", 2: "cap reached"})
    assert capped.flat(("work", "home")) == {1: "cap reached", 2: "cap reached"}, "no account's: none named"
    after = capped.with_account("work", MODELS, {2: "it needs Opus"})
    assert after.flat(("work", "home")) == {1: "cap reached", 2: "cap reached"}, "a model note keeps the cap"
    planned = capped.with_account("home", BUDGET, {1: "needs more"})
    assert planned.flat(("work", "home")) == {1: "account home: needs more"}
    assert waits.flat(("work", "home")) == {1: "account work: needs more", 2: "account home: it needs Opus"}


@given(st.one_of(JSON, DAMAGED))
def test_any_stored_record_is_read_without_error(raw: Any) -> None:
    waits = Waits.parse(raw)
    assert isinstance(waits_view(raw), dict)
    assert Waits.parse(json.loads(json.dumps(waits.as_json(NOW)))) == waits


def test_a_record_from_before_accounts_reads_as_it_said_and_is_replaced_whole() -> None:
    old = {"at": "2026-12-01T23:00:00+00:00", "waits": {"4": "needs ~15,000 tokens", "x": "bad id"}}
    assert waits_view(old) == {4: "needs ~15,000 tokens"}
    assert Waits.parse(old).empty
    assert not same_record(old, Waits().as_json(NOW)), "an empty look still replaces the old record"


def test_an_unknown_kind_of_reason_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        Waits().with_account("work", "weather", {1: "rain"})
