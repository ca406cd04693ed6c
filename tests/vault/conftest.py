from __future__ import annotations

import pytest

from core.settings import Settings, load_settings
from core.store.store import Store
from tests.metrics.history import Fixture, build_history


@pytest.fixture
def berlin_settings(settings: Settings) -> Settings:
    return load_settings(env_file=None, tz="Europe/Berlin")


@pytest.fixture
async def history(store: Store, berlin_settings: Settings) -> Fixture:
    return await build_history(store, berlin_settings)
