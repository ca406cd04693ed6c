"""`nightshift usage blocks --json` against the real `ccusage@17.2.1 blocks --json --offline`.

Both run as subprocesses on the same generated log trees. Trees whose entries are all in the
past (March 2026) give output that does not depend on the wall clock, so the two texts must
be byte-identical. The active-block tree is built relative to the real clock (ccusage
cannot be given a `now`); its `projection` depends on the minutes left at the moment each
tool ran, so that field is compared with a tolerance and everything else exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.usage.logtree import HAIKU, OPUS, SONNET, Tree, assistant, at, synthetic, ts, user

ROOT = Path(__file__).resolve().parents[2]
NIGHTSHIFT = ROOT / ".venv" / "bin" / "nightshift"
CCUSAGE = ROOT / ".tools" / "ccusage" / "node_modules" / ".bin" / "ccusage"

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def ccusage() -> Path:
    if not CCUSAGE.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("ccusage 17.2.1 is missing in CI: scripts/install-ccusage.sh must install it")
        pytest.skip("ccusage 17.2.1 not installed here (run scripts/install-ccusage.sh)")
    return CCUSAGE


def _env(tmp_path: Path, dirs: list[Path]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NIGHTSHIFT_", "CLAUDE", "TELEGRAM_"))}
    env.update(CLAUDE_CONFIG_DIR=",".join(map(str, dirs)), TZ="UTC", HOME=str(tmp_path / "home"),
               NIGHTSHIFT_HOME=str(tmp_path / "state"), NIGHTSHIFT_USAGE_API="false")
    return env


def both(tmp_path: Path, dirs: list[Path], *args: str) -> tuple[str, str]:
    env = _env(tmp_path, dirs)
    mine = subprocess.run([str(NIGHTSHIFT), "usage", "blocks", "--json", *args], env=env,
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    theirs = subprocess.run([str(CCUSAGE), "blocks", "--json", "--offline", *args], env=env,
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert mine.returncode == 0, mine.stderr
    assert theirs.returncode == 0, theirs.stderr
    return mine.stdout.strip(), theirs.stdout.strip()


def assert_same(tmp_path: Path, dirs: list[Path], *args: str) -> list[dict[str, Any]]:
    mine, theirs = both(tmp_path, dirs, *args)
    assert mine == theirs
    blocks: list[dict[str, Any]] = json.loads(mine)["blocks"]
    return blocks


def test_duplicates_follow_file_order(tmp_path: Path, ccusage: Path) -> None:
    tree = Tree(tmp_path / "claude")
    # b.jsonl's earliest line (a user line) is earlier than a.jsonl's: b's copy of msg-X wins
    tree.add("p/a.jsonl",
             assistant(at(10), msg="msg-X", req="req-X", tokens=(1, 2, 3, 4)),
             assistant(at(10), msg="msg-X", req="req-X", tokens=(1, 2, 3, 4)),  # same response twice
             assistant(at(11), msg="msg-Y", req="req-Y"),
             assistant(at(12), msg="msg-Z"),  # no requestId: never deduplicated
             assistant(at(12), msg="msg-Z"))
    tree.add("q/b.jsonl",
             user(at(-5)),
             assistant(at(40), msg="msg-X", req="req-X", tokens=(100, 200, 300, 400), model=HAIKU),
             assistant(at(41), msg="msg-Y", req="req-Y", tokens=(7, 7, 7, 7)))
    blocks = assert_same(tmp_path, [tree.root])
    assert len(blocks) == 1
    assert blocks[0]["entries"] == 4
    assert blocks[0]["tokenCounts"]["inputTokens"] == 100 + 7 + 10 + 10


def test_nested_dirs_sidechains_and_hidden_files(tmp_path: Path, ccusage: Path) -> None:
    tree = Tree(tmp_path / "claude")
    tree.add("p1/sess.jsonl", assistant(at(0), msg="m1", req="r1"))
    tree.add("p1/sess/subagents/agent-1.jsonl",
             assistant(at(3), msg="m2", req="r2", sidechain=True, model=HAIKU))
    tree.add("p2/deep/a/b/c.jsonl", assistant(at(7), msg="m3", req="r3", model=OPUS))
    tree.add(".hidden/x.jsonl", assistant(at(8), msg="m4", req="r4"))
    tree.add("p3/.x.jsonl", assistant(at(9), msg="m5", req="r5"))
    tree.add("p3/notes.json", assistant(at(9), msg="m6", req="r6"))
    blocks = assert_same(tmp_path, [tree.root])
    assert blocks[0]["entries"] == 3
    assert blocks[0]["models"] == [SONNET, HAIKU, OPUS]


def test_limit_lines_and_broken_lines(tmp_path: Path, ccusage: Path) -> None:
    tree = Tree(tmp_path / "claude")
    tree.add("p/s.jsonl",
             assistant(at(0), msg="m1", req="r1"),
             "",
             "{not json at all",
             '{"timestamp":"2026-03-02T10:20:00.000Z","message":{"usage":{"input_tokens":5',
             synthetic(at(5), "You've hit your session limit · resets 3pm (Europe/Berlin)"),
             synthetic(at(6), "Claude AI usage limit reached|1772470800"),
             assistant(at(7), msg="m2", req="r2", extra={"cwd": None}),        # null optional: skipped
             assistant(at(8), msg="m3", req="r3", extra={"costUSD": None}),    # skipped
             assistant(at(9), msg="m4", req="r4", extra={"version": "beta"}),  # skipped
             assistant(at(10), msg="m5", req="r5", model=""),                  # skipped
             assistant(at(11), msg="m6", req="r6", extra={"isApiErrorMessage": "yes"}),  # skipped
             assistant(at(12), msg="m7", req="r7", extra={"timestamp": "2026-03-02T10:29:23Z"}),
             assistant(at(13), msg="m8", req="r8", extra={"timestamp": "2026-03-02T10:30:23.123+00:00"}),
             assistant(at(14), msg="m9", req="r9", model=None),                 # model "unknown"
             assistant(at(15), msg="m10", req="r10", cost=0.25),
             assistant(at(16), msg="m11", req="r11", model="claude-imaginary-9"))
    path = tree.add("p/t.jsonl", assistant(at(20), msg="m12", req="r12"),
                    '{"type":"assistant","message":{"usage":{"input_tokens":1', newline_at_end=False)
    assert not path.read_text().endswith("\n")
    # Tokens of a model no price covers (none named, `claude-imaginary-9`) cost 0 in both,
    # and nightshift says the figure is not a real price; otherwise the text is ccusage's.
    mine, theirs = both(tmp_path, [tree.root])
    assert mine.replace('\n      "costEstimated": true,', "") == theirs
    blocks = json.loads(mine)["blocks"]
    assert blocks[0]["costEstimated"] is True
    assert blocks[0]["costUSD"] == json.loads(theirs)["blocks"][0]["costUSD"]
    assert blocks[0]["usageLimitResetTime"] == "2026-03-02T17:00:00.000Z"
    assert "<synthetic>" in blocks[0]["models"] and "unknown" in blocks[0]["models"]


def test_complete_last_line_without_newline_counts(tmp_path: Path, ccusage: Path) -> None:
    tree = Tree(tmp_path / "claude")
    tree.add("p/s.jsonl", assistant(at(0), msg="m1", req="r1"), assistant(at(1), msg="m2", req="r2"),
             newline_at_end=False)
    blocks = assert_same(tmp_path, [tree.root])
    assert blocks[0]["entries"] == 2


def test_gaps_and_block_edges(tmp_path: Path, ccusage: Path) -> None:
    tree = Tree(tmp_path / "claude")
    h10 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    five = timedelta(hours=5)
    ms = timedelta(milliseconds=1)
    moments = [
        h10,                                  # opens a block at 10:00
        h10 + five,                           # exactly the block's end: same block
        h10 + five + five + ms,               # just over 5 h after the last: new block and a gap
        h10 + 3 * five + ms,                  # exactly 5 h after the last, 5 h + 1 ms after start
        h10 + 4 * five + ms + five,           # a gap of exactly 5 h... plus the block rule
        h10 + 6 * five + 2 * ms + timedelta(minutes=45),  # gap starts after the next block starts
    ]
    tree.add("p/s.jsonl", *(assistant(m, msg=f"m{i}", req=f"r{i}") for i, m in enumerate(moments)))
    blocks = assert_same(tmp_path, [tree.root])
    assert any(b["isGap"] for b in blocks)
    assert blocks[0]["entries"] == 2


def test_two_config_dirs(tmp_path: Path, ccusage: Path) -> None:
    first = Tree(tmp_path / "one")
    second = Tree(tmp_path / "two")
    first.add("p/a.jsonl", assistant(at(0), msg="m1", req="r1"), assistant(at(400), msg="m2", req="r2"))
    second.add("p/b.jsonl", user(at(-1)), assistant(at(30), msg="m1", req="r1", tokens=(9, 9, 9, 9)),
               assistant(at(700), msg="m3", req="r3", model=HAIKU))
    blocks = assert_same(tmp_path, [first.root, second.root])
    assert sum(b["entries"] for b in blocks) == 3


def test_costs_from_the_price_table(tmp_path: Path, ccusage: Path) -> None:
    tree = Tree(tmp_path / "claude")
    tree.add("p/s.jsonl",
             assistant(at(0), msg="m1", req="r1", tokens=(250_000, 300_000, 210_000, 1_000_000)),
             assistant(at(1), msg="m2", req="r2", model=OPUS, tokens=(5, 5000, 0, 0)),
             assistant(at(2), msg="m3", req="r3", model="claude-sonnet-4-5", tokens=(1, 1, 1, 1)),
             assistant(at(3), msg="m4", req="r4", model="sonnet-4-5", tokens=(1, 1, 1, 1)),
             assistant(at(4), msg="m5", req="r5", model="claude-3-5-haiku-20241022"))
    blocks = assert_same(tmp_path, [tree.root])
    assert blocks[0]["costUSD"] > 0


def _history(tree: Tree) -> None:
    base = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    for day in range(6):
        for n in range(4):
            moment = base + timedelta(days=day, hours=n * 2)
            tree.add(f"p/d{day}.jsonl", assistant(moment, msg=f"m{day}-{n}", req=f"r{day}-{n}",
                                                  tokens=(day, 10 * n, 100, 1000 * day)))


@pytest.mark.parametrize(
    "args",
    [
        ("--since", "20260302"),
        ("--until", "20260303"),
        ("--since", "20260302", "--until", "20260304"),
        ("--since", "20260401"),
        ("--recent",),
        ("--active",),
        ("--token-limit", "max"),
        ("--token-limit", "5000"),
    ],
)
def test_options(tmp_path: Path, ccusage: Path, args: tuple[str, ...]) -> None:
    tree = Tree(tmp_path / "claude")
    _history(tree)
    assert_same(tmp_path, [tree.root], *args)


def _without_clock(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in b.items() if k not in ("projection", "tokenLimitStatus")} for b in blocks]


@pytest.mark.parametrize("args", [(), ("--active",), ("--recent",), ("--token-limit", "max"),
                                  ("--active", "--token-limit", "100000")])
def test_active_block(tmp_path: Path, ccusage: Path, args: tuple[str, ...]) -> None:
    # Relative to the real clock: the last block started 2-3 h ago and is active in both runs.
    now = datetime.now(UTC)
    tree = Tree(tmp_path / "claude")
    old = now - timedelta(days=1)
    tree.add("p/old.jsonl", *(assistant(old + timedelta(minutes=9 * n), msg=f"o{n}", req=f"o{n}",
                                        tokens=(n, 100, 1000, 2000)) for n in range(10)))
    tree.add("p/now.jsonl", *(assistant(now - timedelta(minutes=150 - 20 * n), msg=f"n{n}",
                                        req=f"n{n}", tokens=(n, 50, 500, 999)) for n in range(6)))
    mine_text, theirs_text = both(tmp_path, [tree.root], *args)
    mine = json.loads(mine_text)["blocks"]
    theirs = json.loads(theirs_text)["blocks"]
    assert _without_clock(mine) == _without_clock(theirs)
    active = [b for b in mine if b["isActive"]]
    assert len(active) == 1
    for a, b in zip(mine, theirs, strict=True):
        assert (a["projection"] is None) == (b["projection"] is None)
        if a["projection"]:
            # the two runs are seconds apart: minutes left may differ by one
            assert abs(a["projection"]["remainingMinutes"] - b["projection"]["remainingMinutes"]) <= 1
            rate = a["burnRate"]["tokensPerMinute"]
            assert abs(a["projection"]["totalTokens"] - b["projection"]["totalTokens"]) <= rate * 1.5 + 1
        assert ("tokenLimitStatus" in a) == ("tokenLimitStatus" in b)
        if "tokenLimitStatus" in a:
            assert a["tokenLimitStatus"]["limit"] == b["tokenLimitStatus"]["limit"]


def test_no_data(tmp_path: Path, ccusage: Path) -> None:
    tree = Tree(tmp_path / "claude")
    tree.add("p/s.jsonl", user(at(0)))
    assert_same(tmp_path, [tree.root])


def test_reference_sample(tmp_path: Path, ccusage: Path) -> None:
    sample = Path(__file__).parent / "samples" / "log-lines.jsonl"
    tree = Tree(tmp_path / "claude")
    (tree.root / "projects" / "p").mkdir(parents=True)
    (tree.root / "projects" / "p" / "s.jsonl").write_bytes(sample.read_bytes())
    blocks = assert_same(tmp_path, [tree.root])
    assert blocks[0]["entries"] == 4  # 3 usage entries + the synthetic limit line
    assert ts(datetime(2026, 11, 27, 1, 12, 44, tzinfo=UTC)) == blocks[0]["actualEndTime"]
