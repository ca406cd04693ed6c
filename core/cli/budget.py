"""`nightshift budget`: the same caps and reserve `/budget` sets from the phone."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from core.budgets import budget_lines, load_budgets, night_spend, reset_budget, set_budget
from core.cli.app import app, console, fail, print_json, with_service
from core.service import Service


@app.command()
def budget(
    knob: Annotated[
        str | None, typer.Argument(metavar="task|night|reserve", help="Which one to set.")
    ] = None,
    value: Annotated[
        str | None, typer.Argument(metavar="VALUE", help="Dollars (2.50), a share (20%), off, or default.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show or set the per-task cap, the nightly cap and the reserve; tonight's spend against them."""
    if (knob is None) != (value is None):
        fail("give both: nightshift budget task 2.50 (or none to show them)", 2)

    async def work(service: Service) -> tuple[Any, Any, list[str]]:
        store, settings = service.store, service.settings
        if knob is None or value is None:
            found = await load_budgets(store, settings)
        elif value.lower() == "default":
            found = await reset_budget(store, settings, knob)
        else:
            found = await set_budget(store, settings, knob, value)
        spend = await night_spend(store, service.now(), settings.local_tz)
        return found, spend, budget_lines(found, spend, settings)

    found, spend, lines = with_service(work)
    if as_json:
        print_json({**found.as_json(), "spend": spend.as_json()})
    else:
        for line in lines:
            console.print(line, markup=False, soft_wrap=True)
