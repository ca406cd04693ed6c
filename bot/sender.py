"""The one outbox sender: delivers notifications strictly in order, exactly when Telegram lets it.

- 429: wait exactly the `retry_after` Telegram asked for; the whole queue waits with it.
- 5xx, timeouts, connection errors: exponential backoff, the row keeps its place.
- 400/403 (bad message, bot blocked by that user): give that one message up, record why,
  go on — retrying cannot help and would block every later notification.
- A row is marked sent only after Telegram accepted each of its messages; `delivered`
  remembers progress inside a row, so a restart continues where it stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from telegram import Bot
from telegram.error import (
    BadRequest,
    ChatMigrated,
    EndPointNotFound,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.delivery import OutMessage, edit_with_fallback, send_with_fallback
from bot.notifications import expand
from core.abc import Clock
from core.log import event
from core.models import utcnow
from core.store.outbox import OutboxItem, OutboxStore, payload_key

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Delivery timings; tests shrink them so an outage takes milliseconds, not minutes."""

    base_s: float = 2.0
    factor: float = 2.0
    max_s: float = 300.0
    idle_poll_s: float = 5.0
    """How often an idle sender looks for rows written by another process (the CLI)."""

    def backoff_s(self, failures: int) -> float:
        return float(min(self.max_s, self.base_s * self.factor ** max(failures, 0)))


