"""An Opus weekly limit holds only the work that needs Opus; a task with a fallback goes on."""

from __future__ import annotations

from datetime import UTC, datetime

from core.daemon.model_limits import HOLDS_KEY, choose_model, family
from core.models import Outcome, Priority, Task, TaskState
from core.service import Service
from core.settings import Settings
from core.store.store import Store
from tests.fakes.notifier import RecordingNotifier

from .conftest import MakeDaemon, Record


def _model(call: dict[str, object]) -> str | None:
    argv = list(call["argv"])  # type: ignore[call-overload]
    return str(argv[argv.index("--model") + 1]) if "--model" in argv else None


async def test_an_opus_limit_holds_opus_work_and_a_task_with_a_fallback_goes_on_with_it(
    make_daemon: MakeDaemon, dservice: Service, dstore: Store, record: Record,
) -> None:
    switching = await dservice.add("switching [fake: limit reset_in=600 window=seven_day_opus]",
                                   priority="high", tags=["model:opus", "fallback:sonnet"])
    opus_only = await dservice.add("opus only", tags=["model:opus"])
    sonnet = await dservice.add("on sonnet", tags=["model:sonnet"])
    default = await dservice.add("on the default model")
    heard = RecordingNotifier()
    daemon = make_daemon(burst=True, notifier=heard)
    assert await daemon.run() == 0

    states = {t.id: t.state for t in await dstore.tasks.query()}
    assert states == {switching.id: TaskState.DONE, opus_only.id: TaskState.READY,
                      sonnet.id: TaskState.DONE, default.id: TaskState.READY}
    calls = record()
    assert [(_model(c), c["resume"] is not None) for c in calls] == [
        ("opus", False), ("sonnet", True), ("sonnet", False)]
    assert calls[1]["resume"] == calls[0]["session_id"]  # the same session, on the fallback model
    runs = await dstore.runs.for_task(switching.id)
    assert [r.outcome for r in runs] == [Outcome.LIMIT, Outcome.SUCCESS]
    assert runs[0].extra["limit"]["kind"] == "opus"
    holds = await dstore.kv.get(HOLDS_KEY)
    assert set(holds) == {"opus"}
    # The account itself was never paused: the Sonnet task ran while Opus was limited.
    assert await daemon.gate.pause.load() is None
    # `show` says why the held ones wait.
    for task in (opus_only, default):
        why = (await dservice.show(task.id)).why_not_running
        assert why is not None and "it needs Opus, whose weekly limit holds until" in why
    # The owner was told once: until when, what waits, what goes on with its fallback.
    (told,) = [n for n in heard.sent if n.kind == "model_limit"]
    assert told.text.startswith("Opus weekly limit until ")
    assert f"waiting: #{opus_only.id}, #{default.id}" in told.text
    assert f"going on with their fallback model: #{switching.id}" in told.text


def _task(*tags: str) -> Task:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    return Task(id=1, title="t", prompt="p", state=TaskState.READY, priority=Priority.NORMAL, repo=None,
                depends_on=(), created_at=now, updated_at=now, tags=tags)


def test_which_model_a_task_runs_on_while_a_family_is_limited(settings: Settings) -> None:
    assert [family(m) for m in ("claude-opus-4-1", "Sonnet", "haiku", "", "gpt")] == [
        "opus", "sonnet", "haiku", None, None]
    assert choose_model(_task(), settings, set()) == (True, None)
    assert choose_model(_task("model:opus"), settings, set()) == (True, "opus")
    assert choose_model(_task("model:opus"), settings, {"opus"}) == (False, None)
    assert choose_model(_task("model:opus", "fallback:sonnet"), settings, {"opus"}) == (True, "sonnet")
    assert choose_model(_task("model:opus", "fallback:sonnet"), settings, {"opus", "sonnet"}) == (False, None)
    assert choose_model(_task("model:sonnet"), settings, {"opus"}) == (True, "sonnet")
    assert choose_model(_task(), settings, {"opus"}) == (False, None)  # the default may be Opus
    fallback = settings.model_copy(update={"fallback_model": "claude-sonnet-4-5"})
    assert choose_model(_task(), fallback, {"opus"}) == (True, "claude-sonnet-4-5")
    assert choose_model(_task("fallback:haiku"), fallback, {"opus"}) == (True, "haiku")  # the tag wins
