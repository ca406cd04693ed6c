"""This daemon as one node of a queue: its heartbeat, and the fronts only one node runs at a time.

On PostgreSQL several machines' daemons share the queue. Each beats a heartbeat (the
`heartbeat` job); a beat also takes back into the queue what stopped nodes held, and a task
taken over rings the doorbell so it starts here at once. The fronts that talk to the owner
(the Telegram bot: its polling and its outbox sender) run only on the holder of the sender
lease: one bot token polled by two machines is refused by Telegram, and a notification must
go out once. The lease passes on when its holder's heartbeat stops, and the next beat here
starts the fronts. Alone on SQLite the daemon always holds it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AsyncExitStack

from core.cluster import NodeAgent
from core.daemon.seams import FrontFactory
from core.daemon.wake import Doorbell
from core.errors import StoreError
from core.log import event


class LeasedFronts:
    """The daemon's fronts, entered while this node holds the sender lease, left when it loses it."""

    def __init__(self, fronts: Sequence[FrontFactory], node: NodeAgent) -> None:
        self.fronts = tuple(fronts)
        self.node = node
        self._stack: AsyncExitStack | None = None

    @property
    def running(self) -> bool:
        return self._stack is not None

    async def sync(self) -> None:
        """Enter the fronts if this node holds the lease, leave them if it lost it.

        A front that fails to start raises (at start-up the daemon stops with its message;
        from the heartbeat it is logged and tried again on the next beat)."""
        if not self.fronts:
            return
        try:
            holds = await self.node.holds()
        except StoreError as exc:  # the database is busy or away: the next beat asks again
            event("sender lease not checked", logging.WARNING, node=self.node.name, error=str(exc))
            return
        if holds and self._stack is None:
            stack = AsyncExitStack()
            try:
                for front in self.fronts:
                    await stack.enter_async_context(front())
            except BaseException:
                await stack.aclose()
                raise
            self._stack = stack
            event("fronts started", node=self.node.name, fronts=len(self.fronts))
        elif not holds and self._stack is not None:
            event("fronts stopped", logging.WARNING, node=self.node.name,
                  reason="another node holds the sender lease")
            await self.close()

    async def close(self) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()


class Heartbeat:
    """The `heartbeat` job: alive, take over, the lease. A failure (the database is away) is
    one log line; the next beat tries again, and a node gone long enough is taken over."""

    def __init__(self, node: NodeAgent, fronts: LeasedFronts, doorbell: Doorbell) -> None:
        self.node = node
        self.fronts = fronts
        self.doorbell = doorbell
        self.taken: list[int] = []
        """Tasks this node took over from stopped nodes (for tests and `--burst`)."""

    async def beat(self) -> None:
        try:
            taken = await self.node.beat()
        except Exception as exc:
            event("heartbeat failed", logging.WARNING, node=self.node.name, error=repr(exc))
            return
        if taken:
            self.taken += [item.task_id for item in taken]
            self.doorbell.ring("taken over")
        try:
            await self.fronts.sync()
        except Exception as exc:
            event("fronts not started", logging.ERROR, node=self.node.name, error=repr(exc))

    async def leave(self) -> None:
        try:
            left = await self.node.leave()
        except Exception as exc:
            event("node not left", logging.WARNING, node=self.node.name, error=repr(exc))
            return
        event("node left" if left else "node stays registered", node=self.node.name)