def retry_after_s(exc: RetryAfter) -> float:
    # PTB 22 warns when reading `retry_after` as a number (it will become a timedelta).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class OutboxSender:
    def __init__(
        self,
        outbox: OutboxStore,
        bot: Bot,
        *,
        policy: RetryPolicy | None = None,
        clock: Clock = utcnow,
        sleep: Sleep | None = None,
        redact: Callable[[str], str] = lambda text: text,
        allowed: frozenset[int] | None = None,
    ) -> None:
        self.outbox = outbox
        self.bot = bot
        self.policy = policy or RetryPolicy()
        self.clock = clock
        self.redact = redact
        self.allowed = allowed
        """Chats notifications may still go to: someone taken off the allowlist after a
        notification was written gets nothing more (replies go to the chat asked from)."""
        self._sleep = sleep or self._sleep_until_stopped
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self.idle = asyncio.Event()
        """Set while the outbox is empty (as last seen); cleared by every enqueue."""
        outbox.listeners.append(self.wake)

    def wake(self) -> None:
        self.idle.clear()
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def close(self) -> None:
        with contextlib.suppress(ValueError):
            self.outbox.listeners.remove(self.wake)

    async def _sleep_until_stopped(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=max(seconds, 0.0))

    async def run(self) -> None:
        """Deliver until `stop()`; a message in flight is finished, never cut off."""
        failures = 0
        try:
            while not self._stop.is_set():
                try:
                    await self._step()
                    failures = 0
                except Exception:  # the database or a bug: keep the sender alive, back off
                    event("outbox sender failed", logging.ERROR, logger="bot", exc_info=True)
                    await self._sleep_until_stopped(self.policy.backoff_s(failures))
                    failures += 1
        finally:
            self.close()

    async def _step(self) -> None:
        self._wake.clear()  # before looking, so an enqueue during the look is not missed
        item = await self.outbox.head()
        if item is None:
            self.idle.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.policy.idle_poll_s)
            return
        now = self.clock()
        if not item.due(now):
            assert item.next_attempt_at is not None
            await self._sleep((item.next_attempt_at - now).total_seconds())
            return
        try:
            await self.deliver(item)
        except Exception as exc:  # a bug in one row must not stop every later notification
            event("outbox delivery crashed", logging.ERROR, logger="bot", exc_info=True, outbox=item.id)
            await self._retry_later(item, item.delivered, f"{type(exc).__name__}: {exc}",
                                    self.policy.backoff_s(item.attempts))

    async def deliver(self, item: OutboxItem) -> bool:
        """Send what is left of one row; True if it is now fully sent."""
        try:
            deliveries = expand(item.payload)
        except (KeyError, TypeError, ValueError) as exc:
            # Written by a newer or broken producer: nothing can ever send it; say so and move on.
            event("outbox payload unreadable", logging.ERROR, logger="bot", outbox=item.id, error=str(exc),
                  action="dropped")
            await self.outbox.mark_progress(item.id, item.delivered, error=f"unreadable: {exc}")
            await self.outbox.mark_sent(item.id, delivered=item.delivered, now=self.clock())
            return True
        key = payload_key(item.payload)
        if key is not None:
            return await self._deliver_live(item, deliveries, key)
        done = item.delivered
        is_note = "note" in item.payload
        while done < len(deliveries):
            chat_id, message = deliveries[done]
            if is_note and self.allowed is not None and chat_id not in self.allowed:
                done += 1  # counted as handled, so positions stay stable across restarts
                continue
            try:
                await send_with_fallback(self.bot, chat_id, message)
            except RetryAfter as exc:
                wait_s = retry_after_s(exc)
                await self._retry_later(item, done, f"429 flood control: retry after {wait_s:g}s",
                                        wait_s)
                return False
            except (BadRequest, Forbidden, ChatMigrated, EndPointNotFound) as exc:
                # Permanent for this message: skip it so later notifications are not held hostage.
                error = self.redact(f"{type(exc).__name__}: {exc}")
                event("outbox message refused", logging.WARNING, logger="bot", outbox=item.id,
                      message=done + 1, messages=len(deliveries), error=error)
                done += 1
                await self.outbox.mark_progress(item.id, done, error=error)
                continue
            except (NetworkError, TelegramError) as exc:
                wait_s = self.policy.backoff_s(item.attempts)
                await self._retry_later(item, done, f"{type(exc).__name__}: {exc}", wait_s)
                return False
            done += 1
            if done < len(deliveries):
                await self.outbox.mark_progress(item.id, done)
        await self.outbox.mark_sent(item.id, delivered=done, now=self.clock())
        return True

    async def _deliver_live(self, item: OutboxItem, deliveries: list[tuple[int, OutMessage]],
                            key: str) -> bool:
        """A message updated in place: edit the one sent for `key`, or send it the first time.

        Every chat gets the whole (newest) version each time, so there is no partial progress
        to remember; a version replaced while it was being delivered is delivered again.
        """
        final = bool((item.payload.get("note") or {}).get("data", {}).get("final"))
        for chat_id, message in deliveries:
            if self.allowed is not None and chat_id not in self.allowed:
                continue
            try:
                await self._show_live(chat_id, message, key)
            except RetryAfter as exc:
                wait_s = retry_after_s(exc)
                await self._retry_later(item, item.delivered,
                                        f"429 flood control: retry after {wait_s:g}s", wait_s)
                return False
            except (BadRequest, Forbidden, ChatMigrated, EndPointNotFound) as exc:
                event("outbox live update refused", logging.WARNING, logger="bot", outbox=item.id,
                      error=self.redact(f"{type(exc).__name__}: {exc}"))
            except (NetworkError, TelegramError) as exc:
                await self._retry_later(item, item.delivered, f"{type(exc).__name__}: {exc}",
                                        self.policy.backoff_s(item.attempts))
                return False
            if final:
                await self.outbox.forget_live(key, chat_id)
        return await self.outbox.mark_sent(item.id, delivered=len(deliveries), now=self.clock(),
                                           payload=item.payload)

    async def _show_live(self, chat_id: int, message: OutMessage, key: str) -> None:
        message_id = await self.outbox.live_message(key, chat_id)
        if message_id is not None:
            try:
                await edit_with_fallback(self.bot, chat_id, message_id, message)
                return
            except BadRequest as exc:
                reason = str(exc).lower()
                if "not modified" in reason:
                    return
                if "not found" not in reason and "can't be edited" not in reason:
                    raise
                # Deleted by the owner, or too old to edit: a new message takes its place.
        sent = await send_with_fallback(self.bot, chat_id, message)
        await self.outbox.remember_live(key, chat_id, sent.message_id)

    async def _retry_later(self, item: OutboxItem, done: int, error: str, wait_s: float) -> None:
        error = self.redact(error)
        event("outbox delivery failed", logging.WARNING, logger="bot", outbox=item.id,
              attempt=item.attempts + 1, error=error, retry_in_s=round(wait_s, 3))
        if done != item.delivered:
            await self.outbox.mark_progress(item.id, done)
        await self.outbox.record_failure(
            item.id, error, next_attempt_at=self.clock() + timedelta(seconds=wait_s)
        )
