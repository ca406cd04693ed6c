"""One block of `ccusage blocks --json` as text, written out without the `json` module.

`usage blocks --json` prints thousands of blocks; the closed ones are rendered once and
stored, the live one on every call. Both go through `render_block`, which writes exactly
what `json.dumps(block_json(...), indent=2)` would (a hypothesis test holds the two
equal) without importing `json`, `datetime` or `typing`: the lean path of
`core.usage.lean` answers a poll in little more than the interpreter's start, and those
imports alone would cost a good part of it. The burn rate and projection are computed
here too, so that a `Block` and the lean path cannot compute them differently.
"""

from __future__ import annotations

import math

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

SESSION_MS = 5 * 60 * 60 * 1000
HOUR_MS = 60 * 60 * 1000
MINUTE_MS = 60 * 1000
WARNING_FRACTION = 0.8
"""ccusage's BLOCKS_WARNING_THRESHOLD: a projection above 80 % of the limit is a warning."""
RECENT_MS = 3 * 24 * 60 * 60 * 1000
"""`--recent`: ccusage's DEFAULT_RECENT_DAYS (3)."""

STATE_FIELDS = ("start_ms", "end_ms", "first_ms", "last_ms", "entries", "input_tokens", "output_tokens",
                "cache_creation_tokens", "cache_read_tokens", "cost", "models", "reset_ms", "estimated")
"""A block's running totals as a plain list (`Block.state()`), in this order."""

_DAY_MS = 24 * HOUR_MS
_ESCAPES = {**{code: f"\\u{code:04x}" for code in range(32)},
            ord("\\"): "\\\\", ord('"'): '\\"', ord("\b"): "\\b", ord("\f"): "\\f", ord("\n"): "\\n",
            ord("\r"): "\\r", ord("\t"): "\\t"}
"""What `json.dumps(..., ensure_ascii=False)` escapes in a string, and how."""


def iso_ms(ts_ms: int) -> str:
    """JavaScript's Date.toISOString() (UTC, milliseconds, `Z`), by integer arithmetic."""
    days, rest = divmod(ts_ms, _DAY_MS)
    # days since 1970-01-01 to a civil date (H. Hinnant's days_from_civil, inverted)
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (month <= 2)
    hours, rest = divmod(rest, HOUR_MS)
    minutes, rest = divmod(rest, MINUTE_MS)
    seconds, millis = divmod(rest, 1000)
    return f"{year:04d}-{month:02d}-{day:02d}T{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"


def number(value: float) -> float | int:
    """A JSON number as JavaScript prints it: integral values without `.0`."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def json_number(value: float) -> str:
    """`json.dumps(number(value))`."""
    value = number(value)
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (math.inf, -math.inf):
            return "Infinity" if value > 0 else "-Infinity"
        return float.__repr__(value)
    return int.__repr__(value)


def json_string(text: str) -> str:
    """`json.dumps(text, ensure_ascii=False)`."""
    return '"' + text.translate(_ESCAPES) + '"'


def js_round(value: float) -> int:
    """JavaScript's Math.round (halves go up), not Python's banker's rounding."""
    return math.floor(value + 0.5)


def active_at(last_ms: int | None, end_ms: int, now_ms: int, session_ms: int = SESSION_MS) -> bool:
    """Whether a (non-gap) block is ccusage's active one at `now_ms`."""
    return last_ms is not None and now_ms - last_ms < session_ms and now_ms < end_ms


def total_tokens(state: Sequence[Any]) -> float:
    total: float = state[5] + state[6] + state[7] + state[8]
    return total


def burn_rate(state: Sequence[Any]) -> tuple[float, float, float] | None:
    """ccusage's burn rate of a block (tokens/min, input+output tokens/min, USD/hour)."""
    first_ms, last_ms, entries = state[2], state[3], state[4]
    if not entries or last_ms is None:
        return None
    minutes = (last_ms - first_ms) / MINUTE_MS
    if minutes <= 0:
        return None
    return (total_tokens(state) / minutes, (state[5] + state[6]) / minutes,
            state[9] / minutes * 60)


def projection(state: Sequence[Any], now_ms: int) -> tuple[int, float, int] | None:
    """ccusage's projection to the block's end (tokens, USD, minutes left) for an active block."""
    rate = burn_rate(state)
    if rate is None:
        return None
    remaining = max(0.0, (state[1] - now_ms) / MINUTE_MS)
    total = total_tokens(state) + rate[0] * remaining
    cost = state[9] + rate[2] / 60 * remaining
    return js_round(total), js_round(cost * 100) / 100, js_round(remaining)


def limit_status(projected: int, limit: int) -> tuple[int, int, float | int | None, str]:
    """ccusage's tokenLimitStatus: (limit, projected usage, percent used, status)."""
    if projected > limit:
        status = "exceeds"
    elif projected > limit * WARNING_FRACTION:
        status = "warning"
    else:
        status = "ok"
    return limit, projected, number(projected / limit * 100) if limit else None, status


