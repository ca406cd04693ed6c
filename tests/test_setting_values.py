"""The readers of composite setting values (core/setting_values.py), on their own: what they
write back is what was written, and what they refuse they refuse with a sentence."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.setting_values import (
    check_database_url,
    check_node_name,
    parse_accounts,
    parse_repo_aliases,
    parse_user_ids,
    split_csv,
)

NAME = st.text(st.sampled_from("abcXYZ019-_."), min_size=1, max_size=40)
PATH = st.text(st.sampled_from("/~abc-_.x0"), min_size=1, max_size=30)
PADDING = st.sampled_from(["", " ", "  "])


@given(st.lists(st.text(st.characters(blacklist_characters=",", blacklist_categories=("Cs",)), min_size=1)))
def test_a_comma_list_keeps_its_non_blank_items_trimmed(items: list[str]) -> None:
    assert split_csv(",".join(items)) == [i.strip() for i in items if i.strip()]
    assert split_csv(items) is items  # already a list: as given


@given(st.dictionaries(NAME, PATH, max_size=5), PADDING)
def test_accounts_round_trip(accounts: dict[str, str], pad: str) -> None:
    unique_dirs = len(set(accounts.values())) == len(accounts)
    text = ",".join(f"{pad}{name}{pad}={pad}{path}{pad}" for name, path in accounts.items())
    if unique_dirs:
        assert parse_accounts(text) == accounts
    else:
        with pytest.raises(ValueError, match="share one config directory"):
            parse_accounts(text)


@pytest.mark.parametrize(("text", "problem"), [
    ("work", "is not name=CONFIG_DIR"), ("=/x", "is not name=CONFIG_DIR"),
    ("a b=/x", "account name 'a b'"), ("a=/x,a=/y", "named twice"), ("x" * 41 + "=/x", "at most 40"),
])
def test_bad_accounts_say_why(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_accounts(text)


@given(st.dictionaries(NAME, PATH, max_size=5), PADDING)
def test_repo_aliases_round_trip(aliases: dict[str, str], pad: str) -> None:
    text = ",".join(f"{pad}{name}={path}{pad}" for name, path in aliases.items())
    assert parse_repo_aliases(text) == aliases


@given(st.frozensets(st.integers(-(10**15), 10**15), max_size=6))
def test_user_ids_round_trip(ids: frozenset[int]) -> None:
    assert parse_user_ids(", ".join(map(str, ids))) == ids
    with pytest.raises(ValueError, match="'@me' is not a numeric Telegram user id"):
        parse_user_ids(",".join([*map(str, ids), "@me"]))


def test_a_database_url_refusal_names_only_the_scheme() -> None:
    assert check_database_url("") is None and check_database_url(None) is None
    assert check_database_url("postgres://u:pw@h/db") == "postgres://u:pw@h/db"
    with pytest.raises(ValueError) as caught:
        check_database_url("mysql://u:hunter2@h/db")
    assert "'mysql'" in str(caught.value) and "hunter2" not in str(caught.value)


def test_a_node_name_is_trimmed_and_plain() -> None:
    assert check_node_name("  box-1.lan ") == "box-1.lan" and check_node_name("") == ""
    for bad in ("a b", "x" * 101, "box/1"):
        with pytest.raises(ValueError, match="at most 100"):
            check_node_name(bad)
