"""The limit message Claude Code prints when a usage window is exhausted, read into a reset time.

The wording drifted across CLI releases (reference sections 4 and 7) and tools that matched
one wording stopped waiting when a new one appeared. So this reads the message in two steps
that each tolerate drift: first *is this a limit* (a short list of statements, never the
warnings "You've used 90% …" / "Approaching …"), then *when does it reset* (an epoch after
`|`, or a wall-clock time with an optional date, year and IANA zone in parentheses, or a
date alone). A statement counts only where it opens the message or a line (after an
`API Error:` label or a bullet at most): prose that quotes a limit message ("…when Claude
Code prints "5-hour limit reached ∙ resets 3pm" the queue pauses…") is no limit.

An organisation's spending limit ("You've hit your org's monthly usage limit") is a limit
too, but a `hard` one: it does not lift when a window resets, so its reset is only an
estimate (the next period) and the owner must be told.

Hand-written rather than a date library: dateutil's fuzzy parser would happily read a
time out of any prose, and the rule "a time without a date is its next occurrence in the
message's zone" is not something a general parser does.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.log import event

LIMIT_KINDS = ("session", "weekly", "opus", "sonnet", "extra", "org", "unknown")

FALLBACK_WINDOW = timedelta(hours=5)
"""Used only when a limit is certain but its reset time is not given (see `LimitHit.estimated`)."""


@dataclass(frozen=True)
class LimitHit:
    """A limit that is in force: which window (`kind`), when it reopens, and the text seen.

    `estimated` is True when the text named no reset time and `resets_at` is a guess
    (now + 5 h; for a date without a time that is today, the day's end; for an organisation's
    limit, the next period); the monitor replaces a 5-hour guess with a better source.
    """

    kind: str
    resets_at: datetime
    text: str
    estimated: bool = False

    @property
    def hard(self) -> bool:
        """An organisation's limit (kind `org`): it does not lift by itself. A property of the
        kind, so it survives every path that keeps only the kind (runs, the daemon's pause)."""
        return self.kind == "org"

    def summary(self, zone: tzinfo | None = None) -> str:
        """One line for people (the run's verdict, the owner's messages), times in `zone`."""
        when = (self.resets_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if zone
                else self.resets_at.isoformat())
        if self.hard:
            return (f"usage limit of your organisation ({self.text}): it does not lift by itself; "
                    f"raise it or wait (estimated reset {when})")
        return f"usage limit ({self.kind}); resets {when}"


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

# Where a statement may start: the start of the message or of a line, then at most a
# bullet or quote mark and an error label ("API Error: You've hit your session limit …").
_OPENING = r"^[ \t]*(?:[>*\-•●⎿│|]+[ \t]*)?(?:(?:api\s+)?error:\s*)?"
_EPOCH = re.compile(_OPENING + r"(?:claude\s+(?:ai\s+)?)?usage limit reached\s*\|\s*(?P<epoch>\d{9,13})\b",
                    re.IGNORECASE | re.MULTILINE)

# Statements that mean "you are limited now". Qualifier words name the window.
_WORD = r"(?:(?:5|five)-hour|session|weekly|opus|sonnet|usage|extra)"
_QUALIFIER = r"(?P<q>" + _WORD + r"(?:\s+" + _WORD + r")?)"
_PERIOD = r"(?:(?P<period>daily|weekly|monthly)\s+)?"
_LIMIT_STATEMENTS = tuple(re.compile(_OPENING + pattern, re.IGNORECASE | re.MULTILINE) for pattern in (
    r"you'?ve\s+(?:hit|reached|exceeded)\s+your\s+(?P<org>org(?:anization|anisation)?'?s?)\s+" + _PERIOD
    + r"(?:usage\s+|spend(?:ing)?\s+)?limit\b",
    r"you'?ve\s+(?:hit|reached|exceeded)\s+your\s+(?:" + _QUALIFIER + r"\s+)?limit\b",
    r"you'?re\s+out\s+of\s+(?P<q>extra)\s+usage\b",
    r"(?:claude\s+(?:ai\s+)?)?" + _QUALIFIER + r"\s+limit\s+reached\b",
))

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
    r"(?:(?P<mon>" + _MONTH_RE + r")\.?\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(?P<year>\d{4})\b)?"
    r",?\s*(?:at\s+)?)?"
    r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?\s*(?P<ampm>[ap]\.?\s?m\b\.?)?"
    r"(?:\s*\((?P<zone>[^()]{1,64})\))?",
    re.IGNORECASE,
)
_RESET_DAY = re.compile(
    r"\breset(?:s)?(?:\s+on)?\s+(?P<mon>" + _MONTH_RE + r")\.?\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?"
    r"(?:,?\s+(?P<year>\d{4}))?\b(?!\s*(?:,\s*)?(?:at\s+)?\d)(?:\s*\((?P<zone>[^()]{1,64})\))?",
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


_reported_zones: set[str] = set()


def _zone(name: str | None, local_tz: tzinfo) -> tzinfo:
    if not name:
        return local_tz
    name = name.strip()
    if name.upper() in ("UTC", "GMT", "Z"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # An unknown zone name must not turn a limit into "not limited"; the owner's zone is
        # the best remaining reading (and what the CLI means when it prints no zone). Said
        # once per name: the monitor reads the same limit line on every tick.
        if name not in _reported_zones and len(_reported_zones) < 100:
            _reported_zones.add(name)
            event("limit message names an unknown time zone; read in the owner's zone", logging.WARNING,
                  logger="usage", zone=name, owner_zone=str(local_tz))
        return local_tz


def _wall(day: date, at: time, zone: tzinfo) -> datetime:
    """`day at` in `zone`, as an aware UTC datetime (a time in a DST gap moves forward)."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def _dated(match: re.Match[str], at: time, zone: tzinfo, now: datetime) -> datetime | None:
    """The moment of a reset given with a month and day (and maybe a year) at `at`."""
    month = _MONTHS[match["mon"].lower()]
    day_of_month = int(match["day"])
    local_now = now.astimezone(zone)
    year = local_now.year
    years = [int(match["year"])] if match["year"] else [year - 1, year, year + 1]
    options = []
    for year in years:
        try:
            options.append(_wall(date(year, month, day_of_month), at, zone))
        except (ValueError, OverflowError):
            continue  # Feb 29 in a common year
    if not options:
        return None
    # No year printed: the reading closest to now (a weekly reset is days away; an old
    # message read late must not jump a year ahead).
    return min(options, key=lambda moment: abs(moment - now))


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
    if match["mon"]:
        return _dated(match, at, zone, now)
    local_now = now.astimezone(zone)
    # Reset times have minute precision: "3pm" read at 15:00:40 is now, not tomorrow.
    now_minute = now.astimezone(UTC).replace(second=0, microsecond=0)
    candidate = _wall(local_now.date(), at, zone)
    if candidate < now_minute:
        candidate = _wall(local_now.date() + timedelta(days=1), at, zone)
    return candidate


def _resolve_day(match: re.Match[str], now: datetime, local_tz: tzinfo) -> tuple[datetime, bool] | None:
    """A reset given as a date alone (`resets Oct 24`): the start of that day in the zone;
    if that has passed (the day is today) the reset is later today, so its end, estimated."""
    zone = _zone(match["zone"], local_tz)
    start = _dated(match, time(0, 0), zone, now)
    if start is None:
        return None
    if start > now:
        return start, False
    end = _wall(start.astimezone(zone).date() + timedelta(days=1), time(0, 0), zone)
    return (end, True) if end > now else (start, False)


def _next_period(period: str | None, now: datetime, local_tz: tzinfo) -> datetime:
    """When an organisation's limit period ends (a guess: the owner's zone, calendar periods)."""
    local = now.astimezone(local_tz)
    if period == "daily":
        day = local.date() + timedelta(days=1)
    elif period == "weekly":
        day = local.date() + timedelta(days=7 - local.weekday())
    else:  # monthly, or not said: spending limits are set per month
        day = date(local.year + (local.month == 12), local.month % 12 + 1, 1)
    return _wall(day, time(0, 0), local_tz)


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def parse_limit_message(text: str, now: datetime, local_tz: tzinfo) -> LimitHit | None:
    """Read a limit message; None for warnings, unrelated prose, or a limit-free text.

    `now` must be aware. A reset time without a date is its next occurrence in the
    message's zone (`local_tz` when the message names none).
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    if not text:
        return None
    folded = text.translate(_FOLD)
    epoch = _EPOCH.search(folded)
    if epoch:
        seconds = int(epoch["epoch"])
        if seconds > 10**11:  # milliseconds
            seconds //= 1000
        return LimitHit("unknown", datetime.fromtimestamp(seconds, UTC), text.strip())
    statement = None
    for pattern in _LIMIT_STATEMENTS:
        found = pattern.search(folded)
        if found and (statement is None or found.start() < statement.start()):
            statement = found
    if statement is None:
        return None
    groups = statement.groupdict()
    hard = bool(groups.get("org"))
    kind = "org" if hard else _kind(groups.get("q"))
    tail = _normalise(folded[statement.end():])
    estimated = False
    reset = _RESET.search(tail)
    resets_at = _resolve(reset, now, local_tz) if reset else None
    if resets_at is None:
        day = _RESET_DAY.search(tail)
        resolved = _resolve_day(day, now, local_tz) if day else None
        if resolved is not None:
            resets_at, estimated = resolved
    if resets_at is None:
        relative = _RESET_IN.search(tail)
        if relative and (relative["h"] or relative["m"]):
            resets_at = now.astimezone(UTC) + timedelta(
                hours=int(relative["h"] or 0), minutes=int(relative["m"] or 0)
            )
    if resets_at is None:
        guess = _next_period(groups.get("period"), now, local_tz) if hard \
            else now.astimezone(UTC) + FALLBACK_WINDOW
        return LimitHit(kind, guess, text.strip(), estimated=True)
    return LimitHit(kind, resets_at, text.strip(), estimated=estimated)
