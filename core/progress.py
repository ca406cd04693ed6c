"""Live progress of a run: one message per run, updated in place while it goes.

The executor feeds what its stream parser already knows (turns, tokens, the last tool and
file, the CLI's own retries) and the check's state; this module turns it into a plain-text
`Notification` of kind `run_progress` with a stable `key` per run. The outbox keeps only the
newest undelivered version of a key, and the front edits the message it sent for the key,
so a fast run cannot flood the chat. Updates are spaced `NIGHTSHIFT_PROGRESS_EDIT_S` apart
(Telegram allows about one message or edit per second per chat); the last one, when the run
ends, is always sent. `NIGHTSHIFT_LIVE_PROGRESS=false` turns it all off.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from core.abc import Clock, Notification, Notifier
from core.agent.stream import StreamState
from core.log import event
from core.models import Run, RunKind, Task
from core.settings import Settings

PROGRESS_KIND = "run_progress"
QUIET_FACTOR = 6
"""With nothing new but the clock, the message is refreshed this many intervals apart."""


def progress_key(run_id: int) -> str:
    return f"run:{run_id}"


def clock_text(seconds: float) -> str:
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def token_text(count: int) -> str:
    if count >= 1_000_000:
        return f"{count / 1_000_000:.1f}M"
    if count >= 10_000:
        return f"{count / 1000:.0f}k"
    return f"{count:,}"


@dataclass(frozen=True, slots=True)
class ProgressFacts:
    """Everything one progress message says; `render` is a pure function of it."""

    task_id: int
    title: str
    run_id: int
    iteration: int
    elapsed_s: float
    turns: int = 0
    tokens: int = 0
    last_tool: str | None = None
    last_target: str | None = None
    retries: int = 0
    last_retry_status: int | None = None
    check: str | None = None
    check_state: str | None = None
    """None (not yet), `running`, `passed` or `failed`."""
    outcome: str | None = None
    """Set once the run has ended: the message stops changing."""

    def render(self) -> str:
        head = "⚙️ running" if self.outcome is None else f"■ ended: {self.outcome}"
        lines = [
            f"Task {self.task_id} {head}: {self.title}",
            f"run {self.run_id}, iteration {self.iteration} · {clock_text(self.elapsed_s)} · "
            f"{self.turns} turn{'s' if self.turns != 1 else ''} · {token_text(self.tokens)} tokens",
        ]
        if self.last_tool:
            lines.append(f"last: {self.last_tool}" + (f" {self.last_target}" if self.last_target else ""))
        if self.retries:
            status = f", last {self.last_retry_status}" if self.last_retry_status else ""
            lines.append(f"CLI retries: {self.retries}{status}")
        if self.check:
            lines.append(f"check {self.check}: {self.check_state or 'after the run'}")
        return "\n".join(lines)


class LiveProgress:
    """The live message of one run; the executor calls it, it decides when to speak."""

    def __init__(self, settings: Settings, notifier: Notifier, task: Task, run: Run, *,
                 clock: Clock) -> None:
        self.enabled = settings.live_progress and run.kind is RunKind.WORK
        self.interval = timedelta(seconds=settings.progress_edit_s)
        self.notifier = notifier
        self.clock = clock
        self.started_at = run.started_at or clock()
        self.facts = ProgressFacts(task.id, task.title, run.id, run.iteration, 0.0,
                                   check=task.check_cmd)
        self._sent_at: datetime | None = None
        self._sent_text: str | None = None
        self._shown: ProgressFacts | None = None
        """The facts last sent, the clock left out: news is anything else that changed."""

    def due(self, now: datetime, *, news: bool) -> bool:
        """Pure spacing rule: the first update at once, then at most one per interval; when
        only the clock moved, one per `QUIET_FACTOR` intervals."""
        if self._sent_at is None:
            return True
        wait = self.interval if news else self.interval * QUIET_FACTOR
        return now - self._sent_at >= wait

    async def update(self, state: StreamState) -> None:
        """What the stream says now; sent when due and changed."""
        now = self.clock()
        self.facts = replace(
            self.facts, elapsed_s=(now - self.started_at).total_seconds(), turns=state.turns,
            tokens=state.tokens.total, last_tool=state.last_tool, last_target=state.last_target,
            retries=state.retries, last_retry_status=state.last_retry_status,
        )
        news = replace(self.facts, elapsed_s=0.0) != self._shown
        if self.due(now, news=news):
            await self._send(now)

    async def check(self, check_state: str) -> None:
        """The check started (`running`) or ended (`passed` / `failed`): always worth a line."""
        now = self.clock()
        self.facts = replace(self.facts, check_state=check_state,
                             elapsed_s=(now - self.started_at).total_seconds())
        await self._send(now)

    async def finish(self, outcome: str, ended_at: datetime | None = None,
                     state: StreamState | None = None) -> None:
        """The last version: how the run ended (with the stream's final totals), no Stop button."""
        now = ended_at or self.clock()
        if state is not None:
            self.facts = replace(self.facts, turns=state.turns, tokens=state.tokens.total,
                                 last_tool=state.last_tool, last_target=state.last_target,
                                 retries=state.retries, last_retry_status=state.last_retry_status)
        self.facts = replace(self.facts, outcome=outcome,
                             elapsed_s=(now - self.started_at).total_seconds())
        await self._send(now)

    async def _send(self, now: datetime) -> None:
        if not self.enabled:
            return
        text = self.facts.render()
        if text == self._sent_text:
            return
        note = Notification(
            PROGRESS_KIND, text, task_id=self.facts.task_id, run_id=self.facts.run_id,
            data={"final": self.facts.outcome is not None}, key=progress_key(self.facts.run_id),
        )
        try:
            await self.notifier.notify(note)
        except Exception as exc:  # progress is a courtesy: it never stops a run
            event("live progress not queued", logging.WARNING, logger="progress", run=self.facts.run_id,
                  error=str(exc))
            return
        self._sent_at, self._sent_text = now, text
        self._shown = replace(self.facts, elapsed_s=0.0)
