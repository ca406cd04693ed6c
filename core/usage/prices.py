"""Model prices for entries that carry no `costUSD`, matched to a model name as ccusage does.

The table is in LiteLLM's `model_prices_and_context_window.json` format (model name -> per-
token prices), the file ccusage prices from. The bundled `prices.json` holds ccusage 17.2.1's
offline table first (so costs agree with `ccusage blocks --offline` to the last bit where it
knows the model), then the Claude entries of LiteLLM's current table that it lacks
(`core.usage.price_update` extracts them; `nightshift prices update` refreshes the owner's
copy in the state directory, whose models are looked up first).

Lookup, as ccusage's: the exact name, the name with a provider prefix, then the first key
that contains the name or is contained in it; the rate above 200k tokens where the table
has one; additions in ccusage's order. A model none of that finds (a release newer than
the table) is priced at its family's newest model (`claude-opus-6` at the newest Opus) and
its cost is marked estimated; a model without a known family costs 0, also marked, so a
report never shows $0.00 for real tokens without saying so.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from core.errors import ConfigError
from core.usage.stored import price_fingerprint

RATE_KEYS = (
    ("input_cost_per_token", "input_cost_per_token_above_200k_tokens"),
    ("output_cost_per_token", "output_cost_per_token_above_200k_tokens"),
    ("cache_creation_input_token_cost", "cache_creation_input_token_cost_above_200k_tokens"),
    ("cache_read_input_token_cost", "cache_read_input_token_cost_above_200k_tokens"),
)
PREFIXES = ("anthropic/", "claude-3-5-", "claude-3-", "claude-", "openrouter/openai/")
"""ccusage's CLAUDE_PROVIDER_PREFIXES, tried in this order after the exact name."""
TIERED_THRESHOLD_TOKENS = 200_000

BUNDLED = Path(__file__).with_name("prices.json")

Rates = tuple[tuple[float | None, float | None], ...]
"""(base, above-threshold) per token kind, in the order input, output, cache creation, read."""

_FAMILY_KEY = (
    r"claude-(?:(?P<old_major>\d+)-(?:(?P<old_minor>\d)-)?)?(?P<family>[a-z]+)"
    r"(?:-(?P<major>\d{1,2}))?(?:-(?P<minor>\d{1,2}))?(?:-\d{8})?\Z")
"""A key naming a model of a family and its version (compiled when first needed: a re-scan
with nothing new never prices anything)."""


class Quote(NamedTuple):
    """How one model is priced: what the scanner's hot loop needs, looked up once per model."""

    rates: Rates | None
    """None: no price at all (cost 0)."""
    simple: tuple[float, float, float, float] | None
    """The four base rates when all exist: cost = Σ count × rate while every count is in
    0..`simple_limit` (no tier applies); else the general `PriceTable.cost_of`."""
    simple_limit: float
    estimated: bool
    """Not the model's own price: its family's newest (or none at all)."""
    source: str | None
    """The table key used, for people (`claude-opus-5-5 (family price)`)."""


