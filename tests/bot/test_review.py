"""The morning review from the phone, against real git repositories and real runs.

Each task runs for real (tmux on a private socket, the fake `claude` that edits and commits
in its worktree); its finished message arrives through the outbox at the fake Bot API, and
the owner's taps on Diff / Merge / PR / Follow up go through the real PTB application. `gh`
is a small script standing in for GitHub's CLI (the network boundary); the remote it pushes
to is a real bare repository.
"""

from __future__ import annotations

import json
import stat
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.models import TaskState
from core.store.store import Store
from tests.bot.conftest import OWNER
from tests.bot.phone import Phone, flat_labels, head, labels, open_phone, press
from tests.fakes.telegram_api import FakeTelegram
from tests.support import Record, git, make_repo

FAKE_GH = """#!/usr/bin/env python3
import json, os, sys
with open(os.environ["FAKE_GH_RECORD"], "a") as fh:
    fh.write(json.dumps(sys.argv[1:]) + "\\n")
if sys.argv[1:3] == ["auth", "status"]:
    sys.exit(0 if os.environ.get("FAKE_GH_LOGGED_IN") == "1" else 1)
if sys.argv[1:3] == ["pr", "create"]:
    print("https://github.com/owner/shop/pull/7")
    sys.exit(0)
sys.exit(2)
"""


@pytest.fixture
async def phone(fake_telegram: FakeTelegram, store: Store, tmp_path: Path, record: Record
                ) -> AsyncIterator[Phone]:
    async for found in open_phone(fake_telegram, store, make_repo(tmp_path / "shop")):
        yield found


async def test_a_finished_task_shows_the_review_buttons_and_diff_sends_the_patch(
    phone: Phone, tmp_path: Path
) -> None:
    task_id, done = await phone.finish()
    assert labels(done) == [["Diff", "Merge"], ["Follow up", "📜 Logs"]]  # no PR: no remote
    before = len(phone.fake.sent(OWNER))
    await press(phone.fake, done, "Diff")
    inline, document = await phone.fake.wait_sent(OWNER, 2, after=before)
    assert f"Diff of #{task_id}" in inline.text and "FAKE_WORK.md" in inline.text
    assert document.method == "sendDocument" and document.filename == f"task-{task_id}.patch"
    # The patch is the whole change: it applies to a fresh copy of the repo at its base.
    copy = tmp_path / "copy"
    subprocess.run(["git", "clone", "-q", str(phone.repo), str(copy)], check=True)
    patch = tmp_path / "change.patch"
    patch.write_bytes(document.file or b"")
    git(copy, "apply", "--check", str(patch))
    saved = phone.service.settings.home_dir / "review" / f"task-{task_id}.patch"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600


async def test_merge_is_clean_into_the_base_branch(phone: Phone) -> None:
    task_id, done = await phone.finish()
    toast = await press(phone.fake, done, "Merge")
    assert toast["text"] == "Merged"
    merged = phone.fake.sent(OWNER)[-1]
    assert merged.text.startswith("🔀 Merged nightshift/") and "into main" in merged.text
    assert (phone.repo / "FAKE_WORK.md").exists()  # in the owner's checkout now
    assert git(phone.repo, "log", "-1", "--format=%s").startswith(f"Merge nightshift task #{task_id}")
    assert git(phone.repo, "status", "--porcelain") == ""
    events = [e.kind for e in (await phone.service.show(task_id)).events]
    assert "task_merged" in events
    again = await press(phone.fake, done, "Merge")
    assert again["text"] == "Merged"
    assert "already merged" in phone.fake.sent(OWNER)[-1].text


async def test_merge_refuses_a_dirty_checkout_and_changes_nothing(phone: Phone) -> None:
    _, done = await phone.finish()
    (phone.repo / "README.md").write_text("my own edit, not committed\n")
    before = head(phone.repo)
    toast = await press(phone.fake, done, "Merge")
    assert toast["show_alert"] in ("true", "True")
    assert "uncommitted changes (1 file(s))" in str(toast["text"])
    assert head(phone.repo) == before
    assert (phone.repo / "README.md").read_text() == "my own edit, not committed\n"


async def test_merge_refuses_a_conflict_and_leaves_the_checkout_as_it_was(phone: Phone) -> None:
    _, done = await phone.finish()
    (phone.repo / "FAKE_WORK.md").write_text("the owner's own version\n")
    git(phone.repo, "add", "FAKE_WORK.md")
    git(phone.repo, "commit", "-q", "-m", "owner's work")
    before = head(phone.repo)
    toast = await press(phone.fake, done, "Merge")
    assert "does not merge cleanly" in str(toast["text"]) and "FAKE_WORK.md" in str(toast["text"])
    assert head(phone.repo) == before and git(phone.repo, "status", "--porcelain") == ""
    assert not (phone.repo / ".git" / "MERGE_HEAD").exists()


