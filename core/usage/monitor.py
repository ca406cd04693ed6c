"""One answer to "may we run now, and until when?" from every source nightshift has.

Precedence (DESIGN, usage windows), most authoritative first:
1. `stream`: what our own runs saw (a rejected `rate_limit_event`, a 429 result), reported
   through `note_limit` and kept in the store's KV so a restart still knows it;
2. `message`: a limit message (passed to `note_limit`, or Claude Code's synthetic limit
   line in the local logs, which also catches limits the owner hit interactively);
3. `endpoint`: the subscription usage endpoint (utilization and reset times);
4. `logs`: ccusage's 5-hour blocks over the local logs (window start, tokens, burn rate,
   projection, capacity as the largest finished block).
A limit with a reset time in the past is over. Several limits at once (session and weekly)
keep the queue paused until the last of them resets.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.models import iso, parse_iso
from core.settings import Settings
from core.store.store import Store
from core.usage.blocks import Block, from_ms, to_ms
from core.usage.config import UsageConfig
from core.usage.endpoint import EndpointReading, UsageEndpoint, credentials_paths
from core.usage.index import LimitLine, UsageIndex
from core.usage.index_worker import IndexWorker
from core.usage.limits import LimitHit, parse_limit_message
from core.usage.rate_limit_event import RateLimitInfo
from core.usage.report import BlockView
from core.usage.scanner import ScanReport
from core.usage.state import WINDOW_KINDS, LimitState, Noted, WindowView, for_people
from core.usage.tree import ProgressHook

__all__ = ["LimitState", "UsageMonitor", "WindowView"]

LIMITS_KEY = "usage.limits"
RATE_KEY = "usage.rate_info"
STREAM_SOURCES = frozenset({"stream", "result", "rate_limit_event", "executor", "daemon"})


def rate_from_json(value: Any) -> RateLimitInfo | None:
    if not isinstance(value, dict):
        return None
    utilization = value.get("utilization")
    return RateLimitInfo(str(value.get("status", "")), parse_iso(value.get("resets_at")),
                         str(value.get("window", "")),
                         float(utilization) if isinstance(utilization, int | float) else None,
                         bool(value.get("warning", False)))


async def record_rate_info(store: Store, info: RateLimitInfo, now: datetime,
                           kv_scope: str = "") -> LimitHit | None:
    """Keep a run's `rate_limit_event` where every monitor reads it; the limit it reports, if any.

    An event that let a call through also ends the limits noted for its window: the window
    is open again. The executor calls this as its runs see events (utilization, warnings),
    so the daemon's picture of the window follows the runs without a log scan. `kv_scope` is
    the run's account's (`Account.kv_scope`): each account has its own windows.
    """
    await store.kv.set(RATE_KEY + kv_scope, {
        "status": info.status, "resets_at": iso(info.resets_at), "window": info.window,
        "utilization": info.utilization, "warning": info.warning, "noted_at": iso(now)})
    hit = info.as_hit(now)
    if hit is None:
        raw = await store.kv.get(LIMITS_KEY + kv_scope, {})
        noted = raw if isinstance(raw, dict) else {}
        over = {info.kind, "unknown"} if info.kind == "session" else {info.kind}
        kept = {}
        for kind, data in noted.items():
            item = Noted.from_json(data)
            if kind not in over or (item is not None and item.noted_at > now):
                kept[kind] = data
        if kept != noted:
            await store.kv.set(LIMITS_KEY + kv_scope, kept)
    return hit


@dataclass
class _Logs:
    """What the last look at the logs found."""

    view: BlockView | None = None
    limit_line: LimitLine | None = None
    report: ScanReport | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class UsageMonitor:
    def __init__(self, settings: Settings, store: Store, *, endpoint: UsageEndpoint | None = None,
                 kv_scope: str = "", config: UsageConfig | None = None) -> None:
        self.settings = settings
        self.store = store
        self._kv_scope = kv_scope
        self._limits_key, self._rate_key = LIMITS_KEY + kv_scope, RATE_KEY + kv_scope
        """Whose limits: each account's (and, on a shared queue, each machine's) are its own."""
        self.config = config or UsageConfig.from_settings(settings)
        self.endpoint = endpoint or UsageEndpoint(
            settings.usage_api_base_url,
            credentials_paths(settings.claude_config_dir, Path.home()),
            enabled=settings.usage_api,
            cache_s=max(60.0, settings.usage_refresh_s),
        )
        self.worker = IndexWorker(self.config)
        """The scanner's connection and the watch on the log files (the daemon's
        `usage blocks` answers use it too: core.usage.serve)."""
        self._lock = asyncio.Lock()
        self._logs = _Logs()
        self._noted: dict[str, Noted] | None = None
        self._rate: RateLimitInfo | None = None
        self._last: LimitState | None = None

    @property
    def last_state(self) -> LimitState | None:
        """The state the last `refresh` or `state` call combined (None before one)."""
        return self._last

    @property
    def last_scan(self) -> ScanReport | None:
        """What the last `refresh` read (None before one)."""
        return self._logs.report

    # --- the sources ------------------------------------------------------------------------

    def _look(self, index: UsageIndex, now_ms: int, scan: bool, progress: ProgressHook | None) -> _Logs:
        report = self.worker.scan(index, progress) if scan else None
        return _Logs(index.blocks(now_ms, bodies=False), index.latest_limit_line(), report)

    async def _load_noted(self) -> dict[str, Noted]:
        """Noted limits and the last rate-limit event, read from the store every time: the
        executor records events as its runs see them (`record_rate_info`), in any process."""
        raw = await self.store.kv.get(self._limits_key, {})
        noted = {}
        for kind, data in (raw.items() if isinstance(raw, dict) else ()):
            item = Noted.from_json(data)
            if item is not None:
                noted[kind] = item
        self._noted = noted
        self._rate = rate_from_json(await self.store.kv.get(self._rate_key))
        return self._noted

    # --- the API the daemon and the executor use -------------------------------------------

    async def refresh(self, now: datetime, progress: ProgressHook | None = None) -> LimitState:
        """Scan the logs (incrementally), read the endpoint if its cache ran out, combine."""
        async with self._lock:
            now_ms = to_ms(now)
            self._logs = await self.worker.run(lambda index: self._look(index, now_ms, True, progress))
            await self.endpoint.read(now)
            return await self._combine(now)

    async def state(self, now: datetime) -> LimitState:
        """The combined state from what is known, without scanning or fetching."""
        async with self._lock:
            if self._logs.view is None:
                now_ms = to_ms(now)
                self._logs = await self.worker.run(lambda index: self._look(index, now_ms, False, None))
            return await self._combine(now)

    async def note_limit(self, hit_or_info: LimitHit | RateLimitInfo, source: str, now: datetime) -> None:
        """Record a limit (or a rate-limit event) seen in a run; it survives a restart."""
        async with self._lock:
            noted = await self._load_noted()
            if isinstance(hit_or_info, RateLimitInfo):
                self._rate = hit_or_info
                hit = await record_rate_info(self.store, hit_or_info, now, self._kv_scope)
                if hit is None:  # a run was let through: the limits of its window are over
                    self._noted = None
                    return
                noted = await self._load_noted()
            else:
                hit = hit_or_info
            resets_at = hit.resets_at
            if hit.estimated and not hit.hard and hit.kind in ("session", "unknown"):
                # a 5-hour guess: the logs' current block ends at a better one
                resets_at = self._better_estimate(now) or resets_at
            noted[hit.kind] = Noted(hit.kind, resets_at.astimezone(UTC), source, hit.text,
                                     hit.estimated, now.astimezone(UTC))
            noted = {k: v for k, v in noted.items() if v.resets_at > now}
            self._noted = noted
            await self.store.kv.set(self._limits_key, {k: v.as_json() for k, v in noted.items()})
            self._last = None

    async def clear_limits(self) -> None:
        """Forget noted limits (the owner says the window is open; a run proved it)."""
        async with self._lock:
            self._noted = {}
            await self.store.kv.set(self._limits_key, {})

    def predict_next_reset(self, now: datetime) -> datetime | None:
        """When the binding window reopens (limited) or the current one resets (not limited)."""
        state = self._last
        if state is not None and state.resets_at is not None and state.resets_at > now:
            return state.resets_at
        candidates: list[datetime] = []
        for item in (self._noted or {}).values():
            if item.resets_at > now:
                candidates.append(item.resets_at)
        if candidates:
            return max(candidates)
        reading = self.endpoint.cached(now) or self.endpoint.reading
        window = reading.window("five_hour") if reading else None
        if window and window.resets_at and window.resets_at > now:
            return window.resets_at
        if self._rate and self._rate.resets_at and self._rate.resets_at > now:
            return self._rate.resets_at
        block = self._logs.view.active if self._logs.view else None
        if block is not None:
            return from_ms(block.end_ms)
        return None

    async def hourly_use(self, since: datetime) -> list[tuple[str, datetime, int]]:
        """Tokens per log file and hour since `since`, from what the scans stored (no scan)."""
        since_ms = int(since.timestamp() * 1000)
        rows = await self.worker.run(lambda index: index.hourly_use(since_ms))
        return [(path, datetime.fromtimestamp(hour / 1000, UTC), tokens) for path, hour, tokens in rows]

    async def close(self) -> None:
        """Close the scanner's connection, after any scan still running on its thread."""
        await self.worker.close()

    # --- combining --------------------------------------------------------------------------

    def _better_estimate(self, now: datetime) -> datetime | None:
        """For a limit without a reset time: the end of the logs' current block, if ahead."""
        view = self._logs.view
        block = view.active if view else None
        if block is not None and from_ms(block.end_ms) > now:
            return from_ms(block.end_ms)
        return None

    async def _combine(self, now: datetime) -> LimitState:
        noted = await self._load_noted()
        sources: dict[str, str] = {}
        view = self._logs.view
        now_ms = to_ms(now)
        active: Block | None = view.active if view else None
        # figures from the logs (source 4)
        window_start = from_ms(active.start_ms) if active else None
        tokens_used = int(active.total_tokens) if active else 0
        rate = active.burn_rate() if active else None
        projection = active.projection(now_ms) if active else None
        largest = int(view.largest_completed()) if view else 0
        capacity: int | None = largest or None
        if active:
            sources.update(window_start="logs", tokens_used="logs")
            if rate:
                sources["burn_rate_per_min"] = "logs"
            if projection:
                sources["projection"] = "logs"
        if self.settings.window_capacity_tokens and not capacity:
            capacity = self.settings.window_capacity_tokens
            sources["capacity_tokens"] = "setting"
        elif capacity:
            sources["capacity_tokens"] = "logs (largest finished block)"
        # limits: our runs and messages (1, 2), the logs' limit line (2), the endpoint (3)
        limits: list[tuple[datetime, str, str, str]] = []  # (resets_at, kind, source, text)
        for item in noted.values():
            if item.resets_at > now:
                source = "stream" if item.source in STREAM_SOURCES else item.source
                limits.append((item.resets_at, item.kind, source, for_people(item.text, item.hard)))
        line = self._logs.limit_line
        if line is not None:
            hit = parse_limit_message(line.text, from_ms(line.ts_ms), self.settings.local_tz)
            if hit is not None and (not hit.estimated or hit.hard) and hit.resets_at > now:
                limits.append((hit.resets_at, hit.kind, "message", for_people(hit.text, hit.hard)))
        reading: EndpointReading | None = self.endpoint.cached(now)
        utilization: float | None = None
        window_reset: datetime | None = None
        if reading is not None:
            for name, kind in (("five_hour", "session"), ("seven_day", "weekly"),
                               ("seven_day_opus", "opus"), ("seven_day_sonnet", "sonnet")):
                window = reading.window(name)
                if window and window.utilization >= 100 and window.resets_at and window.resets_at > now:
                    limits.append((window.resets_at, kind, "endpoint", f"{name} at {window.utilization:g}%"))
            five = reading.window("five_hour")
            if five is not None:
                utilization = five.utilization / 100
                sources["utilization"] = "endpoint"
                if five.resets_at and five.resets_at > now:
                    window_reset = five.resets_at
                    sources["resets_at"] = "endpoint"
        stream_rate = self._rate
        warning = None
        if stream_rate is not None and stream_rate.warning and not stream_rate.rejected and \
                (stream_rate.resets_at is None or stream_rate.resets_at > now):
            share = f" {stream_rate.utilization:.0%} used" if stream_rate.utilization is not None else ""
            when = f", resets {iso(stream_rate.resets_at)}" if stream_rate.resets_at else ""
            warning = f"{stream_rate.kind} window nearly used up:{share}{when}"
        if stream_rate and stream_rate.resets_at and stream_rate.resets_at > now and \
                stream_rate.window in ("five_hour", ""):
            if utilization is None and stream_rate.utilization is not None:
                utilization = stream_rate.utilization
                sources["utilization"] = "stream"
            if window_reset is None:
                window_reset = stream_rate.resets_at
                sources["resets_at"] = "stream"
        if utilization is None and capacity and active:
            utilization = min(1.0, tokens_used / capacity)
            sources["utilization"] = "logs (tokens / capacity)"
        if window_reset is None and active:
            window_reset = from_ms(active.end_ms)
            sources["resets_at"] = "logs"
        if limits:
            rank = {"stream": 0, "message": 1, "endpoint": 2}
            resets_at = max(limit[0] for limit in limits)
            binding = min((limit for limit in limits if limit[0] == resets_at),
                          key=lambda limit: rank.get(limit[2], 3))
            sources["limited"] = sources["resets_at"] = binding[2]
            state = LimitState(
                limited=True, kind=binding[1], resets_at=resets_at, utilization=utilization,
                source=binding[2], window_start=window_start, tokens_used=tokens_used,
                burn_rate_per_min=rate.tokens_per_minute if rate else None,
                projection=projection.total_tokens if projection else None,
                capacity_tokens=capacity, sources=tuple(sources.items()), text=binding[3],
                windows=self._windows(noted, reading, now), warning=warning)
        else:
            decided = sources.get("resets_at", "none" if not active else "logs")
            state = LimitState(
                limited=False, kind="session" if (active or window_reset) else None,
                resets_at=window_reset, utilization=utilization,
                source=decided.split(" ")[0] if decided else "none", window_start=window_start,
                tokens_used=tokens_used, burn_rate_per_min=rate.tokens_per_minute if rate else None,
                projection=projection.total_tokens if projection else None,
                capacity_tokens=capacity, sources=tuple(sources.items()),
                windows=self._windows(noted, reading, now), warning=warning)
        self._last = state
        return state

    def _windows(self, noted: dict[str, Noted], reading: EndpointReading | None,
                 now: datetime) -> tuple[WindowView, ...]:
        """The weekly picture: each long window some source knows, limits first.

        A limit noted from our runs or a message says "limited until"; otherwise the endpoint's
        utilization and reset, or the last rate-limit event's for its window.
        """
        found: dict[str, WindowView] = {}
        for item in noted.values():
            if item.kind in ("weekly", "opus", "sonnet") and item.resets_at > now:
                source = "stream" if item.source in STREAM_SOURCES else item.source
                found[item.kind] = WindowView(item.kind, None, item.resets_at, True, source)
        rate = self._rate
        if rate is not None and rate.window in WINDOW_KINDS and rate.window != "five_hour" \
                and rate.resets_at is not None and rate.resets_at > now and rate.kind not in found:
            found[rate.kind] = WindowView(rate.kind, rate.utilization, rate.resets_at, rate.rejected,
                                          "stream")
        if reading is not None:
            for name, kind in WINDOW_KINDS.items():
                window = reading.window(name)
                if kind == "session" or window is None or kind in found:
                    continue
                resets_at = window.resets_at if window.resets_at and window.resets_at > now else None
                found[kind] = WindowView(kind, window.utilization / 100, resets_at,
                                         window.utilization >= 100 and resets_at is not None, "endpoint")
        return tuple(found[kind] for kind in ("weekly", "opus", "sonnet") if kind in found)
