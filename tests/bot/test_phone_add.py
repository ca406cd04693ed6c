"""/add from the phone: every option the CLI has, and repositories by alias only (issue 14.7)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.parse import AddRequest, parse_add
from bot.runtime import running_bot
from core.assembly import owner_notifier
from core.errors import InvalidInput
from core.models import TaskState
from core.service import Service
from core.store.store import Store
from tests.bot.conftest import FAST, bot_settings_for, command
from tests.fakes.telegram_api import FakeTelegram


def test_every_cli_option_parses_and_quoted_values_keep_their_spaces() -> None:
    request = parse_add(
        "--check 'make test' --tag ui --tag=docs,api --title=“Login fix” --at 07:30 "
        "--max-usd 2.5 -r shop --plan fix the\n'login' test"
    )
    assert request == AddRequest(
        "fix the\n'login' test", repo="shop", plan=True, check="make test",
        tags=("ui", "docs", "api"), title="Login fix", at="07:30", max_usd=2.5,
    )
    assert parse_add('--check="pytest -x" do it').check == "pytest -x"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("--max-usd lots do it", "not an amount of dollars"),
        ("--max-usd -1 do it", "not an amount of dollars"),
        ("--max-usd nan do it", "not an amount of dollars"),
        ("--after ٣ do it", "is not a task id"),
        ("--check", "--check needs a value"),
    ],
)
def test_bad_option_values_say_what_is_wrong(args: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_add(args)


async def test_add_with_check_tags_hold_and_cap_reaches_the_task(
    fake_telegram: FakeTelegram, tmp_path: Path, store: Store
) -> None:
    repo = tmp_path / "shop"
    repo.mkdir()
    settings = bot_settings_for(fake_telegram, repos={"shop": repo})
    service = Service(settings, store, notifier=owner_notifier(settings, store),
                      clock=lambda: datetime(2025, 6, 1, 10, 0, tzinfo=UTC))
    async with running_bot(settings, service, FAST):
        [added] = await command(
            fake_telegram,
            "/add -r shop --check 'make test' --tag ui --at 'tomorrow 07:30' --max-usd 3 "
            "--no-plan fix it",
        )
    task = await service.get(1)
    assert (task.repo, task.check_cmd, task.tags) == (str(repo.resolve()), "make test", ("ui",))
    assert task.max_budget_usd == 3.0 and task.state is TaskState.READY
    # 07:30 in Europe/Berlin (summer, UTC+2) on the next day.
    assert task.resume_after == datetime(2025, 6, 2, 5, 30, tzinfo=UTC)
    assert "held until Mon 02 Jun 07:30 CEST" in added.text and "cap $3.00" in added.text
    # Held: nothing may claim it before then.
    assert await store.tasks.claim_next(datetime(2025, 6, 2, 5, 29, tzinfo=UTC)) is None
    assert (await store.tasks.claim_next(datetime(2025, 6, 2, 5, 31, tzinfo=UTC))) is not None


async def test_the_phone_names_repos_by_alias_only_and_the_refusal_reveals_nothing(
    fake_telegram: FakeTelegram, tmp_path: Path, store: Store
) -> None:
    shop = tmp_path / "shop"
    shop.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    settings = bot_settings_for(fake_telegram, repos={"shop": shop})
    service = Service(settings, store, notifier=owner_notifier(settings, store))
    async with running_bot(settings, service, FAST):
        [existing] = await command(fake_telegram, f"/add -r {elsewhere} do it")
        [missing] = await command(fake_telegram, f"/add -r {tmp_path / 'nope'} do it")
        [home] = await command(fake_telegram, "/add -r ~ do it")
        [ok] = await command(fake_telegram, "/add -r shop do it")
    # The same answer whether the path exists or not, and no path in it.
    assert existing.text == missing.text == home.text
    assert "aliases are: shop" in existing.text and str(tmp_path) not in existing.text
    assert [t.repo for t in await service.list()] == [str(shop.resolve())]
    assert "Queued" in ok.text
    # The CLI on the machine itself still takes a path.
    task = await service.add("local work", repo=str(elsewhere), source="cli")
    assert task.repo == str(elsewhere.resolve())
