"""Installing nightshift as a tool, and what `--version` and `--help` say.

The install test builds the wheel and installs it with `uv tool install` into folders of
its own, exactly as the README tells an owner to (pipx installs the same wheel the same
way), then runs the installed `nightshift` from another directory.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from core.cli.help import EVERYDAY

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent / "nightshift"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def uv() -> str:
    found = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    assert Path(found).exists(), "uv is missing: run scripts/bootstrap.sh"
    return found


def real_uv_cache() -> str:
    """The developer's uv cache (the tests' HOME is a temp folder): no downloads twice."""
    return os.environ.get("UV_CACHE_DIR") or str(Path(pwd.getpwuid(os.getuid()).pw_dir) / ".cache" / "uv")


def run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, **kwargs)  # type: ignore[call-overload, no-any-return]


def test_uv_tool_install_of_the_wheel_gives_a_working_nightshift(tmp_path: Path) -> None:
    env = {**os.environ, "UV_CACHE_DIR": real_uv_cache(), "UV_TOOL_DIR": str(tmp_path / "tools"),
           "UV_TOOL_BIN_DIR": str(tmp_path / "bin"), "UV_PYTHON": sys.executable}
    built = run([uv(), "build", "--wheel", "--out-dir", str(tmp_path / "dist"), str(ROOT)], env=env)
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "dist").glob("nightshift-*.whl")
    installed = run([uv(), "tool", "install", str(wheel)], env=env)
    assert installed.returncode == 0, installed.stderr
    tool = tmp_path / "bin" / "nightshift"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    version = run([str(tool), "--version"], cwd=elsewhere, env=env)
    assert version.returncode == 0 and version.stdout == f"nightshift {VERSION}\n"
    # The Telegram front and the simulated Claude come with it.
    python = tmp_path / "tools" / "nightshift" / "bin" / "python"
    front = run([str(python), "-c", "from importlib.metadata import entry_points;"
                 "print(entry_points(group='nightshift.fronts')['telegram'].load().__name__)"], env=env)
    assert front.stdout.strip() == "running_bot", front.stderr
    assert (tmp_path / "bin" / "nightshift-fake-claude").exists()


def test_version_and_help_lead_with_the_everyday_commands() -> None:
    version = run([str(BIN), "--version"])
    assert version.returncode == 0 and version.stdout == f"nightshift {VERSION}\n"
    listed = run([str(BIN), "--help"]).stdout
    commands = re.findall(r"^  (\w[\w-]*)\s{2,}", listed.split("Commands:", 1)[1], re.MULTILINE)
    assert commands[: len(EVERYDAY)] == list(EVERYDAY)
    assert set(commands) > set(EVERYDAY)  # the rest follow


def test_metavars_say_what_to_type() -> None:
    add = run([str(BIN), "add", "--help"]).stdout
    for option in ("--after ID", "--tag TAG", "--repo REPO", "--check CMD", "--title TEXT", "--at TIME",
                   "--max-usd USD", "--priority urgent|high|normal|low"):
        assert option in add, option
    for command in (["show"], ["revise"], ["usage", "blocks"], ["chart"], ["init"], ["run"]):
        text = run([str(BIN), *command, "--help"]).stdout
        assert not re.search(r"--[\w-]+ <|\{[a-z_]+\}|<list\[", text), (command, text)
