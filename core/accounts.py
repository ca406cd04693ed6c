"""The Claude accounts this machine runs work on (NIGHTSHIFT_ACCOUNTS), each its own config directory.

An account is a Claude login with its own logs, 5-hour windows and weekly limits: Claude Code
keeps all of them under its config directory, so a run on an account gets that directory as
CLAUDE_CONFIG_DIR, the usage monitor reads that directory's logs and login, and a limit met
on it pauses only it. A task's session lives in the account that started it, so a paused or
continuing task resumes there.

Without NIGHTSHIFT_ACCOUNTS there is one account, Claude's own (CLAUDE_CONFIG_DIR as set),
named "default" (on a shared queue: after the machine, whose sessions it holds). An account's
`key` is what the queue stores: on a shared queue it names the machine too, as two machines'
accounts of one name are two logins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.models import iso
from core.settings import Settings

if TYPE_CHECKING:
    from core.store.store import Store
    from core.usage.monitor import LimitState, UsageMonitor

DEFAULT_ACCOUNT = "default"


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    key: str
    """Written on tasks and runs: unique across the machines sharing a queue."""
    config_dir: Path | None
    """None: Claude's own (whatever CLAUDE_CONFIG_DIR the daemon has)."""

    def settings_for(self, settings: Settings) -> Settings:
        """The settings with this account's config directory as Claude's (monitor, endpoint login)."""
        if self.config_dir is None:
            return settings
        return settings.model_copy(update={"claude_config_dir": [self.config_dir]})

    def child_env(self) -> dict[str, str]:
        """What a run on this account adds to its allow-listed environment."""
        return {} if self.config_dir is None else {"CLAUDE_CONFIG_DIR": str(self.config_dir)}

    def kv_scope(self, settings: Settings) -> str:
        """The suffix of this account's own keys in the queue's key-value table.

        The one default account of a machine alone keeps the plain keys (a database from before
        accounts reads as it did)."""
        machine = f"@{settings.node}" if settings.shared_queue else ""
        return machine + ("" if self.config_dir is None else f"/{self.name}")


def accounts(settings: Settings) -> tuple[Account, ...]:
    """This machine's accounts, in the order NIGHTSHIFT_ACCOUNTS names them."""
    machine = f"{settings.node}/" if settings.shared_queue else ""
    if not settings.accounts:
        name = settings.node if settings.shared_queue else DEFAULT_ACCOUNT
        return (Account(name, settings.node if settings.shared_queue else DEFAULT_ACCOUNT, None),)
    return tuple(
        Account(name, machine + name, path.expanduser()) for name, path in settings.accounts.items()
    )


def find(found: tuple[Account, ...], key: str | None) -> Account | None:
    """The account with stored `key` (None: none, or one this machine no longer has)."""
    return next((a for a in found if a.key == key), None)


def usage_monitor(settings: Settings, store: Store, account: Account) -> UsageMonitor:
    """The usage monitor of one account: its logs, its login for the usage endpoint, its
    noted limits. Each extra account's scan cache is a file of its own (NIGHTSHIFT_HOME/
    accounts/NAME/): a scan forgets files outside its own logs."""
    from core.usage.config import UsageConfig
    from core.usage.endpoint import UsageEndpoint
    from core.usage.monitor import UsageMonitor

    scope = account.kv_scope(settings)
    if account.config_dir is None:
        return UsageMonitor(settings, store, kv_scope=scope)
    base = UsageConfig.from_settings(settings)
    config = base._replace(
        home=settings.home_dir / "accounts" / account.name,
        claude_config_dirs=(account.config_dir,),
        prices_file=base.price_file,
    )
    endpoint = UsageEndpoint(
        settings.usage_api_base_url,
        [account.config_dir / ".credentials.json"],  # this account's login, never another's
        enabled=settings.usage_api,
        cache_s=max(60.0, settings.usage_refresh_s),
    )
    return UsageMonitor(account.settings_for(settings), store, endpoint=endpoint, kv_scope=scope,
                        config=config)


def usage_monitors(
    settings: Settings, store: Store, here: Sequence[Account] | None = None
) -> dict[str, UsageMonitor]:
    """One usage monitor per account, by key, in the order the accounts are named."""
    return {account.key: usage_monitor(settings, store, account) for account in here or accounts(settings)}


def usage_total(states: Sequence[tuple[str, LimitState]], now: datetime) -> dict[str, Any]:
    """Every account's window added up: what `usage`, `/usage` and the summary show as the total."""
    open_ = [name for name, state in states
             if not (state.limited and state.resets_at is not None and state.resets_at > now)]
    capacity = [state.capacity_tokens for _, state in states]
    return {
        "accounts": len(states),
        "open": open_,
        "tokens_used": sum(state.tokens_used for _, state in states),
        "capacity_tokens": sum(c for c in capacity if c) if all(capacity) else None,
        "next_reset": iso(min((s.resets_at for _, s in states if s.resets_at and s.resets_at > now),
                              default=None)),
    }
