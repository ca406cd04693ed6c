"""Hostile inputs shared by the tests and `benchmarks/reliability.py`: the same code measures
what the tests assert.

`plant_hostile_files`: every kind of inbox file nightshift must refuse (links, FIFOs, hard
links, a 3 GB sparse file, a 311-byte YAML alias bomb, nesting, non-scalars, giants).
`import_with_heartbeat`: the inbox import while a heartbeat measures how long the event
loop ever stalled and a queue listing is asked for over and over.
`run_environments`: the environment of every process of a run (tmux server, launcher,
Claude, the check), looked for secrets.

    python -m tests.reliability.hostile hostile|benign COPIES   (prints one JSON line)
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.service import Service

# 311 bytes: seven levels of nine aliases each (9^7, about 4.8 million strings).
ALIAS_BOMB = (
    "---\n"
    'title: "a billion laughs"\n'
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "tags: [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "---\nbody\n"
)
SPARSE_BYTES = 3 * 1024**3
KINDS = ("symlink", "dangling", "fifo", "hardlink", "sparse", "bomb", "nested", "mapping", "giant_header",
         "binary")


def plant_hostile_files(inbox: Path, outside: Path, copies: int = 1) -> int:
    """`copies` of every hostile kind in `inbox`; `outside` is a file that must stay unread."""
    inbox.mkdir(parents=True, exist_ok=True)
    for i in range(copies):
        (inbox / f"symlink{i}.md").symlink_to(outside)
        (inbox / f"dangling{i}.md").symlink_to(inbox / f"nowhere{i}")
        os.mkfifo(inbox / f"fifo{i}.md")
        os.link(outside, inbox / f"hardlink{i}.md")
        with (inbox / f"sparse{i}.md").open("wb") as fh:
            fh.truncate(SPARSE_BYTES)
        (inbox / f"bomb{i}.md").write_text(ALIAS_BOMB)
        (inbox / f"nested{i}.md").write_text("---\ntitle: " + "[" * 500 + "]" * 500 + "\n---\nbody\n")
        (inbox / f"mapping{i}.md").write_text("---\ncheck: {run: make test}\n---\nbody\n")
        (inbox / f"giant_header{i}.md").write_text("---\ntitle: " + "x" * 200_000 + "\n---\nbody\n")
        (inbox / f"binary{i}.md").write_bytes(b"\xff\xfe" * 1000)
    return copies * len(KINDS)


def plant_benign_files(inbox: Path, count: int) -> int:
    inbox.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (inbox / f"task{i}.md").write_text(f"---\ntitle: task {i}\ntags: [a, b]\nplan: false\n---\n"
                                           f"Do thing {i}.\n" + "Details.\n" * 200)
    return count


@dataclass
class InboxRun:
    refused: int = 0
    imported: int = 0
    queue_answers: int = 0
    longest_stall_s: float = 0.0
    beats: int = 0
    seconds: float = 0.0
    reasons: list[str] = field(default_factory=list)


async def import_with_heartbeat(service: Service, interval_s: float = 0.01) -> InboxRun:
    """Import the inbox while a heartbeat ticks every `interval_s` and the queue is listed
    over and over; the longest gap between beats is how long the event loop ever stalled."""
    beats: list[float] = []
    stop = asyncio.Event()
    answers = 0

    async def heartbeat() -> None:
        while not stop.is_set():
            beats.append(time.monotonic())
            await asyncio.sleep(interval_s)

    async def queue_calls() -> None:
        nonlocal answers
        while not stop.is_set():
            await service.list()
            answers += 1
            await asyncio.sleep(interval_s)

    started = time.monotonic()
    tasks = [asyncio.create_task(heartbeat()), asyncio.create_task(queue_calls())]
    try:
        report = await service.import_inbox()
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    gaps = [later - earlier for earlier, later in itertools.pairwise(beats)]
    return InboxRun(refused=len(report.rejected), imported=len(report.imported), queue_answers=answers,
                    longest_stall_s=max(gaps, default=0.0), beats=len(beats),
                    seconds=time.monotonic() - started, reasons=[why for _, why in report.rejected])


async def _measure(kind: str, copies: int) -> dict[str, Any]:
    from core.settings import load_settings

    settings = load_settings(env_file=None)
    inbox = settings.brain_dir / "inbox"
    outside = settings.home_dir.parent / "outside-secret"
    outside.write_text("root:x:0:0:outside\n")
    planted = (plant_hostile_files(inbox, outside, copies) if kind == "hostile"
               else plant_benign_files(inbox, copies * len(KINDS)))
    service = await Service.open(settings)
    try:
        run = await import_with_heartbeat(service)
    finally:
        await service.close()
    maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"planted": planted, "refused": run.refused, "imported": run.imported,
            "queue_answers": run.queue_answers, "longest_stall_s": run.longest_stall_s,
            "seconds": run.seconds, "maxrss_kb": maxrss_kb,
            "outside_untouched": outside.read_text() == "root:x:0:0:outside\n"}


def measure_in_subprocess(kind: str, copies: int, env: dict[str, str]) -> dict[str, Any]:
    """One import in a fresh process (settings from `env`), so its peak memory is its own."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "tests.reliability.hostile", kind, str(copies)],
                          cwd=root, env=env, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the {kind} inbox import failed: {done.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- secrets in a run's processes ------------------------------------------------------------


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode("utf-8", "replace").split("\0") if "=" in item)


