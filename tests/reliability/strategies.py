"""Hypothesis strategies for hostile input: near-valid tokens mixed with anything at all."""

from __future__ import annotations

from hypothesis import strategies as st

from bot.buttons import Act

# Text Telegram can carry (valid UTF-8: no lone surrogates) and argv can carry (no NUL).
ANY_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                   max_size=24)

NUMBERS = st.one_of(
    st.integers(min_value=-3, max_value=12),
    st.integers(),
    st.sampled_from([2**63 - 1, 2**63, 10**30, -(2**63) - 1]),
).map(str)
"""Ids as they could be typed: small, negative, and past SQLite's 64-bit integers."""

ODD_DIGITS = st.sampled_from(["²", "١٢", "٣", "①", "0x1f", "1e3", "1_000", "٠", "+1", " 1", "#", "#2",
                              "1,2", "1,,2", "v1", "v", "v99", "١"])
"""Strings that look like numbers to `str.isdigit` or to a human but not to `int()`, and back."""

ADD_WORDS = st.sampled_from(["-p", "--priority", "-r", "--repo", "--after", "-a", "--no-plan",
                             "--plan", "--", "-", "--after=", "-p=urgent", "--priority=", "--plan=1",
                             "high", "low", "urgent", "normal", "someday", "shop", "-x", "--help"])

TOKEN = st.one_of(NUMBERS, ODD_DIGITS, ADD_WORDS, ANY_TEXT)
SEPARATOR = st.sampled_from([" ", " ", "  ", "\n", "\t", " \n "])


@st.composite
def argument_text(draw: st.DrawFn, max_tokens: int = 6) -> str:
    tokens = draw(st.lists(st.tuples(TOKEN, SEPARATOR), max_size=max_tokens))
    return "".join(token + sep for token, sep in tokens).rstrip(" ")


ACTS = [a.value for a in Act]


@st.composite
def callback_data(draw: st.DrawFn) -> str:
    """Forged button data: real actions with wrong numbers, unknown actions, raw garbage.

    Telegram caps callback data at 64 bytes, so nothing longer can arrive.
    """
    kind = draw(st.sampled_from(["shaped", "shaped", "garbage"]))
    if kind == "garbage":
        data = draw(ANY_TEXT)
    else:
        act = draw(st.one_of(st.sampled_from(ACTS), st.sampled_from(["", "AP", "ap ", "xx", "q:"])))
        fields = draw(st.lists(st.one_of(NUMBERS, ODD_DIGITS, st.just("")), max_size=3))
        data = ":".join([act, *fields])
    while len(data.encode()) > 64:
        data = data[:-1]
    return data
