"""Model prices for entries that carry no `costUSD`, matched to a model name as ccusage does.

The bundled table (`prices.json`, dated) is ccusage 17.2.1's offline table, so costs agree
with `ccusage blocks --offline` to the last bit: the same lookup order (exact name, the name
with a provider prefix, then the first key that contains the name or is contained in it),
the same tiered rate above 200k tokens, and the same floating-point operation order.
A JSON file of the same shape overrides or extends it (its models are looked up first).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core.errors import ConfigError

_RATE_KEYS = (
    ("input_cost_per_token", "input_cost_per_token_above_200k_tokens"),
    ("output_cost_per_token", "output_cost_per_token_above_200k_tokens"),
    ("cache_creation_input_token_cost", "cache_creation_input_token_cost_above_200k_tokens"),
    ("cache_read_input_token_cost", "cache_read_input_token_cost_above_200k_tokens"),
)

BUNDLED = Path(__file__).with_name("prices.json")

Rates = tuple[tuple[float | None, float | None], ...]
"""(base, above-threshold) per token kind, in the order input, output, cache creation, read."""


class PriceTable:
    __slots__ = ("_memo", "date", "fingerprint", "models", "prefixes", "threshold")

    def __init__(self, models: dict[str, Rates], prefixes: tuple[str, ...], threshold: int, date: str,
                 fingerprint: str) -> None:
        self.models = models
        self.prefixes = prefixes
        self.threshold = threshold
        self.date = date
        self.fingerprint = fingerprint
        self._memo: dict[str, Rates | None] = {}

    def rates(self, model: str) -> Rates | None:
        if model in self._memo:
            return self._memo[model]
        found = self.models.get(model)
        if found is None:
            for prefix in self.prefixes:
                found = self.models.get(prefix + model)
                if found is not None:
                    break
        if found is None:
            lower = model.lower()
            for key, value in self.models.items():
                other = key.lower()
                if lower in other or other in lower:
                    found = value
                    break
        self._memo[model] = found
        return found

    def cost(self, model: str | None, tokens: tuple[float, float, float, float]) -> float:
        """USD for one entry; 0 for an unknown or missing model (as ccusage reports it).

        Called for every entry of a cold scan, hence inlined; the additions happen in
        ccusage's order (input, output, cache creation, cache read) so the sums match.
        """
        if not model:
            return 0.0
        rates = self._memo[model] if model in self._memo else self.rates(model)
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


def _rates(spec: Mapping[str, Any]) -> Rates:
    def number(key: str) -> float | None:
        value = spec.get(key)
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    return tuple((number(base), number(above)) for base, above in _RATE_KEYS)


def _read(text: str, origin: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(origin, f"not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise ConfigError(origin, 'expected an object with a "models" object of per-token prices')
    return data


def load_prices(override: Path | None = None) -> PriceTable:
    """The bundled table, with `override`'s models (if the file exists) looked up first."""
    bundled_text = BUNDLED.read_text("utf-8")
    bundled = _read(bundled_text, "bundled prices.json")
    # A fingerprint, not a security check: zlib is far cheaper to import than hashlib.
    digest = [zlib.crc32(bundled_text.encode()), len(bundled_text)]
    models: dict[str, Rates] = {}
    date = str(bundled.get("date", ""))
    if override is not None and override.is_file():
        origin = f"price file {override}"
        try:
            text = override.read_text("utf-8")
        except OSError as exc:
            raise ConfigError(origin, f"cannot be read: {exc}") from None
        extra = _read(text, origin)
        digest += [zlib.crc32(text.encode()), len(text)]
        for name, spec in extra["models"].items():
            if isinstance(spec, dict):
                models[str(name)] = _rates(spec)
        date = str(extra.get("date", date))
    for name, spec in bundled["models"].items():
        if isinstance(spec, dict) and name not in models:
            models[str(name)] = _rates(spec)
    return PriceTable(
        models=models,
        prefixes=tuple(bundled.get("prefixes", ())),
        threshold=int(bundled.get("tiered_threshold_tokens", 200_000)),
        date=date,
        fingerprint="-".join(f"{part:x}" for part in digest),
    )