def leaks_in(env: dict[str, str], secrets: dict[str, str], where: str) -> list[str]:
    blob = "\0".join(f"{k}={v}" for k, v in env.items())
    return [f"{name} in {where}" for name, value in secrets.items()
            if name in env or (len(value) > 1 and value in blob)]


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 1 and int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _tmux(socket: str, *args: str) -> list[str]:
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True,
                          check=False).stdout.splitlines()


@dataclass
class SecretsReport:
    processes: int = 0
    leaks: list[str] = field(default_factory=list)


async def run_environments(
    socket: str, run_dir: Path, fake_claude: str, secrets: dict[str, str], pass_env: list[str],
) -> SecretsReport:
    """Start the fake CLI through the real tmux launcher as a run would, with `secrets` in our
    environment; read the environment of the tmux server, the launcher and the CLI while they
    are alive, tmux's global one, and a check's. Every secret found is a leak."""
    from core.abc import ProcessSpec
    from core.childenv import child_env
    from core.execution.check import run_check
    from core.execution.tmux import TmuxRunner

    saved = {name: os.environ.get(name) for name in secrets}
    os.environ.update(secrets)
    report = SecretsReport()
    runner = TmuxRunner(socket)
    try:
        run_dir.mkdir(parents=True, mode=0o700)
        spec = ProcessSpec(name="ns-env-1", argv=(fake_claude, "-p", "--output-format", "stream-json",
                                                  "--verbose", "--", "[fake: hang]"),
                           cwd=run_dir, env=child_env(pass_env), log_path=run_dir / "stream.jsonl",
                           run_dir=run_dir)
        handle = await runner.run(spec)
        launcher = handle.pid
        assert launcher is not None
        deadline = time.monotonic() + 60
        while not _children(launcher) and time.monotonic() < deadline:  # noqa: ASYNC110 - another process
            await asyncio.sleep(0.02)
        server = int(_tmux(socket, "display-message", "-p", "#{pid}")[0])
        claude = _children(launcher)
        for pid, where in [(server, "the tmux server"), (launcher, "the launcher"),
                           *((c, "Claude") for c in claude)]:
            report.leaks += leaks_in(environ_of(pid), secrets, where)
            report.processes += 1
        global_env = dict(line.split("=", 1) for line in _tmux(socket, "show-environment", "-g")
                          if "=" in line)
        report.leaks += leaks_in(global_env, secrets, "tmux's global environment")
        dump = run_dir / "check-env"
        await run_check(f"cat /proc/$$/environ > '{dump}'", run_dir, 60, env=child_env(pass_env))
        check_env = dict(item.split("=", 1) for item in dump.read_text().split("\0") if "=" in item)
        report.leaks += leaks_in(check_env, secrets, "the check")
        report.processes += 1
        await handle.kill(grace_s=1.0)
    finally:
        await runner.kill_server()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return report


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_measure(sys.argv[1], int(sys.argv[2])))))
