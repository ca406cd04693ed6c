"""The subscription usage endpoint Claude Code reads for `/usage` (optional source 3).

Undocumented and rate-limited (reference section 5): it is read rarely (at most once per
`cache_s`, and not again for a while after a 429), with the OAuth token Claude Code keeps in
`.credentials.json`. The token is read fresh for each request (Claude Code refreshes it),
sent only in the Authorization header, and never logged, stored or put in an error
message. Any failure leaves the caller with `None` and a `status` saying why, and the
monitor carries on with the other sources.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

USAGE_PATH = "/api/oauth/usage"
BETA_HEADER = "oauth-2025-04-20"
WINDOWS = ("five_hour", "seven_day", "seven_day_sonnet", "seven_day_opus")
RATE_LIMIT_BACKOFF_S = 600.0
"""After a 429 the endpoint is left alone this long (or as long as Retry-After says)."""


@dataclass(frozen=True)
class WindowUsage:
    name: str
    utilization: float
    """Percent used, 0..100, as the endpoint reports it."""
    resets_at: datetime | None


@dataclass(frozen=True)
class EndpointReading:
    fetched_at: datetime
    windows: dict[str, WindowUsage]

    def window(self, name: str) -> WindowUsage | None:
        return self.windows.get(name)


@dataclass(frozen=True)
class EndpointStatus:
    state: str
    """ok | off | no_credentials | unauthorized | rate_limited | unreachable | error"""
    detail: str
    at: datetime | None = None

    @property
    def degraded(self) -> bool:
        return self.state in ("unauthorized", "rate_limited", "unreachable", "error")

    def as_json(self) -> dict[str, Any]:
        return {"state": self.state, "detail": self.detail,
                "at": self.at.isoformat() if self.at else None}


def credentials_paths(config_dirs: Sequence[Path], home: Path) -> list[Path]:
    """Where Claude Code keeps its login: each configured config dir, then `~/.claude`."""
    paths = [Path(d).expanduser() / ".credentials.json" for d in config_dirs]
    paths.append(home / ".claude" / ".credentials.json")
    return list(dict.fromkeys(paths))


def read_token(paths: Sequence[Path]) -> str | None:
    """`claudeAiOauth.accessToken` from the first readable credentials file."""
    for path in paths:
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        oauth = data.get("claudeAiOauth") if isinstance(data, dict) else None
        token = oauth.get("accessToken") if isinstance(oauth, dict) else None
        if isinstance(token, str) and token.strip():
            return token.strip()
    return None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_reading(body: Any, fetched_at: datetime) -> EndpointReading:
    windows: dict[str, WindowUsage] = {}
    if isinstance(body, dict):
        for name in WINDOWS:
            item = body.get(name)
            if not isinstance(item, dict):
                continue
            value = item.get("utilization")
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                continue
            windows[name] = WindowUsage(name, float(value), _parse_time(item.get("resets_at")))
    return EndpointReading(fetched_at, windows)


class UsageEndpoint:
    def __init__(
        self,
        base_url: str,
        credentials: Sequence[Path],
        *,
        enabled: bool = True,
        cache_s: float = 60.0,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.credentials = list(credentials)
        self.enabled = enabled
        self.cache_s = max(60.0, cache_s)
        self.timeout_s = timeout_s
        self.transport = transport
        self.reading: EndpointReading | None = None
        self.status = EndpointStatus("off", "not read yet") if enabled else \
            EndpointStatus("off", "disabled (NIGHTSHIFT_USAGE_API=false)")
        self._next_attempt: datetime | None = None

    def cached(self, now: datetime) -> EndpointReading | None:
        """The last reading if it is still fresh (younger than the cache period)."""
        if self.reading is not None and now - self.reading.fetched_at < timedelta(seconds=self.cache_s):
            return self.reading
        return None

    async def read(self, now: datetime) -> EndpointReading | None:
        """A reading at most `cache_s` old, fetching only when the cache ran out."""
        if not self.enabled:
            return None
        fresh = self.cached(now)
        if fresh is not None:
            return fresh
        if self._next_attempt is not None and now < self._next_attempt:
            return None
        self._next_attempt = now + timedelta(seconds=self.cache_s)
        token = read_token(self.credentials)
        if token is None:
            self.status = EndpointStatus("no_credentials", "no Claude login found (.credentials.json)", now)
            return None
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s, transport=self.transport) as client:
                response = await client.get(
                    self.base_url + USAGE_PATH,
                    headers={"Authorization": f"Bearer {token}", "anthropic-beta": BETA_HEADER,
                             "Accept": "application/json"},
                )
        except httpx.HTTPError as exc:
            self.status = EndpointStatus("unreachable", f"{type(exc).__name__}; using the logs instead", now)
            return None
        if response.status_code in (401, 403):
            self.status = EndpointStatus(
                "unauthorized", f"HTTP {response.status_code}: the Claude login was refused "
                "(run `claude` once to log in again); using the logs instead", now)
            return None
        if response.status_code == 429:
            wait_s = _retry_after(response.headers.get("retry-after"))
            self._next_attempt = now + timedelta(seconds=max(wait_s or 0.0, RATE_LIMIT_BACKOFF_S))
            self.status = EndpointStatus("rate_limited", "HTTP 429: asked too often; using the logs "
                                         f"until {self._next_attempt:%H:%M} UTC", now)
            return None
        if response.status_code != 200:
            self.status = EndpointStatus("error", f"HTTP {response.status_code}; using the logs instead", now)
            return None
        try:
            body = response.json()
        except ValueError:
            self.status = EndpointStatus("error", "the answer was not JSON; using the logs instead", now)
            return None
        self.reading = parse_reading(body, now)
        if not self.reading.windows:
            self.status = EndpointStatus("error", "the answer had no usage windows", now)
            return None
        self.status = EndpointStatus("ok", "read", now)
        return self.reading


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def endpoint_check(base_url: str, credentials: Sequence[Path], enabled: bool,
                   now: datetime | None = None) -> tuple[bool, str, str]:
    """(ok, detail, fix) for `doctor`: one real request; never shows the token.

    The endpoint is optional, so only a refused login (which the owner can fix) is a
    failure; a 429 or an unreachable host is reported as degraded (the logs take over).
    """
    import asyncio

    if not enabled:
        return True, "off (NIGHTSHIFT_USAGE_API=false): the logs are used", ""
    client = UsageEndpoint(base_url, credentials, timeout_s=5.0)
    when = now or datetime.now(UTC)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        reading = asyncio.run(client.read(when))
    else:  # called from async code: run the request on a thread with its own loop
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=1) as pool:
            reading = pool.submit(asyncio.run, client.read(when)).result()
    status = client.status
    if reading is not None:
        parts = [f"{name} {window.utilization:g}%" for name, window in reading.windows.items()]
        return True, "ok: " + ", ".join(parts), ""
    if status.state == "no_credentials":
        return True, "off: no Claude login file found; the logs are used", ""
    if status.state == "unauthorized":
        return False, f"degraded: {status.detail}", "run `claude` once and log in again (/login)"
    return True, f"degraded: {status.detail}", ""
