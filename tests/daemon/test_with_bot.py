"""`nightshift run` with a Telegram token: the bot lives in the daemon, against a local fake Bot API."""

from __future__ import annotations

import os

from core.models import TaskState
from core.store.store import Store
from tests.fakes.telegram_api import TOKEN, FakeTelegram

from .conftest import Record, start_cli, stop_cli, wait_for_states

OWNER = 4242


async def test_a_task_added_from_telegram_wakes_the_dispatcher_and_its_result_is_pushed(
    dstore: Store, record: Record,
) -> None:
    with FakeTelegram() as fake:
        env = dict(os.environ, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=fake.base_url,
                   TELEGRAM_ALLOWED_USERS=str(OWNER))
        daemon = start_cli("run", env=env)
        try:
            fake.push_message(OWNER, "/add --no-plan write the changelog")
            (reply,) = await fake.wait_sent(OWNER, 1, timeout_s=60)
            tasks = await dstore.tasks.query()
            assert len(tasks) == 1 and str(tasks[0].id) in reply.text
            await wait_for_states(dstore, [tasks[0].id], {TaskState.DONE})
            # The run's live message (edited in place), then its summary.
            live, pushed = await fake.wait_sent(OWNER, 2, timeout_s=60, after=1)
            assert f"Task {tasks[0].id} ⚙️ running" in live.text
            assert f"Task {tasks[0].id} done" in pushed.text
        finally:
            code, _, err = stop_cli(daemon)
        assert code == 0, err
        assert TOKEN not in err  # never log secrets
        calls = record()  # one run; its prompt is the owner's words in a prompt style
        assert len(calls) == 1 and "write the changelog" in calls[0]["prompt"]
