"""Priming: at an owner's priming time with no window open, start one with a minimal prompt.

A 5-hour window starts with the first call; opening it early (before the owner's day
starts) makes it reset earlier. The call is the cheapest there is: a one-turn prompt on the
smallest model, read-only. A limit it meets pauses the queue like any run's.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Awaitable, Callable
from datetime import datetime, time

from core.agent.argv import ClaudeCall, build_command
from core.agent.stream import StreamState
from core.childenv import child_env
from core.daemon.gate import LimitGate
from core.daemon.seams import DaemonStats
from core.daemon.usage import UsageWatch
from core.daemon.wake import Doorbell
from core.log import event
from core.models import iso, parse_iso
from core.scheduling.priming import PRIME_MODEL, PRIME_PROMPT, prime_decision
from core.scheduling.workhours import DUE_FOR, due_prime, parse_work_hours, planned_primes
from core.settings import Settings
from core.store.db import ensure_private_dir
from core.store.store import Store

LAST_PRIMED_KEY = "last_primed_at"
PRIME_TIMEOUT_S = 120.0


class Primer:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        usage: UsageWatch,
        gate: LimitGate,
        doorbell: Doorbell,
        stats: DaemonStats,
        clock: Callable[[], datetime],
        busy: Callable[[], bool],
        account_env: dict[str, str] | None = None,
        key: str = LAST_PRIMED_KEY,
        learned_start: Callable[[datetime], Awaitable[time | None]] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.usage = usage
        self.gate = gate
        self.doorbell = doorbell
        self.stats = stats
        self.clock = clock
        self.busy = busy
        """True while a run is in flight: it keeps the window open by itself."""
        self.account_env = dict(account_env or {})
        """The primed account's CLAUDE_CONFIG_DIR (NIGHTSHIFT_ACCOUNTS: one primer per account)."""
        self.key = key
        """When this account was last primed (each account's window opens on its own)."""
        self.learned_start = learned_start
        """When the owner's day starts, learned from their use: used without work hours."""

    async def prime_for_work(self) -> None:
        """The `work-prime` job: a fresh window should open as the owner starts work."""
        now = self.clock()
        work = parse_work_hours(self.settings.work_hours)
        learned = None if work is not None or self.learned_start is None else await self.learned_start(now)
        due = due_prime(now, planned_primes(now - DUE_FOR, prime_at=(), work=work,
                                            learned_start=learned, tz=self.settings.local_tz))
        if due is not None:
            event("work-hours prime due", at=iso(due.at), reason=due.reason)
            await self.prime()

    async def prime(self) -> None:
        """The `prime-HHMM` job."""
        now = self.clock()
        if self.doorbell.stopping:
            return
        if self.usage.monitor is None:
            event("priming skipped", reason="no usage monitor to tell whether a window is open")
            return
        state = await self.usage.refresh(now)
        assert state is not None
        last = parse_iso(await self.store.kv.get(self.key))
        decision = prime_decision(
            now, window_start=state.window_start, limited=state.limited, last_primed_at=last
        )
        if not decision.prime or self.busy():
            event("priming skipped", reason=decision.reason if not decision.prime else "a run is in progress")
            return
        await self.store.kv.set(self.key, iso(now))
        self.stats.primes += 1
        await self._send()

    async def _send(self) -> None:
        settings = self.settings
        if shutil.which(settings.claude_bin) is None:
            event("priming skipped", logging.WARNING, reason=f"{settings.claude_bin} not found")
            return
        command = build_command(
            settings, ClaudeCall(prompt=PRIME_PROMPT, model=PRIME_MODEL, max_turns=1, permission_mode="plan")
        )
        home = ensure_private_dir(settings.home_dir)
        event("priming the window", model=PRIME_MODEL)
        proc = await asyncio.create_subprocess_exec(
            *command.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            cwd=home,
            env={**child_env(self.settings.pass_env), **self.account_env},
        )
        stream = StreamState()
        try:
            async with asyncio.timeout(PRIME_TIMEOUT_S):
                assert proc.stdout is not None
                async for line in proc.stdout:
                    stream.feed(line)
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()
        hit = stream.limit_hit(self.clock(), settings.local_tz)
        if hit is not None:
            await self.gate.apply_limit(hit.resets_at, self.clock(), kind=hit.kind, source="prime")
        event("primed", exit_code=proc.returncode, limited=hit is not None, tokens=stream.tokens.total)
