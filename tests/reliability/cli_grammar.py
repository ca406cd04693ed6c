"""Random command lines for every `nightshift` command: its own options with hostile values.

Values of options that name files are always relative paths without `..`: the fuzzer runs
as root in CI, and a random `--out /etc/…` must never be tried. Everything else is
anything at all.
"""

from __future__ import annotations

from hypothesis import strategies as st

from .strategies import ANY_TEXT, NUMBERS, ODD_DIGITS

SAFE_PATH = st.from_regex(r"[a-z0-9_]{1,8}(/[a-z0-9_]{1,8})?(\.(png|db|md|env|txt|PNG))?", fullmatch=True)
GARBAGE = ANY_TEXT.filter(lambda t: not t.startswith(("/", "~")) and ".." not in t)
ID = st.one_of(NUMBERS, ODD_DIGITS, GARBAGE)
WHEN = st.one_of(st.sampled_from(["today", "yesterday", "7d", "0d", "-1d", "99999999d", "2026-02-30",
                                  "2026-01-01", "2026-01-01T00:00:00+25:00", "20260101", "1d2h", ""]),
                 GARBAGE)
SMALL_INT = st.one_of(st.integers(min_value=-3, max_value=4).map(str), st.sampled_from(["0", "366", "1e9"]),
                      ODD_DIGITS, GARBAGE)
"""For `simulate --days/--parallel`: a year's simulation takes half a minute, so never more than 4."""

Opt = tuple[str, st.SearchStrategy[str] | None]

COMMANDS: dict[tuple[str, ...], tuple[list[st.SearchStrategy[str]], list[Opt]]] = {
    ("add",): ([ANY_TEXT], [("--title", ANY_TEXT), ("--repo", GARBAGE), ("--priority", st.one_of(
        st.sampled_from(["urgent", "high", "normal", "low", "HIGH"]), GARBAGE)), ("--after", ID),
        ("--check", ANY_TEXT), ("--plan", None), ("--no-plan", None), ("--tag", ANY_TEXT),
        ("--at", st.one_of(WHEN, st.sampled_from(["07:30", "+2h", "tomorrow 07:30", "25:00"]))),
        ("--max-usd", st.one_of(ID, st.sampled_from(["2.5", "nan", "inf", "-1", "0"]))),
        ("--json", None)]),
    ("list",): ([], [("--state", st.one_of(st.sampled_from(["ready", "queued", "done", "READY"]),
                                           GARBAGE)), ("--json", None)]),
    ("show",): ([ID], [("--json", None)]),
    ("edit",): ([ID], [("--after", ID), ("--json", None)]),
    ("cancel",): ([ID], [("--json", None)]),
    ("retry",): ([ID], [("--json", None)]),
    ("approve",): ([ID], [("--version", ID), ("--json", None)]),
    ("reject",): ([ID, ANY_TEXT], [("--json", None)]),
    ("plan",): ([ID], [("--json", None)]),
    ("revise",): ([ID, ANY_TEXT], [("--version", ID), ("--json", None)]),
    ("inbox",): ([], [("--json", None)]),
    ("stats",): ([], [("--since", WHEN), ("--until", WHEN), ("--capacity", ID), ("--json", None)]),
    ("chart",): ([], [("--out", SAFE_PATH), ("--kind", st.one_of(st.sampled_from(
        ["completion", "tokens", "outcomes", "utilization"]), GARBAGE)), ("--since", WHEN),
        ("--until", WHEN), ("--points", ID)]),
    ("notes",): ([], [("--capacity", ID), ("--json", None)]),
    ("clean",): ([], [("--json", None)]),
    ("usage",): ([], [("--json", None)]),
    ("usage", "blocks"): ([], [("--json", None), ("--active", None), ("--recent", None),
                               ("--token-limit", st.one_of(st.just("max"), ID)),
                               ("--since", WHEN), ("--until", WHEN)]),
    ("doctor",): ([], [("--json", None)]),
    ("retro",): ([], [("--week", st.one_of(st.sampled_from(["2026-W07", "2026-W53", "2026-W00"]),
                                           GARBAGE)), ("--no-send", None), ("--json", None)]),
    ("simulate",): ([], [("--days", SMALL_INT), ("--seed", ID), ("--parallel", SMALL_INT),
                         ("--json", None)]),
    ("lessons",): ([], [("--json", None)]),
    ("lessons", "accept"): ([ID], [("--json", None)]),
    ("lessons", "dismiss"): ([ID], [("--json", None)]),
    ("lessons", "write"): ([], []),
    ("styles",): ([], [("--json", None)]),
    ("styles", "pin"): ([GARBAGE], [("--hours", st.one_of(ID, st.sampled_from(["nan", "inf", "-1"])))]),
    ("styles", "unpin"): ([], []),
    ("service", "status"): ([], []),
    ("service", "install"): ([], [("--workdir", SAFE_PATH)]),
    ("service", "uninstall"): ([], []),
    ("init",): ([], [("--token", st.one_of(st.just("123456789:" + "A" * 35), GARBAGE)), ("--user", ID),
                     ("--repo", GARBAGE), ("--work-hours", GARBAGE), ("--reserve-percent", ID),
                     ("--env-file", SAFE_PATH), ("--no-check", None), ("--yes", None)]),
    ("backup",): ([], [("--out", SAFE_PATH), ("--json", None)]),
    ("budget",): ([st.one_of(st.sampled_from(["task", "night", "reserve"]), GARBAGE),
                   st.one_of(st.sampled_from(["2.5", "20%", "off", "default", "95%", "$0"]), GARBAGE)],
                  [("--json", None)]),
    ("restore",): ([SAFE_PATH], [("--yes", None), ("--json", None)]),
}

TASK_COMMANDS = [c for c in COMMANDS if c[0] in {"add", "list", "show", "edit", "cancel", "retry",
                                                   "approve", "reject", "plan", "revise", "inbox"}]
OTHER_COMMANDS = [c for c in COMMANDS if c not in TASK_COMMANDS]


@st.composite
def command_line(draw: st.DrawFn, commands: list[tuple[str, ...]] | None = None) -> list[str]:
    """A command, its positionals (some missing, some extra) and options, shuffled a little."""
    name = draw(st.sampled_from(commands or list(COMMANDS)))
    positionals, options = COMMANDS[name]
    words: list[list[str]] = []
    for strategy in positionals:
        if draw(st.integers(0, 9)) > 0:  # usually present
            words.append([draw(strategy)])
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["option", "option", "option", "garbage"]))
        if kind == "garbage" or not options:
            words.append([draw(GARBAGE)])
            continue
        option, value = draw(st.sampled_from(options))
        words.append([option] if value is None else [option, draw(value)])
    order = draw(st.permutations(range(len(words))))
    argv = [*name]
    for index in order:
        argv += words[index]
    if draw(st.integers(0, 29)) == 0:
        argv.insert(draw(st.integers(0, len(argv))), draw(st.sampled_from(["--", "-", "--help"])))
    return argv
