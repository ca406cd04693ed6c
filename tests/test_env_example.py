"""`.env.example` documents every setting, and its values are valid as written."""

from __future__ import annotations

import re
from pathlib import Path

from core.settings import Settings, env_name, load_settings

EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"


def documented() -> dict[str, str]:
    found = {}
    for line in EXAMPLE.read_text().splitlines():
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]+)=(.*)$", line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def test_every_setting_is_documented() -> None:
    names = {env_name(field) for field in Settings.model_fields}
    assert names - set(documented()) == set()


def test_every_documented_variable_exists() -> None:
    names = {env_name(field) for field in Settings.model_fields}
    assert set(documented()) - names == set()


def test_example_loads_as_a_dotenv(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(EXAMPLE.read_text())
    loaded = load_settings(env_file=env)
    assert loaded.max_iterations == 3 and loaded.permission_mode == "acceptEdits"
