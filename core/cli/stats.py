"""`nightshift stats`, `nightshift chart` and `nightshift notes`: the feedback loop's fronts."""

from __future__ import annotations

import enum
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from core.cli.app import app, console, fail, print_json, with_service
from core.errors import InvalidInput
from core.metrics import MetricsReport, compute_metrics
from core.metrics.charts import CHART_KINDS, DEFAULT_POINTS, render_chart
from core.metrics.periods import parse_moment
from core.service import Service


class ChartKind(enum.StrEnum):
    completion = "completion"
    tokens = "tokens"
    outcomes = "outcomes"
    utilization = "utilization"
    weekly = "weekly"


assert tuple(ChartKind) == CHART_KINDS, "the CLI offers every chart kind"

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
Since = Annotated[
    str | None,
    typer.Option("--since", help="Start: YYYY-MM-DD, an ISO time, today, yesterday, or an age like 7d."),
]
Until = Annotated[str | None, typer.Option("--until", help="End (exclusive), same forms as --since.")]
CapacityOpt = Annotated[
    int | None,
    typer.Option(
        "--capacity",
        min=1,
        help="Tokens one window holds, for utilization (default NIGHTSHIFT_WINDOW_CAPACITY_TOKENS).",
    ),
]


def _period(
    service: Service, since: str | None, until: str | None
) -> tuple[datetime | None, datetime | None]:
    tz, now = service.settings.local_tz, service.now()
    start = parse_moment(since, now=now, tz=tz) if since else None
    end = parse_moment(until, now=now, tz=tz) if until else None
    if start is not None and end is not None and end <= start:
        raise InvalidInput("--until must be after --since")
    return start, end


async def _report(
    service: Service, since: str | None, until: str | None, capacity: int | None
) -> MetricsReport:
    start, end = _period(service, since, until)
    return await compute_metrics(
        service.store,
        since=start,
        until=end,
        now=service.now(),
        capacity_tokens=capacity or service.settings.window_capacity_tokens or None,
        tz=service.settings.local_tz,
    )


@app.command()
def stats(
    since: Since = None,
    until: Until = None,
    capacity: CapacityOpt = None,
    experiments: Annotated[
        bool,
        typer.Option(
            "--experiments", help="Also each prompt style's runs, success rate and credible interval."
        ),
    ] = False,
    week: Annotated[
        bool,
        typer.Option("--week", help="Also the week by day: windows used, how full, tasks done per window."),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Metrics: completion rate, token efficiency, retries, plan quality, utilization, latency."""
    from core.metrics.charts import chart_series
    from core.metrics.pictures import weekly_limit_used
    from core.metrics.weekly import weekly_text

    async def work(service: Service) -> tuple[MetricsReport, dict[str, Any], float | None]:
        report = await _report(service, since, until, capacity)
        start, _ = _period(service, since, until)
        return report, await service.learning_summary(start), weekly_limit_used(service, service.now())

    report, learning, weekly_used = with_service(work)
    weekly = chart_series("weekly", report, weekly_limit_used=weekly_used) if week else None
    if as_json:
        out = report.as_json()
        out["estimate_error"] = learning["estimate_error"]
        if experiments:
            out["experiments"] = learning["experiments"]
        if weekly is not None:
            out["weekly"] = weekly.as_json()
        print_json(out)
        return
    console.print(report.as_text(), markup=False, highlight=False)
    text = learning["text"] if experiments else learning["text"].splitlines()[-1]
    console.print(text, markup=False, highlight=False)
    if weekly is not None:
        console.print(weekly_text(weekly), markup=False, highlight=False)


@app.command()
def chart(
    out: Annotated[Path, typer.Option("--out", help="The PNG file to write.")],
    kind: Annotated[ChartKind, typer.Option("--kind", help="Which chart.")] = ChartKind.completion,
    since: Since = None,
    until: Until = None,
    capacity: CapacityOpt = None,
    points: Annotated[
        int, typer.Option("--points", min=1, max=60, help="Days or windows shown.")
    ] = DEFAULT_POINTS,
) -> None:
    """Draw a metrics chart as a PNG (about 1000 px wide, readable on a phone)."""
    if out.suffix.lower() != ".png":
        fail(f"--out must name a .png file, not {out}")
    from core.metrics.pictures import weekly_limit_used

    async def work(service: Service) -> tuple[MetricsReport, float | None]:
        return (await _report(service, since, until, capacity),
                weekly_limit_used(service, service.now()))

    report, weekly_used = with_service(work)
    path = render_chart(str(kind.value), report, out, max_points=points,
                        weekly_limit_used=weekly_used)
    console.print(str(path), markup=False, highlight=False)


@app.command()
def notes(capacity: CapacityOpt = None, as_json: JsonFlag = False) -> None:
    """Regenerate the brain/ vault (task, run and daily notes, charts) and export the logs."""
    from core.brain_logs import LogBook
    from core.vault import VaultWriter

    async def work(service: Service) -> dict[str, Any]:
        writer = VaultWriter(service.settings, service.store, capacity_tokens=capacity, clock=service.clock)
        report = await writer.sync(service.now())
        lines = await LogBook(service.settings.brain_dir).export_events(service.store)
        return {**report.as_json(), "log_lines": lines, "vault": str(writer.root)}

    result = with_service(work)
    if as_json:
        print_json(result)
        return
    console.print(
        f"{result['vault']}: {len(result['written'])} written, {result['unchanged']} unchanged,"
        f" {len(result['removed'])} moved; {result['log_lines']} new log lines",
        markup=False,
        highlight=False,
    )
