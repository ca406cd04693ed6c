"""With a wake time, each day's note embeds the morning digest's picture of the night before."""

from __future__ import annotations

from PIL import Image

from core.metrics.digest import build_digest_data, digest_png
from core.metrics.history import load_history
from core.models import Outcome
from core.settings import Settings, load_settings
from core.store.store import Store
from core.store.task_rows import NewTask
from core.vault import VaultWriter
from tests.metrics.history import work_run
from tests.metrics.night import build_night, k, t
from tests.vault.test_notes import assert_links_resolve, links


def wake_settings(settings: Settings) -> Settings:
    return load_settings(env_file=None, tz="Europe/Berlin", wake_time="07:00")


async def test_the_night_before_a_day_is_in_its_note(settings: Settings, store: Store) -> None:
    await build_night(store)
    config = wake_settings(settings)
    writer = VaultWriter(config, store)
    await writer.sync(t(6, 12))
    root = writer.root
    note = (root / "daily/2026-10-05.md").read_text()
    charts = [name for name in links(note) if name.endswith(".png")]
    assert charts[0] == "2026-10-05-digest.png"  # the night first, then the day's charts
    picture = root / "daily/charts/2026-10-05-digest.png"
    assert Image.open(picture).format == "PNG"
    # the very picture the digest at 07:00 that morning sent
    history = await load_history(store)
    data = build_digest_data(history, since=t(4, 5), now=t(5, 5), tz=config.local_tz)
    assert picture.read_bytes() == digest_png(data)
    # the night before 4 October had no run: no night chart for that day's note
    assert not (root / "daily/charts/2026-10-04-digest.png").exists()
    assert "2026-10-04-digest.png" not in (root / "daily/2026-10-04.md").read_text()
    assert assert_links_resolve(root) > 10
    # unchanged data: nothing rewritten
    assert (await writer.sync(t(6, 12))).written == []


async def test_a_late_run_redraws_that_night_only(settings: Settings, store: Store) -> None:
    await build_night(store)
    writer = VaultWriter(wake_settings(settings), store)
    await writer.sync(t(6, 12))
    picture = writer.root / "daily/charts/2026-10-05-digest.png"
    before = picture.read_bytes()
    task = await store.tasks.add(NewTask(prompt="x", title="Late fix", needs_plan=False), now=t(5, 1))
    run = await work_run(store, task.id, 1, started=t(5, 4), finished=t(5, 4, 30),
                         outcome=Outcome.ERROR, tokens=k(80), cost=0.08,
                         window="2026-10-05T03:00:00.000Z")
    report = await writer.write_run(run)
    assert "daily/charts/2026-10-05-digest.png" in report.written
    assert picture.read_bytes() != before


async def test_without_a_wake_time_there_is_no_night_chart(settings: Settings, store: Store) -> None:
    await build_night(store)
    writer = VaultWriter(load_settings(env_file=None, tz="Europe/Berlin"), store)
    await writer.sync(t(6, 12))
    assert not list(writer.root.rglob("*-digest.png"))
