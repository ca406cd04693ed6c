"""Session logs the real Claude Code 2.1.332 wrote (tests/usage/samples/real-cli-2.1.332-*.jsonl,
paths replaced): their new line types (`api-request`, `cost-state`, `attachment`,
`queue-operation`, …) are not usage, each response counts once, and ccusage agrees."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.usage.test_parity import both, ccusage  # noqa: F401 - the fixture

SAMPLES = Path(__file__).parent / "samples"


def tree(tmp_path: Path) -> Path:
    root = tmp_path / "claude"
    (root / "projects" / "-work-repo").mkdir(parents=True)
    for sample in sorted(SAMPLES.glob("real-cli-2.1.332-*.jsonl")):
        shutil.copy(sample, root / "projects" / "-work-repo" / sample.name)
    return root


def test_the_real_logs_count_each_response_once_like_ccusage(tmp_path: Path, ccusage: Path) -> None:  # noqa: F811
    mine, theirs = both(tmp_path, [tree(tmp_path)])
    ours, reference = json.loads(mine)["blocks"], json.loads(theirs)["blocks"]
    for block in (*ours, *reference):
        # projection and burn rate depend on the wall clock while the block is open; the cost on
        # the price table (ccusage 17 offline does not know claude-sonnet-5-5, ours does)
        for key in ("projection", "burnRate", "costUSD"):
            block.pop(key, None)
    assert ours == reference
    [block] = ours
    # Two replies of the work session (Write, then text) and the synthetic line of the limit.
    assert block["entries"] == 3
    assert block["totalTokens"] == (1000 + 200 + 300 + 4000) + (50 + 70 + 0 + 5300)
    assert block["models"] == ["claude-sonnet-5-5", "<synthetic>"]
    kinds = {json.loads(line).get("type") for sample in SAMPLES.glob("real-cli-2.1.332-*.jsonl")
             for line in sample.read_text().splitlines()}
    assert {"api-request", "cost-state", "attachment", "queue-operation", "assistant"} <= kinds
