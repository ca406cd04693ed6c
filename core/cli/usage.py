"""`nightshift usage` (the current window) and `nightshift usage blocks` (ccusage's blocks).

`usage blocks --json` normally never gets here: `core.cli.main` answers it through the
lean path in `core.usage.blocks_command`; this command serves every other form and gives the same
output for the same command line.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Annotated, Any

import typer

from core.accounts import accounts, usage_monitor, usage_total
from core.cli.app import app, console, fail, print_json, settings, with_service
from core.errors import NightshiftError
from core.pace import account_pace
from core.scheduling.pacing import WeeklyPace
from core.scheduling.workhours import PlannedPrime
from core.service import Service
from core.usage.blocks_command import blocks_text
from core.usage.config import UsageConfig
from core.usage.monitor import LimitState
from core.usage.report import BlocksQuery

PROGRESS_MIN_BYTES = 64 << 20
"""A scan that reads less than this is quick enough to need no progress bar."""

usage_app = typer.Typer(
    help="The usage window: start, reset, tokens, burn rate, limit state and their sources.",
    invoke_without_command=True,
    no_args_is_help=False,
    add_completion=False,
    rich_markup_mode=None,
)
app.add_typer(usage_app, name="usage")


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A scan progress hook that draws a bar only for a big cold scan on a terminal."""
    if not (enabled and sys.stdout.isatty() and sys.stderr.isatty()):
        yield None
        return
    state: dict[str, Any] = {}

    def hook(done: int, total: int) -> None:
        if "bar" not in state:
            if total < PROGRESS_MIN_BYTES:
                state["bar"] = None
                return
            from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

            bar = Progress("reading Claude's logs", BarColumn(), DownloadColumn(),
                           TimeRemainingColumn(), transient=True)
            bar.start()
            state["bar"] = bar
            state["task"] = bar.add_task("scan", total=total)
        bar = state["bar"]
        if bar is not None:
            bar.update(state["task"], completed=done)

    try:
        yield hook
    finally:
        if state.get("bar") is not None:
            state["bar"].stop()


def _zone_name(zone: tzinfo, moment: datetime) -> str:
    return str(getattr(zone, "key", None) or moment.astimezone(zone).tzname() or "local")


