"""Property tests for the Markdown helpers the vault's guarantees rest on."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from core.vault.markdown import (
    MARKER,
    SLUG_MAX_CHARS,
    block,
    code,
    compose,
    escape,
    fenced,
    front_matter,
    parse_front_matter,
    slugify,
    split_owner_text,
    wikilinks,
)

markdownish = st.text(st.sampled_from(list("ab[]!|#%`~ \n-")) | st.characters(), max_size=200)


@given(st.text())
def test_slugs_are_safe_file_and_link_names(title: str) -> None:
    slug = slugify(title)
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", slug)
    assert len(slug) <= SLUG_MAX_CHARS


def test_slug_examples() -> None:
    assert slugify("Fix the flaky login test!") == "fix-the-flaky-login-test"
    assert slugify("Crème brûlée à la carte") == "creme-brulee-a-la-carte"
    assert slugify("日本語") == "task"
    assert slugify("x" * 100) == "x" * SLUG_MAX_CHARS


@given(markdownish, markdownish)
def test_the_owners_text_survives_any_generated_text(generated: str, owner: str) -> None:
    note = compose(block(generated), owner)
    assert split_owner_text(note) == owner
    assert note.count(MARKER) >= 1
    assert split_owner_text(compose(block(generated), split_owner_text(note))) == owner


@given(markdownish)
def test_escaped_and_fenced_text_has_no_live_link(text: str) -> None:
    assert wikilinks(escape(text)) == []
    assert wikilinks(fenced(text)) == []
    assert wikilinks(block(text)) == []
    # a fence the text left open is closed: a link after it is live again
    assert wikilinks(block(text) + "\n[[after]]") == ["after"]
    assert wikilinks(fenced(text) + "[[after]]") == ["after"]


@given(st.text(st.characters(exclude_characters="\n\r"), max_size=50))
def test_inline_code_holds_any_backticks(text: str) -> None:
    rendered = code(text)
    ticks = re.match(r"`+", rendered)
    assert ticks is not None
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    assert len(ticks.group()) > longest
    assert rendered.endswith(ticks.group())
    inner = rendered[len(ticks.group()):-len(ticks.group())]
    assert inner in (text, f" {text} ")


@given(st.dictionaries(st.sampled_from(["title", "repo", "tags", "n"]),
                       st.text() | st.integers() | st.none() | st.lists(st.text(), max_size=3)))
def test_front_matter_round_trips(data: dict) -> None:  # type: ignore[type-arg]
    assert parse_front_matter(front_matter(data) + "\nbody") == data


def test_links_with_alias_and_heading() -> None:
    text = "see [[a|Alias]] and ![[b.png]] and [[c#Part]] but `[[d]]`? \\[\\[e]]\n```\n[[f]]\n```"
    assert wikilinks(text) == ["a", "b.png", "c", "d"]
