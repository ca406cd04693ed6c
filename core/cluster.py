"""This machine's daemon as one node of a queue shared by several machines.

The daemon calls `beat()` on its heartbeat interval: the node says it is alive, re-registers
if another node forgot it, and takes back into the queue what nodes whose heartbeat stopped
were holding. It claims with `claim_scope()` so it only takes tasks in repositories it has,
and sends notifications only while `holds(SENDER_LEASE)` says it is the one sender. On the
embedded SQLite store there is one daemon; the same calls then always find it alone.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from core.abc import Clock
from core.log import event
from core.models import Task
from core.store.nodes import Node, TakenOver
from core.store.store import Store

SENDER_LEASE = "notification-sender"


def repos_here(paths: Iterable[Path]) -> tuple[str, ...]:
    """The configured repository paths that exist on this machine, as tasks name them."""
    found = []
    for path in paths:
        expanded = path.expanduser()
        if expanded.is_dir():
            found.append(str(expanded.resolve()))
    return tuple(sorted(set(found)))


@dataclass
class NodeAgent:
    store: Store
    name: str
    clock: Clock
    stale_after: timedelta
    accounts: tuple[str, ...] = ()
    repos: tuple[str, ...] | None = None
    """Repositories this machine has; None: any (one machine holds them all)."""
    leaving: bool = False
    """Set by `leave`: a heartbeat still in flight must not register the node again."""
    shared: bool = False
    """Other machines' daemons may work on the same queue (PostgreSQL). Alone (SQLite), every
    task is this daemon's, whatever node name an earlier start wrote on it."""

    def mine(self, task: Task) -> bool:
        """Is `task` this daemon's to follow, recover, tidy or resume? Never another machine's:
        its tmux sessions, run logs and Claude sessions live there."""
        return not self.shared or task.node == self.name

    def has_repo(self, task: Task) -> bool:
        """Can `task` run on this machine (its repository is here, or it has none)?"""
        return self.repos is None or task.repo is None or task.repo in self.repos

    async def join(self) -> Node:
        now = self.clock()
        node = Node(
            name=self.name, host=socket.gethostname(), pid=os.getpid(), started_at=now,
            heartbeat_at=now, accounts=self.accounts, repos=self.repos or (),
        )
        await self.store.nodes.register(node)
        event("node joined", logger="cluster", node=self.name, repos=len(node.repos))
        return node

    async def beat(self) -> list[TakenOver]:
        """Heartbeat, then take over what stopped nodes held; returns what was taken."""
        now = self.clock()
        if not await self.store.nodes.heartbeat(self.name, now) and not self.leaving:
            await self.join()
        taken = await self.store.nodes.take_over(self.name, now, self.stale_after)
        for item in taken:
            event("task taken over from a stopped node", logging.WARNING, logger="cluster",
                  task=item.task_id, from_node=item.from_node, state=item.state.value)
        return taken

    async def holds(self, lease: str = SENDER_LEASE) -> bool:
        return await self.store.nodes.acquire(lease, self.name, self.clock(), self.stale_after)

    async def leave(self) -> bool:
        """A clean stop: leave the list, unless runs left alive in tmux (or sessions paused by
        a limit) stay this machine's; then only the lease is given up, and the next start
        adopts them (or, if none comes within the staleness limit, another node takes them)."""
        self.leaving = True
        await self.store.nodes.release(SENDER_LEASE, self.name)
        held = await self.store.nodes.held_by(self.name)
        if held:
            event("node stays registered", logger="cluster", node=self.name, held=held)
            return False
        await self.store.nodes.forget(self.name)
        return True

    def claim_scope(self) -> dict[str, Any]:
        """Keyword arguments for `TaskStore.claim_next`: this node, the repositories it has."""
        return {"node": self.name, "repos": self.repos}
