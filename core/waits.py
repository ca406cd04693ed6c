"""Why ready tasks wait, per account: the record `show`, `/task` and the window summary read.

With several accounts the dispatcher looks at each account's window in turn, and each look
knows only its own account: its budget plan, its model limits. So each look replaces only
that account's reasons, and a look on another account (or the same account's budget after
its model limits) leaves them be. The nightly cap is no account's: it holds them all, and
the next budget plan (made only once the cap no longer binds) ends it. A task that is no
longer ready loses its reasons at the next look; a look that finds nothing ready clears all.

The record keeps the reasons apart and, beside them, the flat view the readers show, one
text per task: with one account its reason as the budget or the model limit gave it, with
several `account work: …; account home: …` in the order the accounts are named. A record
from before accounts (`{"at", "waits"}`: a daemon upgraded mid-night) reads as its flat
view and is replaced at the next look.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.models import iso

WAITS_KEY = "budget.waits"
BUDGET = "budget"
MODELS = "models"
KINDS = (BUDGET, MODELS)
"""Who on an account gives a reason; a model limit's beats the budget's (the task cannot run
there at all, whatever the window has left)."""

Reasons = Mapping[int, str]


def _reasons(raw: object) -> dict[int, str]:
    """`{"12": "text"}` as kept in the store; anything else in it is dropped, never raised on."""
    if not isinstance(raw, Mapping):
        return {}
    found: dict[int, str] = {}
    for key, value in raw.items():
        if isinstance(value, str) and value and isinstance(key, str | int) and not isinstance(key, bool):
            try:
                found[int(key)] = value
            except ValueError:
                continue
    return found


def _stored(reasons: Reasons) -> dict[str, str]:
    return {str(task_id): reason for task_id, reason in sorted(reasons.items())}


@dataclass(frozen=True)
class Waits:
    every: Mapping[int, str] = field(default_factory=dict)
    """Reasons that hold every account at once (the nightly cap)."""
    accounts: Mapping[str, Mapping[str, Mapping[int, str]]] = field(default_factory=dict)
    """Account key -> who says it (`BUDGET`, `MODELS`) -> task id -> reason. No empty parts."""

    @classmethod
    def parse(cls, raw: object) -> Waits:
        """The record as kept; an old or damaged one gives no reasons (the next look writes anew)."""
        if not isinstance(raw, Mapping):
            return cls()
        accounts: dict[str, dict[str, dict[int, str]]] = {}
        by_account = raw.get("by_account")
        for key, parts in (by_account.items() if isinstance(by_account, Mapping) else ()):
            if not isinstance(key, str) or not isinstance(parts, Mapping):
                continue
            kept = {kind: r for kind in KINDS if (r := _reasons(parts.get(kind)))}
            if kept:
                accounts[key] = kept
        return cls(_reasons(raw.get("every")), accounts)

    @classmethod
    def everywhere(cls, reasons: Reasons) -> Waits:
        """Every account held for the same reasons: what each said before no longer counts."""
        return cls({i: r for i, r in reasons.items() if r}, {})

    def with_account(self, key: str, kind: str, reasons: Reasons, *,
                     ready: Collection[int] | None = None) -> Waits:
        """Account `key`'s `kind` reasons replaced by `reasons`; the others kept, except for
        tasks outside `ready` (when given: the tasks ready at this look, on any account).
        A budget plan ends the nightly cap's hold: it is made only when the cap does not bind."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind of wait reason: {kind!r}")
        accounts = {k: dict(parts) for k, parts in self.accounts.items()}
        accounts.setdefault(key, {})[kind] = {i: r for i, r in reasons.items() if r}
        every = {} if kind == BUDGET else dict(self.every)
        if ready is not None:
            keep = set(ready)
            every = {i: r for i, r in every.items() if i in keep}
            accounts = {k: {kind_: {i: r for i, r in part.items() if i in keep}
                            for kind_, part in parts.items()} for k, parts in accounts.items()}
        kept = {k: {c: part for c, part in parts.items() if part} for k, parts in accounts.items()}
        return Waits(every, {k: parts for k, parts in kept.items() if parts})

    @property
    def empty(self) -> bool:
        return not self.every and not self.accounts

    def flat(self, order: Sequence[str] = ()) -> dict[int, str]:
        """One text per task, as `show` and the phone say it.

        `order`: this machine's account keys as named; with more than one account (named or
        in the record) each reason says whose it is. Accounts not named here (another
        machine's, on a shared queue) come after, by key."""
        several = len(set(order) | set(self.accounts)) > 1
        keys = [k for k in order if k in self.accounts] + sorted(set(self.accounts) - set(order))
        said: dict[int, list[str]] = {i: [r] for i, r in self.every.items()}
        for key in keys:
            parts = self.accounts[key]
            merged = {**parts.get(BUDGET, {}), **parts.get(MODELS, {})}
            for task_id, reason in merged.items():
                if task_id not in self.every:
                    said.setdefault(task_id, []).append(f"account {key}: {reason}" if several else reason)
        return {task_id: "; ".join(texts) for task_id, texts in sorted(said.items())}

    def as_json(self, now: datetime, order: Sequence[str] = ()) -> dict[str, Any]:
        """The record as kept at the look of `now`: the reasons apart, and the flat view the
        readers show (`waits`)."""
        return {
            "at": iso(now),
            "every": _stored(self.every),
            "by_account": {key: {kind: _stored(part) for kind, part in parts.items()}
                           for key, parts in sorted(self.accounts.items())},
            "waits": _stored(self.flat(order)),
        }


def same_record(old: object, new: Mapping[str, Any]) -> bool:
    """`new` says what `old` says (the time of the look aside): no need to write it again."""
    if not isinstance(old, Mapping):
        return False
    return {k: v for k, v in old.items() if k != "at"} == {k: v for k, v in new.items() if k != "at"}


def waits_view(raw: object) -> dict[int, str]:
    """The flat view of any record the store may hold, new or from before accounts."""
    return _reasons(raw.get("waits")) if isinstance(raw, Mapping) else {}