async def test_merge_refuses_another_branch_checked_out_and_a_stale_button(phone: Phone) -> None:
    task_id, done = await phone.finish()
    git(phone.repo, "checkout", "-q", "-b", "experiment")
    git(phone.repo, "checkout", "-q", "--detach")
    toast = await press(phone.fake, done, "Merge")
    assert "not on a branch" in str(toast["text"])
    git(phone.repo, "checkout", "-q", "main")
    # A follow-up runs again: the first message's Merge is for an older run now.
    await phone.reply("also note the date", done)
    await phone.run(task_id)
    stale = await press(phone.fake, done, "Merge")
    assert "this button is for run" in str(stale["text"])
    assert git(phone.repo, "log", "-1", "--format=%s").strip() == "initial"


async def test_replying_to_the_finished_message_continues_the_same_session_and_worktree(
    phone: Phone, record: Record
) -> None:
    task_id, done = await phone.finish()
    answer = await phone.reply("also add a line about the release date", done)
    assert "Follow-up queued" in answer.text
    task = await phone.service.get(task_id)
    assert task.state is TaskState.READY and "follow-up from the owner" in (task.state_reason or "")
    second = await phone.run(task_id)
    first_call, follow_call = record()[0], record()[-1]
    assert follow_call["prompt"] == "also add a line about the release date"  # byte for byte
    argv = follow_call["argv"]
    assert argv[argv.index("--resume") + 1] == task.session_id
    assert follow_call["cwd"] == first_call["cwd"]  # the same worktree
    runs = (await phone.service.show(task_id)).runs
    assert [r.iteration for r in runs] == [1, 2] and runs[-1].extra["step"] == "follow_up"
    assert (await phone.service.get(task_id)).state is TaskState.DONE
    assert "Follow up" in flat_labels(second)
    assert await phone.service.store.kv.get(f"follow_up:{task_id}") is None


async def test_the_follow_up_button_asks_for_the_text_and_a_running_task_is_refused(
    phone: Phone, record: Record
) -> None:
    task_id, done = await phone.finish()
    before = len(phone.fake.sent(OWNER))
    await press(phone.fake, done, "Follow up")
    [ask] = await phone.fake.wait_sent(OWNER, 1, after=before)
    assert ask.text.startswith(f"Follow up task #{task_id}:")
    assert (ask.reply_markup or {}).get("force_reply") is True
    answer = await phone.reply("now the tests", ask)
    assert "Follow-up queued" in answer.text
    refused = await phone.reply("and more", done)  # it is queued, not finished
    assert "is ready; a follow-up continues a task whose run has ended" in refused.text
    pending = await phone.service.store.kv.get(f"follow_up:{task_id}")
    assert pending["text"] == "now the tests"  # the first follow-up, not overwritten
    assert pending["after_run"] == (await phone.service.show(task_id)).runs[-1].id


async def test_pr_only_with_a_remote_and_gh_logged_in(
    fake_telegram: FakeTelegram, store: Store, tmp_path: Path, record: Record,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gh = tmp_path / "gh"
    gh.write_text(FAKE_GH)
    gh.chmod(0o755)
    gh_record = tmp_path / "gh.jsonl"
    monkeypatch.setenv("FAKE_GH_RECORD", str(gh_record))
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    repo = make_repo(tmp_path / "shop")
    git(repo, "remote", "add", "origin", str(remote))
    async for phone in open_phone(fake_telegram, store, repo, gh_bin=str(gh)):
        monkeypatch.setenv("FAKE_GH_LOGGED_IN", "0")
        _, done = await phone.finish("not logged in")
        assert "PR" not in flat_labels(done)
        monkeypatch.setenv("FAKE_GH_LOGGED_IN", "1")
        task_id, done = await phone.finish("logged in")
        assert labels(done)[0] == ["Diff", "Merge", "PR"]
        toast = await press(phone.fake, done, "PR")
        assert toast["text"] == "Pull request opened"
        assert "https://github.com/owner/shop/pull/7" in phone.fake.sent(OWNER)[-1].text
        branch = (await phone.service.show(task_id)).runs[-1].branch
        assert branch and branch in git(remote, "branch", "--list")
        calls = [json.loads(line) for line in gh_record.read_text().splitlines()]
        create = next(c for c in calls if c[:2] == ["pr", "create"])
        assert create[create.index("--head") + 1] == branch and "--force" not in " ".join(create)


async def test_a_screenshot_with_a_caption_answering_a_finished_task_is_its_follow_up(
    phone: Phone, record: Record
) -> None:
    task_id, done = await phone.finish()
    before = len(phone.fake.sent(OWNER))
    phone.fake.push_update({"message": phone.fake.photo_message(
        OWNER, b"\x89PNG-screenshot", caption="the button is still blue, see",
        reply_to=phone.fake.sent_message(done))})
    [answer] = await phone.fake.wait_sent(OWNER, 1, after=before)
    assert "Follow-up queued" in answer.text
    await phone.run(task_id)
    prompt = record()[-1]["prompt"]
    saved = phone.service.settings.home_dir / "attachments" / f"task-{task_id}" / "photo-uniq1.jpg"
    assert prompt.startswith("the button is still blue, see\n\n") and str(saved) in prompt
    argv = record()[-1]["argv"]
    assert argv[argv.index("--add-dir") + 1] == str(saved.parent)  # Claude may read it