def _clock(moment: datetime | None, zone: tzinfo, now: datetime) -> str:
    """A moment in the owner's zone (named), in UTC, and how far from now."""
    if moment is None:
        return "unknown"
    local = moment.astimezone(zone)
    utc = moment.astimezone(UTC)
    delta = moment - now
    minutes = int(abs(delta.total_seconds()) // 60)
    days, rest = divmod(minutes, 24 * 60)
    span = (f"{days}d " if days else "") + f"{rest // 60}h {rest % 60:02d}m"
    when = f"in {span}" if delta.total_seconds() >= 0 else f"{span} ago"
    return f"{local:%a %d %b %H:%M} {_zone_name(zone, moment)} ({utc:%H:%M} UTC), {when}"


_WINDOW_LABELS = {"weekly": "Weekly", "opus": "Opus weekly", "sonnet": "Sonnet weekly"}


def _render(state: LimitState, zone: tzinfo, now: datetime, endpoint: dict[str, Any]) -> None:
    """The current window, its reset in the owner's zone, the weekly picture, and where each
    figure came from (in brackets)."""
    source = dict(state.sources)

    def line(label: str, value: str, key: str | None = None, origin: str | None = None) -> None:
        origin = origin or (source.get(key) if key else None)
        console.print(f"{label:<14} {value}" + (f"  [{origin}]" if origin else ""), markup=False,
                      soft_wrap=True, highlight=False)

    if state.limited:
        line("Limited", f"yes: {state.kind} limit, until {_clock(state.resets_at, zone, now)}", "limited")
        if state.text:
            line("", state.text)
    else:
        line("Limited", "no")
    if state.window_start is not None:
        line("5-hour window", f"started {_clock(state.window_start, zone, now)}", "window_start")
    else:
        line("5-hour window", "none open (no usage in the last 5 hours)")
    if not state.limited or state.kind == "session":
        line("Resets", _clock(state.resets_at, zone, now) if state.resets_at else "unknown", "resets_at")
    used = f"{state.tokens_used:,} tokens"
    if state.percent_used is not None:
        used += f", {state.percent_used:.1f} %"
        if state.capacity_tokens:
            used += f" of about {state.capacity_tokens:,}"
    origins = [source[k] for k in ("tokens_used", "utilization") if k in source]
    line("Used", used, origin="; ".join(dict.fromkeys(origins)) or None)
    if state.burn_rate_per_min is not None:
        line("Burn rate", f"{state.burn_rate_per_min:,.0f} tokens/min", "burn_rate_per_min")
    if state.projection is not None:
        line("Projection", f"{state.projection:,} tokens by the reset", "projection")
    if state.windows:
        for window in state.windows:
            label = _WINDOW_LABELS.get(window.kind, window.kind)
            if window.limited:
                value = f"limit reached, resets {_clock(window.resets_at, zone, now)}"
            else:
                share = window.utilization
                value = f"{share * 100:.0f} % used" if share is not None else "in use"
                if window.resets_at is not None:
                    value += f", resets {_clock(window.resets_at, zone, now)}"
            line(label, value, origin=window.source)
    else:
        line("Weekly", "not known (only the usage endpoint and Claude's own messages tell it)")
    line("Endpoint", f"{endpoint['state']}: {endpoint['detail']}")


@usage_app.callback(invoke_without_command=True)
def usage(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The current usage window, the limit state, and which source says so (each account's)."""
    if ctx.invoked_subcommand is not None:
        return
    now = datetime.now(UTC)

    async def work(service: Service) -> tuple[list[Seen], list[PlannedPrime]]:
        found = []
        for account in accounts(service.settings):  # one without NIGHTSHIFT_ACCOUNTS
            monitor = usage_monitor(service.settings, service.store, account)
            try:
                with progress_bar(not as_json) as hook:
                    state = await monitor.refresh(now, hook)
                pace = await account_pace(service.settings, service.store, account, monitor, state, now,
                                          record=True)
                found.append(Seen(account.name, state, monitor.endpoint.status.as_json(),
                                  monitor.last_scan, pace))
            finally:
                await monitor.close()
        return found, await service.planned_primes(now)

    found, primes = with_service(work)
    zone = settings().local_tz
    planned = [p.as_json() for p in primes]
    if len(found) == 1:
        if as_json:
            print_json({**found[0].as_json(), "planned_primes": planned})
        else:
            _render(found[0].state, zone, now, found[0].endpoint)
            _pace_line(found[0].pace)
            _primes(primes, zone)
        return
    total = usage_total([(seen.name, seen.state) for seen in found], now)
    if as_json:
        print_json({"accounts": {seen.name: seen.as_json() for seen in found}, "total": total,
                    "planned_primes": planned})
        return
    for seen in found:
        console.print(f"Account {seen.name}", style="bold", markup=False)
        _render(seen.state, zone, now, seen.endpoint)
        _pace_line(seen.pace)
        console.print()
    console.print(
        f"Total: {total['tokens_used']:,} tokens in {total['accounts']} accounts;"
        f" open now: {', '.join(total['open']) or 'none'}", markup=False, soft_wrap=True)
    _primes(primes, zone)


@dataclass(frozen=True)
class Seen:
    """One account as `usage` saw it."""

    name: str
    state: LimitState
    endpoint: dict[str, Any]
    report: Any
    pace: WeeklyPace | None

    def as_json(self) -> dict[str, Any]:
        out = self.state.as_json()
        out["endpoint"] = self.endpoint
        out["scan"] = self.report.as_json() if self.report is not None else None
        out["weekly_pace"] = self.pace.as_json() if self.pace is not None else None
        return out


def _pace_line(pace: WeeklyPace | None) -> None:
    if pace is not None:
        console.print(f"{'Weekly pace':<14}{pace.text()}", markup=False, soft_wrap=True)


def _primes(primes: list[PlannedPrime], zone: tzinfo) -> None:
    for prime in primes:
        console.print(f"prime planned   {prime.describe(zone)}", markup=False, soft_wrap=True)


@usage_app.command("blocks")
def blocks(
    as_json: Annotated[bool, typer.Option("--json", help="ccusage's `blocks --json` document")] = False,
    active: Annotated[bool, typer.Option("--active", "-a", help="only the active block")] = False,
    recent: Annotated[bool, typer.Option("--recent", "-r", help="the last 3 days and the active block")]
    = False,
    token_limit: Annotated[str | None, typer.Option("--token-limit", "-t",
                                                    help="tokens, or 'max' (largest finished block)")]
    = None,
    since: Annotated[str | None, typer.Option("--since", help="from this local date, YYYYMMDD")] = None,
    until: Annotated[str | None, typer.Option("--until", help="up to this local date, YYYYMMDD")] = None,
) -> None:
    """5-hour blocks as ccusage computes them (same JSON as `ccusage blocks --json`)."""
    try:
        query = BlocksQuery(active=active, recent=recent, token_limit=token_limit, since=since, until=until)
        config = UsageConfig.from_settings(settings())
        with progress_bar(not as_json) as hook:
            text = blocks_text(config, query, datetime.now(UTC), hook)
    except NightshiftError as exc:
        fail(exc.message, exc.exit_code)
    if as_json:
        sys.stdout.write(text + "\n")
        return
    _table(text, config)


def _table(text: str, config: UsageConfig) -> None:
    import json

    from rich.table import Table

    document = json.loads(text)
    found = document.get("blocks", [])
    if not found:
        console.print(document.get("message", "No Claude usage found."), markup=False)
        return
    zone: tzinfo = config.zone or datetime.now().astimezone().tzinfo or UTC
    table = Table("start", "end", "state", "tokens", "cost USD", "models")
    for block in found:
        start = datetime.fromisoformat(block["startTime"].replace("Z", "+00:00")).astimezone(zone)
        end = datetime.fromisoformat(block["endTime"].replace("Z", "+00:00")).astimezone(zone)
        state = "gap" if block["isGap"] else ("ACTIVE" if block["isActive"] else "")
        # `~`: part of the cost is an estimate (a model the price table does not know)
        cost = ("~" if block.get("costEstimated") else "") + f"{block['costUSD']:.2f}"
        table.add_row(f"{start:%Y-%m-%d %H:%M}", f"{end:%H:%M}", state,
                      f"{block['totalTokens']:,}", cost, ", ".join(block["models"]))
    console.print(table)
    if any(block.get("costEstimated") for block in found):
        console.print("~ estimated: a model the price table does not know is priced as its family's "
                      "newest (`nightshift prices update` refreshes the table)", markup=False, soft_wrap=True)


prices_app = typer.Typer(help="The model price table that costs are computed with.", no_args_is_help=True,
                         add_completion=False, rich_markup_mode=None)
app.add_typer(prices_app, name="prices")


@prices_app.command("update")
def prices_update(
    source: Annotated[str | None, typer.Argument(
        help="a LiteLLM model_prices_and_context_window.json: a file or an http(s) URL "
             "(default: LiteLLM's on GitHub)")] = None,
) -> None:
    """Refresh the price table from LiteLLM's (its Claude models), in the state directory."""
    from core.usage.price_update import update_prices

    config = UsageConfig.from_settings(settings())
    try:
        done = update_prices(source, config.price_file)
    except NightshiftError as exc:
        fail(exc.message, exc.exit_code)
    except OSError as exc:
        fail(f"cannot write {config.price_file}: {exc.strerror or exc}")
    console.print(f"prices: {done.models} Claude models from {done.source} written to {done.path}; "
                  "the next scan reprices every entry without a logged cost", markup=False, soft_wrap=True)
