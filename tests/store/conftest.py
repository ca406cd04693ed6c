"""The store contract suite: every test here that takes `store` runs on both adapters.

As APScheduler 4's data store tests do, one parametrized fixture opens each adapter; a test
that holds on one engine and not the other is a bug in an adapter (or in shared SQL).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from core.settings import Settings
from core.store.store import Store

ADAPTERS = ("sqlite", "postgresql")


@pytest.fixture(params=ADAPTERS)
def adapter(request: pytest.FixtureRequest) -> str:
    return str(request.param)


Opener = Callable[[], Awaitable[Store]]


@pytest.fixture
def target(adapter: str, settings: Settings, request: pytest.FixtureRequest) -> str:
    """Where this test's database lives: a file path or a PostgreSQL URL."""
    return str(settings.db_path) if adapter == "sqlite" else str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def open_again(adapter: str, target: str) -> AsyncIterator[Opener]:
    """Opens another handle on this test's database, as a second process would."""
    opened: list[Store] = []

    async def open_one() -> Store:
        one = await (Store.open(Path(target)) if adapter == "sqlite" else Store.connect(target))
        opened.append(one)
        return one

    yield open_one
    for one in opened:
        await one.close()


@pytest.fixture
async def store(open_again: Opener) -> Store:
    return await open_again()
