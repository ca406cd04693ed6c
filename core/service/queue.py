"""The queue's pause: the owner's `/pause` and `/resume`, and why nothing new starts.

One key holds both the owner's pause and an API hold written by `core.execution.holds` (not
logged in, overloaded), so the dispatcher's check stays one read and `/resume` lifts either.
"""

from __future__ import annotations

from core.service.context import ServiceContext

QUEUE_PAUSED_KEY = "queue_paused"
"""The queue's pause: the owner's (`/pause`), or an API hold (`core.execution.holds`). One key,
so that the dispatcher's check stays one read."""


class QueueControl:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.kv = ctx.store.kv

    async def pause_queue(self, reason: str = "paused by the owner") -> None:
        await self.kv.set(QUEUE_PAUSED_KEY, {"reason": reason, "at": self.ctx.now().isoformat()})
        await self.ctx.audit("queue_paused", reason=reason)  # so `brain/logs` has it too
        self.ctx.changed("queue_paused")

    async def resume_queue(self) -> None:
        """The owner says go: lifts their pause, or an API hold (not logged in, overloaded)."""
        await self.kv.delete(QUEUE_PAUSED_KEY)
        await self.ctx.audit("queue_resumed")
        self.ctx.changed("queue_resumed")

    async def queue_paused(self) -> str | None:
        """Why nothing new starts: the owner's pause, or an API hold (`core.execution.holds`)."""
        value = await self.kv.get(QUEUE_PAUSED_KEY)
        if not value:
            return None
        if not value.get("hold"):
            return str(value["reason"])
        from core.execution.holds import Hold, settle  # holds imports this module's key

        hold = await settle(self.ctx.store, self.ctx.settings, Hold.from_json(value), self.ctx.now())
        if hold is None:
            return None
        if hold.kind == "login":
            return f"waiting for Claude Code's login: {hold.reason}"
        return f"the API is overloaded; backing off until {hold.until.isoformat() if hold.until else '?'}"
