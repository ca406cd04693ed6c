"""Queue-wide holds for failures of the API itself, not of the work: nothing is spent on them.

- `login`: a run was refused its login (401, "Not logged in"). Every other run would be
  refused too, so nothing starts until the login changes: the fingerprint of Claude Code's
  credentials (file contents, environment tokens; `core.agent.login`) differs from the one
  recorded, which is checked without a single request. `/resume` lifts it by hand.
- `overload`: the API stayed overloaded through the CLI's own retries. The queue backs off
  1, 2, 4 … 30 minutes, longer each time in a row, until a run gets through.

Kept in the queue's pause (KV), so the daemon, the bot and a restarted daemon all see the same
hold; `Service.queue_paused` reports it as the reason the queue does not move, and `/resume`
lifts it like the owner's own pause.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from core.agent.login import login_status
from core.log import event
from core.models import iso, parse_iso
from core.service import QUEUE_PAUSED_KEY
from core.settings import Settings
from core.store.store import Store

OVERLOAD_BACKOFF_S = (60.0, 120.0, 240.0, 480.0, 960.0, 1800.0)
"""Waits after 1, 2, 3 … overloaded runs in a row; the last repeats."""


@dataclass(frozen=True, slots=True)
class Hold:
    kind: str  # login | overload
    reason: str
    since: datetime
    until: datetime | None = None
    """The end of an overload back-off; a login hold has none (it waits for a new login)."""
    fingerprint: str = ""
    count: int = 1
    """Overloaded runs in a row (the back-off grows with it)."""

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "reason": self.reason, "since": iso(self.since),
                "until": iso(self.until), "fingerprint": self.fingerprint, "count": self.count}

    @classmethod
    def from_json(cls, data: Any) -> Hold | None:
        if not isinstance(data, Mapping):
            return None
        try:
            since = parse_iso(data.get("since"))
            until = parse_iso(data.get("until"))
            count = int(data.get("count") or 1)
        except (TypeError, ValueError):
            return None
        if since is None:
            return None
        return cls(str(data.get("kind", "")), str(data.get("reason", "")), since, until,
                   str(data.get("fingerprint", "")), max(1, count))


def overload_backoff(count: int) -> timedelta:
    """The wait after `count` overloaded runs in a row (1 → 1 min, 2 → 2 min, … at most 30)."""
    index = min(max(count, 1), len(OVERLOAD_BACKOFF_S)) - 1
    return timedelta(seconds=OVERLOAD_BACKOFF_S[index])


def login_fingerprint(settings: Settings, now: datetime, env: Mapping[str, str] | None = None) -> str:
    """The fingerprint of the login this process would hand the CLI (see `core.agent.login`)."""
    return login_status(settings.claude_config_dir, Path.home(), os.environ if env is None else env,
                        now).fingerprint


def _hold(value: Any) -> Hold | None:
    """The hold stored in the queue's pause, or None for the owner's own pause (or none)."""
    return Hold.from_json(value) if isinstance(value, Mapping) and value.get("hold") else None


def _stored(hold: Hold) -> dict[str, Any]:
    return {**hold.as_json(), "hold": hold.kind, "at": iso(hold.since)}


async def hold_for_login(store: Store, fingerprint: str, reason: str, now: datetime) -> bool:
    """Hold the queue until the login changes; True when this started the hold (tell the owner).

    The owner's own pause stays as it is (they decide when to go on)."""
    value = await store.kv.get(QUEUE_PAUSED_KEY)
    current = _hold(value)
    if current is not None and current.kind == "login" and current.fingerprint == fingerprint:
        return False
    if value and current is None:
        return True  # paused by the owner: keep their pause, but they should still hear why
    await store.kv.set(QUEUE_PAUSED_KEY, _stored(Hold("login", reason, now, None, fingerprint)))
    event("queue held", logging.WARNING, logger="holds", hold="login", reason=reason)
    return True


async def hold_for_overload(store: Store, reason: str, now: datetime) -> Hold:
    """Back the queue off once more: each overloaded run in a row doubles the wait. A login hold
    or the owner's pause is stronger and stays; the back-off is returned for the task anyway."""
    value = await store.kv.get(QUEUE_PAUSED_KEY)
    previous = _hold(value)
    count = previous.count + 1 if previous is not None and previous.kind == "overload" else 1
    hold = Hold("overload", reason, now, now + overload_backoff(count), count=count)
    if not value or (previous is not None and previous.kind == "overload"):
        await store.kv.set(QUEUE_PAUSED_KEY, _stored(hold))
        event("queue held", logging.WARNING, logger="holds", hold="overload", reason=reason,
              until=iso(hold.until), in_a_row=count)
    return hold


async def clear_overload(store: Store) -> None:
    """A run got through: the next overload starts the back-off from one minute again."""
    hold = _hold(await store.kv.get(QUEUE_PAUSED_KEY))
    if hold is not None and hold.kind == "overload":
        await store.kv.delete(QUEUE_PAUSED_KEY)


async def active_hold(store: Store, settings: Settings, now: datetime,
                      env: Mapping[str, str] | None = None) -> Hold | None:
    """The hold that keeps the queue still now, if any (the owner's pause is not a hold).

    A login hold whose credentials changed since it started is lifted here: the owner logged
    in again (or replaced the token), and the next run will show whether that worked.
    """
    return await settle(store, settings, _hold(await store.kv.get(QUEUE_PAUSED_KEY)), now, env)


async def settle(store: Store, settings: Settings, hold: Hold | None, now: datetime,
                 env: Mapping[str, str] | None = None) -> Hold | None:
    """`hold` if it still holds at `now`; a login hold lifted by a new login is removed."""
    if hold is None:
        return None
    if hold.kind == "login":
        if login_fingerprint(settings, now, env) == hold.fingerprint:
            return hold
        await store.kv.delete(QUEUE_PAUSED_KEY)
        event("queue hold lifted", logger="holds", hold="login", reason="Claude Code's credentials changed")
        return None
    return hold if hold.until is not None and hold.until > now else None