def render_block(state: Sequence[Any], is_gap: bool, is_active: bool, now_ms: int,
                 limit: int | None = None) -> str:
    """One block as it appears inside `JSON.stringify({blocks}, null, 2)` (indented by 4).

    `state` is `Block.state()`; `limit` is given only with `--token-limit` (it adds
    `tokenLimitStatus` to an active block with a projection)."""
    (start_ms, end_ms, _, last_ms, entries, input_tokens, output_tokens, creation_tokens, read_tokens,
     cost, models, reset_ms, estimated) = state
    start = iso_ms(start_ms)
    parts = [
        '    {\n      "id": ', json_string(f"gap-{start}" if is_gap else start),
        ',\n      "startTime": "', start,
        '",\n      "endTime": "', iso_ms(end_ms),
        '",\n      "actualEndTime": ', "null" if last_ms is None else f'"{iso_ms(last_ms)}"',
        ',\n      "isActive": ', "true" if is_active else "false",
        ',\n      "isGap": ', "true" if is_gap else "false",
        ',\n      "entries": ', json_number(entries),
        ',\n      "tokenCounts": {\n        "inputTokens": ', json_number(input_tokens),
        ',\n        "outputTokens": ', json_number(output_tokens),
        ',\n        "cacheCreationInputTokens": ', json_number(creation_tokens),
        ',\n        "cacheReadInputTokens": ', json_number(read_tokens),
        '\n      },\n      "totalTokens": ', json_number(total_tokens(state)),
        ',\n      "costUSD": ', json_number(cost),
        ',\n      "costEstimated": true' if estimated else "",
        ',\n      "models": ',
        "[]" if not models else "[\n" + ",\n".join("        " + json_string(n) for n in models) + "\n      ]",
    ]
    rate = burn_rate(state) if is_active and not is_gap else None
    if rate is None:
        parts.append(',\n      "burnRate": null')
    else:
        parts += [',\n      "burnRate": {\n        "tokensPerMinute": ', json_number(rate[0]),
                  ',\n        "tokensPerMinuteForIndicator": ', json_number(rate[1]),
                  ',\n        "costPerHour": ', json_number(rate[2]), "\n      }"]
    ahead = projection(state, now_ms) if rate is not None else None
    if ahead is None:
        parts.append(',\n      "projection": null')
    else:
        parts += [',\n      "projection": {\n        "totalTokens": ', json_number(ahead[0]),
                  ',\n        "totalCost": ', json_number(ahead[1]),
                  ',\n        "remainingMinutes": ', json_number(ahead[2]), "\n      }"]
        if limit is not None:
            status = limit_status(ahead[0], limit)
            parts += [',\n      "tokenLimitStatus": {\n        "limit": ', json_number(status[0]),
                      ',\n        "projectedUsage": ', json_number(status[1]),
                      ',\n        "percentUsed": ', "null" if status[2] is None else json_number(status[2]),
                      ',\n        "status": ', json_string(status[3]), "\n      }"]
    if reset_ms is not None:
        parts.append(f',\n      "usageLimitResetTime": "{iso_ms(reset_ms)}"')
    parts.append("\n    }")
    return "".join(parts)


def document(items: Sequence[Sequence[Any]], now_ms: int, *, active: bool = False, recent: bool = False,
             token_limit: str | None = None) -> str:
    """`ccusage blocks --json`'s text for `items` in order, with its filters and edge cases.

    An item is (start_ms, is_gap, is_active, total_tokens, body, block): `body` is the
    block's text when already rendered, else `block` (a `Block`) is rendered here.
    `token_limit` is `--token-limit` (None when not given, `max`, or a number)."""
    if not items:
        return '{"blocks":[]}'
    largest: float = 0
    if token_limit in ("", "max"):  # the limit counts only when given
        largest = max((i[3] for i in items if not i[1] and not i[2]), default=0)
    if recent:
        items = [i for i in items if i[0] >= now_ms - RECENT_MS or i[2]]
    if active:
        items = [i for i in items if i[2]]
        if not items:
            return '{"blocks":[],"message":"No active block"}'
    if token_limit in (None, "", "max"):
        limit = int(largest) if largest > 0 else None
    else:
        limit = int(token_limit or 0)
    given = limit if token_limit is not None else None
    fragments = []
    for item in items:
        if item[4] is not None:
            fragments.append(item[4])
        else:
            block = item[5]
            fragments.append(render_block(block.state(), block.is_gap, item[2], now_ms, given))
    if not fragments:
        return '{\n  "blocks": []\n}'
    return '{\n  "blocks": [\n' + ",\n".join(fragments) + "\n  ]\n}"
