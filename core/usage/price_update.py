"""`nightshift prices update [FILE|URL]`: refresh the owner's price table from LiteLLM's.

Claude Code reports new models before any bundled table knows them; LiteLLM publishes
`model_prices_and_context_window.json` (also inside the `litellm` wheel on PyPI as
`litellm/model_prices_and_context_window_backup.json`). This keeps only the Claude entries
and only their price fields, checks them, and writes them into the state directory
atomically, so the scanner (which reprices when the table changes) never reads half a
file. The same extraction built the bundled `prices.json` (ccusage 17.2.1's offline table
first, for parity, then litellm 1.110.2's Claude entries it lacks).
"""

from __future__ import annotations

import json
import math
import os
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from core.errors import InvalidInput
from core.usage.prices import RATE_KEYS

DEFAULT_URL = "https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json"
MAX_BYTES = 64 << 20
"""LiteLLM's full table is a few MB; anything far larger is not it."""
FETCH_TIMEOUT_S = 30.0
_KEPT_FIELDS = (*(name for pair in RATE_KEYS for name in pair),
                "litellm_provider", "mode", "max_tokens", "max_input_tokens", "max_output_tokens")


class UpdateReport(NamedTuple):
    path: Path
    models: int
    source: str


def claude_entries(table: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The Claude models of a LiteLLM table, each reduced to its price fields.

    An entry counts when its name mentions Claude or its provider is Anthropic, and it has
    an input or output price; entries are checked (non-negative finite numbers) so a broken
    download cannot price every token at NaN.
    """
    out: dict[str, dict[str, Any]] = {}
    for name, spec in table.items():
        if not isinstance(spec, Mapping) or name == "sample_spec" or str(name).startswith("_"):
            continue
        if "claude" not in str(name).lower() and spec.get("litellm_provider") != "anthropic":
            continue
        kept = {field: spec[field] for field in _KEPT_FIELDS if field in spec}
        for base, above in RATE_KEYS:
            for field in (base, above):
                value = kept.get(field)
                if value is None:
                    kept.pop(field, None)
                    continue
                if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                        or value < 0:
                    raise InvalidInput(f"price table: {name}.{field} is not a price: {value!r}")
        if "input_cost_per_token" in kept or "output_cost_per_token" in kept:
            out[str(name)] = kept
    return out


def _read_source(source: str) -> bytes:
    if source.startswith(("http://", "https://")):
        import httpx

        try:
            with httpx.stream("GET", source, timeout=FETCH_TIMEOUT_S, follow_redirects=True) as response:
                if response.status_code != 200:
                    raise InvalidInput(f"{source}: HTTP {response.status_code}")
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_BYTES:
                        raise InvalidInput(f"{source}: more than {MAX_BYTES >> 20} MB, not a price table")
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise InvalidInput(f"{source}: cannot be fetched: {exc}") from None
        return b"".join(chunks)
    path = Path(source).expanduser()
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise InvalidInput(f"{path}: more than {MAX_BYTES >> 20} MB, not a price table")
    return data


def parse_table(data: bytes, source: str) -> dict[str, dict[str, Any]]:
    try:
        table = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{source}: not JSON: {exc}") from None
    if isinstance(table, dict) and isinstance(table.get("models"), dict):
        table = table["models"]  # nightshift's older format
    if not isinstance(table, dict):
        raise InvalidInput(f"{source}: not a LiteLLM price table (expected an object of models)")
    entries = claude_entries(table)
    if not entries:
        raise InvalidInput(f"{source}: no Claude model with a price in it")
    return entries


def write_private_atomically(target: Path, text: str) -> None:
    """Write `text` to `target` through a new temp file in the same folder, then rename.

    The temp file is created exclusively and without following links (nothing another user
    placed there is written through), mode 0600; the rename replaces `target` (a link there
    is replaced, not followed) in one step.
    """
    folder = target.parent
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = folder / f".{target.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    try:
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def update_prices(source: str | None, target: Path, now: datetime | None = None) -> UpdateReport:
    """Fetch or read `source` (default: LiteLLM's table on GitHub), keep its Claude prices,
    and replace `target` with them. Nothing is written unless the whole table is good."""
    origin = source or DEFAULT_URL
    entries = parse_table(_read_source(origin), origin)
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    document = {"_meta": {"date": f"{moment:%Y-%m-%d}", "source": origin, "models": len(entries)}, **entries}
    write_private_atomically(target, json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    return UpdateReport(target, len(entries), origin)
