"""Prices: the bundled table knows current models, an unknown one is priced by its family and
marked, and `nightshift prices update` replaces the owner's table safely."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import InvalidInput
from core.usage.price_update import claude_entries, update_prices
from core.usage.prices import BUNDLED, PriceTable, load_prices, rates_of, read_table
from tests.usage.logtree import Tree, assistant, at
from tests.usage.test_cli import env_for
from tests.usage.usage_server import Reply, usage_server

ROOT = Path(__file__).resolve().parents[2]
NIGHTSHIFT = ROOT / ".venv" / "bin" / "nightshift"


def spec(inp: float, out: float, **extra: Any) -> dict[str, Any]:
    return {"input_cost_per_token": inp, "output_cost_per_token": out, "litellm_provider": "anthropic",
            "cache_creation_input_token_cost": inp * 1.25, "cache_read_input_token_cost": inp / 10, **extra}


LITELLM = {
    "sample_spec": {"input_cost_per_token": 0, "output_cost_per_token": 0},
    "gpt-4o": spec(2.5e-6, 1e-5, litellm_provider="openai"),
    "claude-opus-9": spec(7e-6, 3.5e-5, max_tokens=64000, supports_vision=True),
    "claude-sonnet-9": spec(3e-6, 1.5e-5),
    "vertex_ai/claude-opus-9@2030": spec(7e-6, 3.5e-5, litellm_provider="vertex_ai"),
    "claude-no-price": {"litellm_provider": "anthropic", "mode": "chat"},
}


def test_the_bundled_table_prices_todays_models() -> None:
    prices = load_prices(None)
    for model, rates in (("claude-opus-4-6", (5e-6, 2.5e-5)), ("claude-opus-4-7", (5e-6, 2.5e-5)),
                         ("claude-opus-5-5", (4e-6, 2e-5)), ("claude-sonnet-5-5", (2e-6, 1e-5))):
        quote = prices.quote(model)
        assert not quote.estimated and quote.simple is not None
        assert quote.simple[:2] == rates
    assert prices.cost("claude-opus-5-5", (1_000_000, 1_000_000, 0, 0)) == pytest.approx(24.0)


def test_the_bundled_table_starts_with_ccusage_17s_table() -> None:
    """Where ccusage 17.2.1 knows a model, the bundled entry is its entry (same order, too:
    a name matched by containment takes the first key)."""
    models, meta = read_table(BUNDLED.read_text("utf-8"), "bundled")
    assert "ccusage@17.2.1" in meta["source"] and "litellm 1.110.2" in meta["source"]
    names = list(models)
    assert names[0] == "anthropic.claude-3-5-haiku-20241022-v1:0"
    assert models["claude-sonnet-4-5-20250929"]["input_cost_per_token_above_200k_tokens"] == 6e-6
    assert names.index("claude-sonnet-4-20250514") < names.index("claude-opus-4-6")


def test_an_unknown_model_takes_its_familys_newest_price() -> None:
    prices = load_prices(None)
    newest = prices.families()["opus"]
    assert newest == "claude-opus-5-5"
    for model in ("claude-opus-6", "us.anthropic.claude-opus-7-v1:0", "Claude-Opus-Next"):
        quote = prices.quote(model)
        assert quote.estimated and quote.source == newest and quote.rates == prices.models[newest]
        cost, estimated = prices.price(model, (10, 20, 0, 0))
        assert estimated and cost == prices.cost(newest, (10, 20, 0, 0)) > 0
    assert prices.quote("claude-haiku-9").source == prices.families()["haiku"]
    # no family: nothing to price by, and said so
    for model in ("claude-imaginary-9", "<synthetic>", None):
        assert prices.price(model, (5, 5, 0, 0)) == (0.0, True)
        assert prices.price(model, (0, 0, 0, 0)) == (0.0, False)  # no tokens: nothing to estimate
    assert prices.price("claude-sonnet-4-5", (5, 5, 0, 0))[1] is False


def test_the_newest_of_a_family_goes_by_version() -> None:
    table = PriceTable({name: rates_of(spec(n * 1e-6, n * 1e-5)) for n, name in enumerate(
        ["claude-3-opus-20240229", "claude-opus-5-20270101", "claude-opus-4-8", "claude-opus-5-5",
         "claude-3-5-sonnet-20241022", "claude-sonnet-4", "anthropic.claude-opus-9-v1:0"], start=1)},
        "", "f")
    assert table.families()["opus"] == "claude-opus-5-5"
    assert table.families()["sonnet"] == "claude-sonnet-4"


@settings(max_examples=300, deadline=None)
@given(model=st.sampled_from(["claude-sonnet-4-5-20250929", "claude-opus-4-5", "claude-3-opus-latest",
                              "claude-opus-9", "x", None]),
       tokens=st.tuples(*(st.one_of(st.integers(-10, 400_000), st.floats(-1, 5e5)) for _ in range(4))))
def test_the_fast_formula_equals_ccusages_steps(model: str | None, tokens: tuple[float, ...]) -> None:
    """The reader's inline cost (valid while every count is in 0..the tier threshold) and the
    step-by-step one agree exactly."""
    prices = load_prices(None)
    quote = prices.quote(model)
    i, o, c, r = tokens
    step = prices.cost_of(quote, (i, o, c, r))
    limit = quote.simple_limit
    if quote.simple is not None and all(0 <= n <= limit for n in tokens):
        s = quote.simple
        assert i * s[0] + o * s[1] + c * s[2] + r * s[3] == step


def test_update_keeps_the_claude_prices_and_is_private(tmp_path: Path) -> None:
    source = tmp_path / "litellm.json"
    source.write_text(json.dumps(LITELLM))
    target = tmp_path / "state" / "prices.json"
    done = update_prices(str(source), target)
    assert done.models == 3 and done.path == target
    written = json.loads(target.read_text())
    assert set(written) == {"_meta", "claude-opus-9", "claude-sonnet-9", "vertex_ai/claude-opus-9@2030"}
    assert "supports_vision" not in written["claude-opus-9"]
    assert written["claude-opus-9"]["max_tokens"] == 64000
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert not [p for p in target.parent.iterdir() if p.name.endswith(".tmp")]
    prices = load_prices(target)
    quote = prices.quote("claude-opus-9")
    assert not quote.estimated and quote.simple is not None and quote.simple[0] == 7e-6
    assert prices.fingerprint != load_prices(None).fingerprint


def test_update_from_a_url(tmp_path: Path) -> None:
    target = tmp_path / "prices.json"
    with usage_server() as server:
        server.answer(Reply(200, LITELLM))
        done = update_prices(f"{server.url}/model_prices_and_context_window.json", target)
        assert done.models == 3 and server.requests[0]["path"] == "/model_prices_and_context_window.json"
        server.answer(Reply(404, {"error": "gone"}))
        with pytest.raises(InvalidInput, match="HTTP 404"):
            update_prices(server.url, target)
    assert json.loads(target.read_text())["_meta"]["models"] == 3  # the good table stays


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not JSON"),
    ("[1, 2]", "expected an object"),
    (json.dumps({"gpt-4o": spec(1e-6, 1e-6, litellm_provider="openai")}), "no Claude model"),
    (json.dumps({"claude-x": spec(-1e-6, 1e-6)}), "not a price"),
    (json.dumps({"claude-x": spec(float("nan"), 1e-6)}), "not a price"),
    (json.dumps({"claude-x": {**spec(1e-6, 1e-6), "output_cost_per_token": "free"}}), "not a price"),
])
def test_a_bad_table_changes_nothing(tmp_path: Path, content: str, message: str) -> None:
    target = tmp_path / "prices.json"
    target.write_text('{"claude-kept": {"input_cost_per_token": 1e-6}}')
    source = tmp_path / "bad.json"
    source.write_text(content)
    with pytest.raises(InvalidInput, match=message):
        update_prices(str(source), target)
    assert target.read_text() == '{"claude-kept": {"input_cost_per_token": 1e-6}}'
    with pytest.raises(InvalidInput, match="cannot be read"):
        update_prices(str(tmp_path / "missing.json"), target)


def test_update_replaces_a_link_instead_of_writing_through_it(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("not yours")
    target = tmp_path / "state" / "prices.json"
    target.parent.mkdir()
    os.symlink(elsewhere, target)
    source = tmp_path / "litellm.json"
    source.write_text(json.dumps(LITELLM))
    update_prices(str(source), target)
    assert elsewhere.read_text() == "not yours"
    assert not target.is_symlink() and "claude-opus-9" in json.loads(target.read_text())


def test_claude_entries_of_the_real_litellm_shape() -> None:
    entries = claude_entries({"claude-opus-4-6": {**spec(5e-6, 2.5e-5), "search_context_cost_per_query": {
        "search_context_size_low": 0.01}, "deprecation_date": "2027-01-01"}})
    assert entries == {"claude-opus-4-6": {k: v for k, v in spec(5e-6, 2.5e-5).items()}}


def test_prices_update_command_and_the_rescan_reprices(tmp_path: Path) -> None:
    tree = Tree(tmp_path / "claude")
    tree.add("p/a.jsonl", assistant(at(0), msg="a", req="a", model="claude-opus-9", tokens=(1000, 0, 0, 0)))
    env = env_for(tmp_path)
    before = json.loads(subprocess.run([str(NIGHTSHIFT), "usage", "blocks", "--json"], env=env,
                                       capture_output=True, text=True, timeout=120).stdout)["blocks"][0]
    assert before["costEstimated"] is True
    source = tmp_path / "litellm.json"
    source.write_text(json.dumps(LITELLM))
    done = subprocess.run([str(NIGHTSHIFT), "prices", "update", str(source)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "3 Claude models" in done.stdout and str(tmp_path / "state" / "prices.json") in done.stdout
    after = json.loads(subprocess.run([str(NIGHTSHIFT), "usage", "blocks", "--json"], env=env,
                                      capture_output=True, text=True, timeout=120).stdout)["blocks"][0]
    assert "costEstimated" not in after and after["costUSD"] == pytest.approx(1000 * 7e-6)
    bad = subprocess.run([str(NIGHTSHIFT), "prices", "update", str(tmp_path / "nope.json")], env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and bad.stderr.startswith("error: ") and "cannot be read" in bad.stderr


def test_a_broken_price_file_is_one_clear_error(tmp_path: Path) -> None:
    Tree(tmp_path / "claude").add("p/a.jsonl", assistant(at(0), msg="a", req="a"))
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "prices.json").write_text("{not json")
    done = subprocess.run([str(NIGHTSHIFT), "usage", "blocks", "--json"], env=env_for(tmp_path),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and done.stdout == ""
    assert done.stderr.startswith("error: ") and "prices.json" in done.stderr
    assert "not valid JSON" in done.stderr