class PriceTable:
    """The merged table. Parsed on first use, and each model's rates worked out when it is
    first looked up: a re-scan with nothing new only compares the fingerprint, and one after a
    few appended lines prices the two or three models they name, not the table's thousand."""

    __slots__ = ("_date", "_families", "_load", "_quotes", "_rates", "_table", "fingerprint", "threshold")

    def __init__(self, models: dict[str, Rates] | Callable[[], tuple[dict[str, Any], str]], date: str,
                 fingerprint: str, threshold: int = TIERED_THRESHOLD_TOKENS) -> None:
        self._table: dict[str, Any] | None = None if callable(models) else dict(models)
        """Model name -> its spec as read (rates not worked out yet), or its rates."""
        self._rates: dict[str, Rates] = {}
        self._load = models if callable(models) else None
        self._date = date
        self.fingerprint = fingerprint
        self.threshold = threshold
        self._quotes: dict[str | None, Quote] = {}
        self._families: dict[str, str] | None = None

    def _names(self) -> dict[str, Any]:
        if self._table is None:
            assert self._load is not None
            self._table, self._date = self._load()
        return self._table

    def _rates_of(self, name: str) -> Rates:
        rates = self._rates.get(name)
        if rates is None:
            value = self._names()[name]
            rates = self._rates[name] = value if isinstance(value, tuple) else rates_of(value)
        return rates

    def check(self) -> None:
        """Read the table now: a broken price file is one clear error (ConfigError)."""
        self._names()

    @property
    def models(self) -> dict[str, Rates]:
        return {name: self._rates_of(name) for name in self._names()}

    @property
    def date(self) -> str:
        self._names()
        return self._date

    # --- lookup -----------------------------------------------------------------------------

    def rates(self, model: str) -> Rates | None:
        """The model's own rates as ccusage finds them (no family fallback)."""
        found = self.find(model)
        return found[1] if found is not None else None

    def find(self, model: str) -> tuple[str, Rates] | None:
        """(table key, rates) as ccusage looks a model up: exact, prefixed, then contained."""
        table = self._names()
        if model in table:
            return model, self._rates_of(model)
        for prefix in PREFIXES:
            if prefix + model in table:
                return prefix + model, self._rates_of(prefix + model)
        lower = model.lower()
        for key in table:
            other = key.lower()
            if lower in other or other in lower:
                return key, self._rates_of(key)
        return None

    def families(self) -> dict[str, str]:
        """Family word -> the key of its newest model (`opus` -> `claude-opus-5-5`)."""
        if self._families is None:
            best: dict[str, tuple[tuple[int, int], str]] = {}
            pattern = re.compile(_FAMILY_KEY)
            for key in self._names():
                found = pattern.match(key)
                if found is None:
                    continue
                if found["old_major"]:
                    version = (int(found["old_major"]), int(found["old_minor"] or 0))
                else:
                    version = (int(found["major"] or 0), int(found["minor"] or 0))
                family = found["family"]
                if family not in best or (version, -len(key)) > (best[family][0], -len(best[family][1])):
                    best[family] = (version, key)
            self._families = {family: key for family, (_, key) in best.items()}
        return self._families

    def family_of(self, model: str) -> str | None:
        words = set(re.split(r"[^a-z]+", model.lower()))
        for family in sorted(self.families()):
            if family in words:
                return family
        return None

    def quote(self, model: str | None) -> Quote:
        """How `model` is priced (memoised: called for every entry of a scan)."""
        memo = self._quotes.get(model)
        if memo is not None:
            return memo
        rates: Rates | None = None
        estimated = False
        source = None
        if model:
            found = self.find(model)
            if found is not None:
                source, rates = found
            else:
                estimated = True
                family = self.family_of(model)
                if family is not None:
                    source = self.families()[family]
                    rates = self._rates_of(source)
        else:
            estimated = True  # no model named: nothing to price by
        simple = None
        limit = math.inf
        if rates is not None and all(base is not None for base, _ in rates):
            simple = (rates[0][0] or 0.0, rates[1][0] or 0.0, rates[2][0] or 0.0, rates[3][0] or 0.0)
            if any(above is not None for _, above in rates):
                limit = self.threshold
        quote = Quote(rates, simple, limit, estimated, source)
        if len(self._quotes) < 10_000:
            self._quotes[model] = quote
        return quote

    # --- cost -------------------------------------------------------------------------------

    def cost_of(self, quote: Quote, tokens: tuple[float, float, float, float]) -> float:
        """USD for one entry, step by step as ccusage computes it (tiers, missing rates)."""
        rates = quote.rates
        if rates is None:
            return 0.0
        threshold = self.threshold
        total = 0.0
        for count, (base, above) in zip(tokens, rates, strict=True):
            if count <= 0:
                continue
            if count > threshold and above is not None:
                part = max(0, count - threshold) * above
                if base is not None:
                    part += min(count, threshold) * base
                total += part
            elif base is not None:
                total += count * base
        return total

    def cost(self, model: str | None, tokens: tuple[float, float, float, float]) -> float:
        """USD for one entry (0 when nothing prices the model; see `quote().estimated`)."""
        return self.cost_of(self.quote(model), tokens)

    def price(self, model: str | None, tokens: tuple[float, float, float, float]) -> tuple[float, bool]:
        """(USD, estimated) for one entry; estimated only when there were tokens to price."""
        quote = self.quote(model)
        return self.cost_of(quote, tokens), quote.estimated and any(tokens)


# --- loading ----------------------------------------------------------------------------------


def _number(spec: Mapping[str, Any], key: str) -> float | None:
    value = spec.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def rates_of(spec: Mapping[str, Any]) -> Rates:
    return tuple((_number(spec, base), _number(spec, above)) for base, above in RATE_KEYS)


def read_table(text: str, origin: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model name -> spec, metadata) from a LiteLLM-format file (or the older
    `{"models": {...}}` form). LiteLLM's `sample_spec` and keys starting with `_` are no models."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(origin, f"not valid JSON: {exc}") from None
    meta: dict[str, Any] = {}
    if isinstance(data, dict) and isinstance(data.get("models"), dict):
        meta = {k: v for k, v in data.items() if k != "models"}
        data = data["models"]
    if not isinstance(data, dict):
        raise ConfigError(origin, "expected an object of model name -> per-token prices")
    if isinstance(data.get("_meta"), dict):
        meta.update(data["_meta"])
    models = {str(name): spec for name, spec in data.items()
              if isinstance(spec, dict) and name != "sample_spec" and not str(name).startswith("_")}
    return models, meta


def load_prices(override: Path | None = None,
                database: frozenset[tuple[int, int]] = frozenset()) -> PriceTable:
    """The bundled table, with `override`'s models (if the file exists) looked up first.

    A file that is not a price table raises ConfigError when the table is first used; one
    that is the database (`database`: its files' (device, inode)) at once, unopened: this
    process may hold a connection to it (see core.store.files)."""
    bundled_text = BUNDLED.read_text("utf-8")
    texts = [bundled_text]
    override_text: str | None = None
    origin = f"price file {override}"
    if override is not None and override.is_file():
        info = override.stat()
        if (info.st_dev, info.st_ino) in database:
            raise ConfigError(origin, "is nightshift's database, not a price table")
        try:
            override_text = override.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(origin, f"cannot be read: {exc}") from None
        texts.append(override_text)

    def parse() -> tuple[dict[str, Any], str]:
        bundled, meta = read_table(bundled_text, "bundled prices.json")
        date = str(meta.get("date", ""))
        models: dict[str, Any] = {}
        if override_text is not None:
            extra, extra_meta = read_table(override_text, origin)
            date = str(extra_meta.get("date", date))
            models.update(extra)
        for name, spec in bundled.items():
            if name not in models:
                models[name] = spec
        return models, date

    return PriceTable(parse, "", price_fingerprint(texts))
