"""The limit message Claude Code prints when a usage window is exhausted, read into a reset time.

The wording drifted across CLI releases (reference section 4) and tools that matched one
wording stopped waiting when a new one appeared. So this reads the message in two steps
that each tolerate drift: first *is this a limit* (a short list of statements, never the
warnings "You've used 90% …" / "Approaching …"), then *when does it reset* (an epoch after
`|`, or a wall-clock time with an optional date and an optional IANA zone in parentheses).

Hand-written rather than a date library: dateutil's fuzzy parser would happily read a
time out of any prose, and the rule "a time without a date is its next occurrence in the
message's zone" is not something a general parser does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LIMIT_KINDS = ("session", "weekly", "opus", "sonnet", "extra", "unknown")

FALLBACK_WINDOW = timedelta(hours=5)
"""Used only when a limit is certain but its reset time is not given (see `LimitHit.estimated`)."""


@dataclass(frozen=True)
class LimitHit:
    """A limit that is in force: which window (`kind`), when it reopens, and the text seen.

    `estimated` is True when the text named no reset time and `resets_at` is a pessimistic
    guess (now + 5 h); the monitor replaces it with a better source when it has one.
    """

    kind: str
    resets_at: datetime
    text: str
    estimated: bool = False


# Typography Claude Code uses or has used: curly apostrophes, two kinds of middle dot, a
# narrow no-break space before am/pm. Everything is folded to plain ASCII-ish text first.
_FOLD = str.maketrans(
    {
        "\u2019": "'",
        "\u2018": "'",
        "\u02bc": "'",
        "\u2032": "'",
        "\u00b7": "·",
        "\u2219": "·",
        "\u22c5": "·",
        "\u2022": "·",
        "\u202f": " ",
        "\u00a0": " ",
        "\u2009": " ",
        "\u2007": " ",
        "\u200a": " ",
    }
)

_EPOCH = re.compile(r"usage limit reached\s*\|\s*(?P<epoch>\d{9,13})\b", re.IGNORECASE)

# Statements that mean "you are limited now". Qualifier words name the window.
_WORD = r"(?:(?:5|five)-hour|session|weekly|opus|sonnet|usage|extra)"
_QUALIFIER = r"(?P<q>" + _WORD + r"(?:\s+" + _WORD + r")?)"
_LIMIT_STATEMENTS = (
    re.compile(r"\byou'?ve\s+(?:hit|reached|exceeded)\s+your\s+(?:" + _QUALIFIER + r"\s+)?limit\b",
               re.IGNORECASE),
    re.compile(r"\byou'?re\s+out\s+of\s+(?P<q>extra)\s+usage\b", re.IGNORECASE),
    re.compile(r"\b" + _QUALIFIER + r"\s+limit\s+reached\b", re.IGNORECASE),
)

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))

_RESET = re.compile(
    r"\breset(?:s)?(?:\s+(?:at|on))?\s+"
    r"(?:(?P<mon>" + _MONTH_RE + r")\.?\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?,?\s*(?:at\s+)?)?"
    r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?\s*(?P<ampm>[ap]\.?\s?m\b\.?)?"
    r"(?:\s*\((?P<zone>[^()]{1,64})\))?",
    re.IGNORECASE,
)
_RESET_IN = re.compile(
    r"\bresets?\s+in\s+(?:(?P<h>\d{1,3})\s*h(?:ours?|rs?)?)?\s*(?:(?P<m>\d{1,2})\s*m(?:in(?:utes?)?)?)?",
    re.IGNORECASE,
)


def _kind(qualifier: str | None) -> str:
    words = (qualifier or "").lower()
    for word, kind in (("opus", "opus"), ("sonnet", "sonnet"), ("extra", "extra"),
                       ("weekly", "weekly"), ("hour", "session"), ("session", "session")):
        if word in words:
            return kind
    return "unknown"


def _zone(name: str | None, local_tz: tzinfo) -> tzinfo:
    if not name:
        return local_tz
    name = name.strip()
    if name.upper() in ("UTC", "GMT", "Z"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # An unknown zone name must not turn a limit into "not limited"; local time is the
        # best remaining reading (and what the CLI means when it prints no zone).
        return local_tz


def _wall(day: date, at: time, zone: tzinfo) -> datetime:
    """`day at` in `zone`, as an aware UTC datetime (a time in a DST gap moves forward)."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def _resolve(match: re.Match[str], now: datetime, local_tz: tzinfo) -> datetime | None:
    hour = int(match["hour"])
    minute = int(match["minute"] or 0)
    ampm = (match["ampm"] or "").lower().replace(".", "").replace(" ", "")
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    elif match["minute"] is None:
        return None  # a bare number ("resets 5") is not a time
    if hour > 23 or minute > 59:
        return None
    zone = _zone(match["zone"], local_tz)
    at = time(hour, minute)
    local_now = now.astimezone(zone)
    # Reset times have minute precision: "3pm" read at 15:00:40 is now, not tomorrow.
    now_minute = now.astimezone(UTC).replace(second=0, microsecond=0)
    if match["mon"]:
        month = _MONTHS[match["mon"].lower()]
        day_of_month = int(match["day"])
        options = []
        for year in (local_now.year - 1, local_now.year, local_now.year + 1):
            try:
                options.append(_wall(date(year, month, day_of_month), at, zone))
            except ValueError:
                continue  # Feb 29 in a common year
        if not options:
            return None
        # No year is printed: the reading closest to now (a weekly reset is days away; an
        # old message read late must not jump a year ahead).
        return min(options, key=lambda moment: abs(moment - now))
    candidate = _wall(local_now.date(), at, zone)
    if candidate < now_minute:
        candidate = _wall(local_now.date() + timedelta(days=1), at, zone)
    return candidate


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.translate(_FOLD))


def parse_limit_message(text: str, now: datetime, local_tz: tzinfo) -> LimitHit | None:
    """Read a limit message; None for warnings, unrelated prose, or a limit-free text.

    `now` must be aware. A reset time without a date is its next occurrence in the
    message's zone (`local_tz` when the message names none).
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    if not text:
        return None
    flat = _normalise(text)
    epoch = _EPOCH.search(flat)
    if epoch:
        seconds = int(epoch["epoch"])
        if seconds > 10**11:  # milliseconds
            seconds //= 1000
        return LimitHit("unknown", datetime.fromtimestamp(seconds, UTC), text.strip())
    statement = None
    for pattern in _LIMIT_STATEMENTS:
        found = pattern.search(flat)
        if found and (statement is None or found.start() < statement.start()):
            statement = found
    if statement is None:
        return None
    kind = _kind(statement.groupdict().get("q"))
    tail = flat[statement.end():]
    reset = _RESET.search(tail)
    resets_at = _resolve(reset, now, local_tz) if reset else None
    if resets_at is None:
        relative = _RESET_IN.search(tail)
        if relative and (relative["h"] or relative["m"]):
            resets_at = now.astimezone(UTC) + timedelta(
                hours=int(relative["h"] or 0), minutes=int(relative["m"] or 0)
            )
    if resets_at is None:
        return LimitHit(kind, now.astimezone(UTC) + FALLBACK_WINDOW, text.strip(), estimated=True)
    return LimitHit(kind, resets_at, text.strip())
