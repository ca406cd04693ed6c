"""`core/` is the engine; `bot/` is one front. The engine must never depend on a front."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("bot", "telegram")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_core_sources_never_import_bot_or_telegram() -> None:
    offenders = []
    for path in sorted((ROOT / "core").rglob("*.py")):
        for name in imported_modules(path):
            if name.split(".")[0] in FORBIDDEN:
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_importing_all_of_core_loads_no_bot_or_telegram() -> None:
    code = (
        "import pkgutil, importlib, sys, core\n"
        "for m in pkgutil.walk_packages(core.__path__, 'core.'):\n"
        "    if m.name != 'core.demo.fake_claude': importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('bot', 'telegram'))\n"
        "print(bad)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_checker_sees_an_offending_import(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("from bot.handlers import x\nimport telegram.ext\n")
    assert {n.split(".")[0] for n in imported_modules(sample)} == {"bot", "telegram"}


SCHEDULER_HOME = Path("core/daemon/timers.py")
"""The one module that may import APScheduler: "what runs when" is read in one file, and time
math elsewhere stays pure functions of `now` (core/scheduling/cron.py is its own crontab)."""


def test_only_the_timers_import_apscheduler() -> None:
    importers = sorted(
        path.relative_to(ROOT)
        for top in ("core", "bot")
        for path in (ROOT / top).rglob("*.py")
        if any(name.split(".")[0] == "apscheduler" for name in imported_modules(path))
    )
    assert importers == [SCHEDULER_HOME]


def test_the_checker_sees_apscheduler_imported_inside_a_function(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("def f():\n    from apscheduler.triggers.cron import CronTrigger\n"
                      "    return CronTrigger\n")
    assert imported_modules(sample) == {"apscheduler.triggers.cron"}


LOG_METHODS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "log"}
LOGGING_HOME = Path("core/log.py")
"""The one module that calls the logging methods: everywhere else logs `event(name, **fields)`,
so every line has a name and fields a filter can use (issue 17)."""


def prose_log_calls(path: Path) -> list[int]:
    """Lines calling a logging method on a logger (`log.info(...)`, `getLogger(x).warning(...)`,
    `logging.error(...)`) rather than `event(...)`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    lines = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in LOG_METHODS):
            continue
        owner = node.func.value
        text = ast.unparse(owner).lower()
        if "log" in text.rsplit(".", 1)[-1] or "getlogger" in text:
            lines.append(node.lineno)
    return lines


def test_logging_goes_through_events_with_fields() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for top in ("core", "bot")
        for path in sorted((ROOT / top).rglob("*.py"))
        if path.relative_to(ROOT) != LOGGING_HOME
        for line in prose_log_calls(path)
    ]
    assert offenders == []


def test_the_checker_sees_prose_logging(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("import logging\nlog = logging.getLogger(__name__)\nlog.info('started %s', 3)\n"
                      "logging.getLogger('x').warning('oops')\nlogging.error('bad')\n"
                      "self._log.exception('boom')\nevent('started', task=3)\nitems.log(2)\n")
    assert prose_log_calls(sample) == [3, 4, 5, 6]
