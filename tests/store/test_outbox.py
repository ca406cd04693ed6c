"""The outbox store and the core's OutboxNotifier: order, due times, progress, persistence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from core.abc import Button, Notification
from core.outbox_notifier import OutboxNotifier, note_from_json, note_to_json
from core.store.outbox import MAX_ERROR_CHARS, OutboxStore
from core.store.store import Store
from tests.store.conftest import Opener

T0 = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)


async def test_rows_come_back_in_order_and_only_when_due(store: Store) -> None:
    outbox = OutboxStore(store.db)
    first = await outbox.enqueue("a", {"n": 1}, now=T0)
    second = await outbox.enqueue("b", {"n": 2}, now=T0)
    assert (await outbox.claim_next(T0)) == first
    await outbox.record_failure(first.id, "502", next_attempt_at=T0 + timedelta(seconds=30))
    # The head backs off and nothing behind it may overtake it.
    assert await outbox.claim_next(T0 + timedelta(seconds=29)) is None
    head = await outbox.head()
    assert head is not None and head.id == first.id
    assert head.attempts == 1 and head.last_error == "502"
    assert (await outbox.claim_next(T0 + timedelta(seconds=30))).id == first.id  # type: ignore[union-attr]
    await outbox.mark_sent(first.id, delivered=1, now=T0)
    assert (await outbox.claim_next(T0)).id == second.id  # type: ignore[union-attr]
    assert await outbox.pending_count() == 1


async def test_progress_is_kept_and_errors_are_clipped(store: Store) -> None:
    outbox = OutboxStore(store.db)
    item = await outbox.enqueue("long", {}, now=T0)
    await outbox.mark_progress(item.id, 2, error="x" * 2000)
    again = await outbox.get(item.id)
    assert again.delivered == 2
    assert again.last_error is not None and len(again.last_error) == MAX_ERROR_CHARS
    await outbox.mark_sent(item.id, delivered=3)
    await outbox.mark_progress(item.id, 1)  # a sent row is never changed again
    assert (await outbox.get(item.id)).delivered == 3


async def test_rows_survive_reopening_the_database(open_again: Opener) -> None:
    first = await open_again()
    await OutboxStore(first.db).enqueue("kept", {"x": "é"}, now=T0)
    await first.close()
    second = await open_again()
    pending = await OutboxStore(second.db).pending()
    assert [(p.kind, p.payload) for p in pending] == [("kept", {"x": "é"})]


async def test_enqueue_wakes_listeners(store: Store) -> None:
    outbox = OutboxStore(store.db)
    woken: list[int] = []
    outbox.listeners.append(lambda: woken.append(1))
    await outbox.enqueue("a", {})
    assert woken == [1]


async def test_notifier_writes_notifications_with_their_recipients(store: Store) -> None:
    outbox = OutboxStore(store.db)
    notifier = OutboxNotifier(outbox, [7, 3, 7], clock=lambda: T0)
    note = Notification("run_finished", "done <b>&", task_id=4, data={"at": T0})
    await notifier.notify(note)
    [item] = await outbox.pending()
    assert item.kind == "run_finished" and item.created_at == T0
    assert item.payload["to"] == [3, 7]
    assert note_from_json(item.payload["note"]).text == "done <b>&"
    assert item.payload["note"]["data"] == {"at": str(T0)}


async def test_notifier_without_recipients_keeps_nothing(store: Store) -> None:
    outbox = OutboxStore(store.db)
    await OutboxNotifier(outbox, []).notify(Notification("x", "y"))
    assert await outbox.pending_count() == 0


@given(
    st.text(), st.text(), st.none() | st.integers(0, 10**9), st.none() | st.text(max_size=20),
    st.lists(st.lists(st.tuples(st.text(max_size=10), st.text(max_size=20)), max_size=3),
             max_size=3),
)
def test_notifications_round_trip_through_json(
    kind: str, text: str, task_id: int | None, photo: str | None,
    rows: list[list[tuple[str, str]]],
) -> None:
    buttons = tuple(tuple(Button(t, d) for t, d in row) for row in rows)
    note = Notification(kind, text, task_id=task_id, photo=photo, buttons=buttons,
                        data={"k": [1, "2"]})
    assert note_from_json(note_to_json(note)) == note


async def test_a_keyed_row_is_replaced_in_place_and_a_replaced_delivery_stays_unsent(store: Store) -> None:
    outbox = OutboxStore(store.db)
    notifier = OutboxNotifier(outbox, [7], clock=lambda: T0)
    await notifier.notify(Notification("run_progress", "v1", task_id=1, key="run:5"))
    await notifier.notify(Notification("run_finished", "between", task_id=1))
    await notifier.notify(Notification("run_progress", "other run", task_id=2, key="run:6"))
    seen = await outbox.head()  # the sender reads v1 ...
    assert seen is not None
    await notifier.notify(Notification("run_progress", "v2", task_id=1, key="run:5"))  # ... v2 arrives
    pending = await outbox.pending()
    assert [(p.kind, p.payload["note"]["text"]) for p in pending] == [
        ("run_progress", "v2"), ("run_finished", "between"), ("run_progress", "other run")]
    assert pending[0].id == seen.id  # it kept its place in the queue
    # The delivery of v1 finishing cannot mark v2 as sent.
    assert not await outbox.mark_sent(seen.id, delivered=1, payload=seen.payload)
    fresh = await outbox.head()
    assert fresh is not None and fresh.payload["note"]["text"] == "v2"
    assert await outbox.mark_sent(fresh.id, delivered=1, payload=fresh.payload)
    # Once sent, a newer version is a new row (the front edits the message it sent).
    await notifier.notify(Notification("run_progress", "v3", task_id=1, key="run:5"))
    assert [p.payload["note"]["text"] for p in await outbox.pending()] == ["between", "other run", "v3"]
    await outbox.remember_live("run:5", 7, 1234)
    assert await outbox.live_message("run:5", 7) == 1234 and await outbox.live_message("run:5", 8) is None
    await outbox.forget_live("run:5", 7)
    assert await outbox.live_message("run:5", 7) is None
