"""Splitting Telegram HTML and plain text: lossless, within limits, markup kept balanced."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.text import esc, split_html, visible_len, visible_text
from core.outbox_notifier import split_text, utf16_len

TEXT = st.text(
    alphabet=st.sampled_from([*list("ab <>&\"' \n"), "é", "😀", "\t"]), max_size=400
)
LIMITS = st.integers(min_value=2, max_value=60)


def _balanced(markup: str) -> bool:
    stack: list[str] = []
    for closing, name in re.findall(r"<(/?)([a-z-]+)[^>]*>", markup):
        if closing:
            if not stack or stack.pop() != name:
                return False
        else:
            stack.append(name)
    return not stack


@given(TEXT, LIMITS)
@settings(max_examples=300)
def test_split_text_is_lossless_and_within_the_limit(text: str, limit: int) -> None:
    parts = split_text(text, limit)
    assert "".join(parts) == text
    assert all(0 < utf16_len(p) <= limit for p in parts)


@given(TEXT, LIMITS)
@settings(max_examples=300)
def test_split_text_cuts_on_line_boundaries_when_lines_fit(text: str, limit: int) -> None:
    parts = split_text(text, limit)
    lines_fit = all(utf16_len(line) <= limit for line in text.splitlines(keepends=True))
    if lines_fit:
        assert all(p.endswith(("\n", "\r")) for p in parts[:-1])


def test_split_text_keeps_a_short_text_whole_and_drops_an_empty_one() -> None:
    assert split_text("hello\nworld") == ["hello\nworld"]
    assert split_text("") == []


def test_split_text_of_a_telegram_sized_text() -> None:
    text = "\n".join(f"line {i:05d} " + "x" * 80 for i in range(120))
    parts = split_text(text)
    assert len(parts) == 3
    assert all(utf16_len(p) <= 4096 for p in parts)
    assert "".join(parts) == text
    assert parts[1].startswith("line ")


def test_a_long_line_is_cut_at_a_space_past_half_way() -> None:
    parts = split_text("aaaa bbbb cccc", 10)
    assert parts == ["aaaa bbbb ", "cccc"]


def test_emoji_count_two_units_and_are_never_cut_in_half() -> None:
    parts = split_text("😀" * 5, 4)
    assert parts == ["😀😀", "😀😀", "😀"]


@given(TEXT, LIMITS)
@settings(max_examples=300)
def test_split_html_of_escaped_text_is_lossless_and_within_the_limit(text: str, limit: int) -> None:
    parts = split_html(esc(text), limit)
    assert all(visible_len(p) <= limit for p in parts)
    joined = "".join(visible_text(p) for p in parts)
    assert re.sub(r"\s", "", joined) == re.sub(r"\s", "", text)
    for part in parts:  # no entity is cut in half
        assert re.search(r"&[a-z#0-9]*$", part) is None


@given(TEXT, LIMITS)
@settings(max_examples=300)
def test_split_html_keeps_tags_balanced(text: str, limit: int) -> None:
    markup = f"<b>Title</b>\n<i>{esc(text)}</i>\n<pre>{esc(text)}</pre>"
    parts = split_html(markup, limit)
    assert all(_balanced(p) for p in parts)
    assert all(visible_len(p) <= limit for p in parts)


def test_split_html_reopens_a_tag_cut_across_parts() -> None:
    parts = split_html("<pre>" + "\n".join(["0123456789"] * 3) + "</pre>", 12)
    assert parts == ["<pre>0123456789</pre>"] * 3  # the newline at a cut is not sent


def test_visible_length_ignores_tags_and_counts_entities_once() -> None:
    assert visible_len("<b>&lt;b&gt;&amp;</b>") == 4
    assert visible_text("<b>&lt;b&gt;&amp;</b>") == "<b>&"


def test_esc_escapes_markup_but_not_quotes() -> None:
    assert esc("<b>&\"'") == "&lt;b&gt;&amp;\"'"
