"""The demo's phone: the terminal shows what the Telegram bot would, buttons included.

Messages the bot edits in place (a run's live progress, the countdown to a reset) are one
line each, updated in place on a terminal (rich `Live`); in a log or a pipe each is written
once when it appears and once when it ends, never once a second. Buttons are labelled as
the bot labels them (the phone contract in DESIGN.md; `tests/demo` checks they agree).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.text import Text

from core.abc import Notification, Notifier
from core.models import Task, TaskState

if TYPE_CHECKING:
    from core.service import Service

PLAN_BUTTONS = ("✅ Approve", "✏️ Revise", "🗑 Reject")
DRAFT_BUTTONS = ("Queue", "Queue without plan", "Repo…", "Discard")
REVIEW_BUTTONS = ("Diff", "Merge", "PR", "Follow up")
STOP_BUTTON = "Stop"
TASK_BUTTONS = ("✖ Cancel", "↻ Retry", "📜 Logs")


def contract_buttons(note: Notification) -> list[str]:
    """The labels the Telegram front puts on `note` (explicit buttons win)."""
    if note.buttons:
        return [b.text for row in note.buttons for b in row]
    if note.task_id is None:
        return []
    if note.kind == "plan_ready":
        return list(PLAN_BUTTONS)
    if note.kind == "run_progress":
        return [] if note.data.get("final") else [STOP_BUTTON, "📜 Logs"]
    if note.kind == "run_finished" and note.data.get("state") == "done":
        review = note.data.get("review") if isinstance(note.data.get("review"), dict) else None
        if review is None:
            return ["Follow up", "📜 Logs"]
        return [b for b in REVIEW_BUTTONS if b != "PR" or review.get("pr")] + ["📜 Logs"]
    if note.kind == "run_finished" and note.data.get("state") in ("failed", "cancelled"):
        return ["↻ Retry", "📜 Logs", "Follow up"]
    if note.kind in ("run_started", "run_finished", "limit_hit"):
        return list(TASK_BUTTONS)
    return []


def panel(title: str, body: str, buttons: list[str]) -> Panel:
    shown = body + ("\n\n" + "  ".join(f"[{b}]" for b in buttons) if buttons else "")
    return Panel(Text(shown), title=f"📱 Telegram · {title}", title_align="left", border_style="cyan",
                 expand=False)


class LiveLines:
    """Lines updated in place (by key) below everything printed; one write each when piped."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.lines: dict[str, str] = {}
        self._live: Live | None = None
        self._printed: set[str] = set()

    def set(self, key: str, text: str) -> None:
        if not self.console.is_terminal:
            if key not in self._printed:
                self.console.print(text, markup=False, highlight=False, soft_wrap=True)
                self._printed.add(key)
            return
        self.lines[key] = text
        if self._live is None:
            self._live = Live(console=self.console, auto_refresh=False, transient=True)
            self._live.start()
        self._live.update(Group(*(Text(line) for line in self.lines.values())), refresh=True)

    def end(self, key: str, text: str | None) -> None:
        """The line's last word, printed for good (the live line goes away)."""
        self.lines.pop(key, None)
        self._printed.discard(key)
        if text is not None:
            self.console.print(text, markup=False, highlight=False, soft_wrap=True)
        if self._live is not None:
            if self.lines:
                self._live.update(Group(*(Text(line) for line in self.lines.values())), refresh=True)
            else:
                self._live.stop()
                self._live = None

    def close(self) -> None:
        for key in list(self.lines):
            self.end(key, None)


class PhoneScreen:
    """Prints what the Telegram bot would send, and plays the owner's taps on plans."""

    def __init__(self, console: Console, approve: Callable[[int, int], Awaitable[object]]) -> None:
        self.console = console
        self.live = LiveLines(console)
        self.approve = approve
        self.sent: list[Notification] = []
        self.forward: Notifier | None = None
        """The outbox of a configured Telegram bot: the same messages then reach the phone."""

    def show(self, title: str, body: str, buttons: list[str]) -> None:
        self.console.print(panel(title, body, buttons))

    def tap(self, what: str) -> None:
        self.console.print(f"   👆 you tap {what}", style="bold green", highlight=False, soft_wrap=True)

    async def notify(self, note: Notification) -> None:
        self.sent.append(note)
        if self.forward is not None:
            await self.forward.notify(note)
        if note.kind == "run_progress" and note.key:
            head, *rest = note.text.splitlines()
            line = f"   {head} · {rest[0]}" if rest else f"   {head}"
            if note.data.get("final"):
                self.live.end(note.key, line)
            else:
                self.live.set(note.key, line + f"   [{STOP_BUTTON}]")
            return
        body = note.text + (f"\n📈 chart: {note.photo}" if note.photo else "")
        self.show(note.kind, body, contract_buttons(note))
        if note.kind == "plan_ready" and note.task_id is not None:
            version = int(note.data.get("version", 1))
            self.tap(f"[✅ Approve] on plan v{version} of task {note.task_id}")
            await self.approve(note.task_id, version)


# --- the owner's side of the phone, played by the demo ----------------------------------------

FIX_TEXT = "Fix the flaky login test\nThe fixture leaks a session between tests; make it close it."


async def queue_from_phone(phone: PhoneScreen, service: Service) -> Task:
    """Plain text becomes a draft with its four buttons; the owner taps Queue."""
    phone.console.print(f"   ✍️  you send: {FIX_TEXT.splitlines()[0]} …", highlight=False, soft_wrap=True)
    draft = await service.capture.create(FIX_TEXT)
    repo = f"repo {draft.repo}" if draft.repo else "no repo"
    phone.show("draft", f"📝 Draft d{draft.id}: {FIX_TEXT.splitlines()[0]}\n{repo}; a plan comes first"
                        f"\n\n{FIX_TEXT}", list(DRAFT_BUTTONS))
    phone.tap("[Queue]")
    task = await service.capture.queue(draft.id)
    phone.show("queued", f"Queued #{task.id} {task.title}", ["✖ Cancel", "↻ Retry", "📜 Logs"])
    return task


async def add_from_phone(phone: PhoneScreen, service: Service, command: str, text: str,
                         **options: Any) -> Task:
    """`/add` with options, as typed on the phone (repos by alias, as the phone must)."""
    phone.console.print(f"   ✍️  you send: {command} {text}", highlight=False, soft_wrap=True)
    return await service.add(text, source="telegram", **options)


async def morning_review(phone: PhoneScreen, service: Service, task_id: int) -> None:
    """The owner taps Diff, then Merge, on the finished task's message."""
    from core import review
    from core.errors import UserError

    task = await service.get(task_id)
    if task.state is not TaskState.DONE:
        phone.console.print(f"   (task #{task_id} is {task.state.value}: nothing to review)", highlight=False)
        return
    phone.tap(f"[Diff] on task #{task_id}")
    try:
        found = await review.patch(service, task_id)
    except UserError as exc:
        phone.show("diff", exc.message, [])
        return
    head = "\n".join(found.head.splitlines()[:14])
    phone.show("diff", f"Diff of #{task_id} (the whole patch: {found.path.name})\n{head}", [])
    phone.tap(f"[Merge] on task #{task_id}")
    try:
        merged = await review.merge(service, task_id)
    except UserError as exc:  # refused, with the reason: that is the point of the button
        merged = f"Not merged: {exc.message}"
    phone.show("merge", merged, [])
