"""Benchmark: `nightshift usage blocks --json` against ccusage 17 and 20 on a generated log tree.

Shapes (benchmarks/usage_tree.py): `year` (default) is a heavy user's year, about 1,900
session files, 400,000 lines, 255,000 usage lines and 2,600 blocks; `burst` is the earlier
shape (sessions back to back, few blocks, at least `--mb` MB). Measured in this one run:

- cold scan: nightshift with an empty database vs ccusage 17.2.1 and the native 20.0.24,
  each a full run of the command (ccusage has no state: every run is a full scan);
- re-scan after appending 1,000 lines to the newest sessions, and re-scan with nothing new,
  against the floor a poll on its own cannot beat: an interpreter that starts and stats
  every file; both with no daemon (the command scans by itself) and with `nightshift run`
  going (the daemon answers the poll: core.usage.serve), its own usage job set to hourly
  so that the poll, not a tick in between, reads the new lines;
- the daemon's monitor tick (in this process: scan and blocks, as `UsageMonitor.refresh`
  does) after 100 appended lines and with nothing new;
- peak memory: the largest sum of the resident sets of the command and its child processes
  (sampled from /proc), next to /usr/bin/time's largest single process.

Each figure is the median of `--repeat` rounds; ratios are against references measured in
the same run (the issue's targets: cold >= 1x ccusage 20, re-scan >= 100x, memory >= 5x).

    .venv/bin/python benchmarks/usage_scan.py [--shape year|burst] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from usage_tree import TreeWriter

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
NIGHTSHIFT = ROOT / ".venv" / "bin" / "nightshift"
CCUSAGE17 = ROOT / ".tools" / "ccusage" / "node_modules" / ".bin" / "ccusage"
TIME = Path("/usr/bin/time")
STAT_EVERY_FILE = ("import os,sys\nstack=[sys.argv[1]]\nwhile stack:\n for e in os.scandir(stack.pop()):\n"
                   "  stack.append(e.path) if e.is_dir() else e.stat()\n")


@dataclass
class Measure:
    seconds: float
    cpu_s: float
    """User and system time of the command and its child processes."""
    peak_kb: int
    """Largest sum of resident sets over the process and its children."""
    single_peak_kb: int
    """/usr/bin/time: the largest single process."""
    output: str


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(name))
    return tree


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as handle:
            for line in handle:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree_rss_kb(root: int) -> int:
    children = _children()
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _rss_kb(pid)
        stack.extend(children.get(pid, ()))
    return total


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(argv: list[str], env: dict[str, str]) -> Measure:
    with tempfile.NamedTemporaryFile("r", suffix=".time") as stats:
        cpu_before = _children_cpu_s()
        started = time.perf_counter()
        process = subprocess.Popen([str(TIME), "-f", "%M %U %S", "-o", stats.name, *argv], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        peak = 0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.wait(0.01):
                peak = max(peak, _tree_rss_kb(process.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        out, err = process.communicate()
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
        if process.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({process.returncode}): {err[-2000:]!r}")
        single = Path(stats.name).read_text().split()[-3]
    # CPU of the command and its children (microseconds, unlike /usr/bin/time's 10 ms steps)
    return Measure(seconds, _children_cpu_s() - cpu_before, max(peak, int(single)), int(single),
                   out.decode())


def median(values: list[float]) -> float:
    return statistics.median(values)


def comparable(text: str) -> list[tuple[object, ...]]:
    """The fields of each block that do not depend on the wall clock (or the 20.x model list)."""
    out = []
    for block in json.loads(text)["blocks"]:
        out.append((block["id"], block["startTime"], block["endTime"], block.get("actualEndTime"),
                    block["isGap"], block["entries"], block["totalTokens"],
                    round(block["costUSD"], 6), block["isActive"]))
    return out


def install_ccusage20(tools: Path) -> Path | None:
    """ccusage 20.x ships a native binary per platform; None when it does not install here."""
    binary = tools / "node_modules" / "@ccusage" / "ccusage-linux-x64" / "bin" / "ccusage"
    if not binary.exists():
        tools.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["npm", "install", "--prefix", str(tools), "--no-audit", "--no-fund",
                               "--silent", "ccusage@20.0.24"], capture_output=True, text=True, check=False)
        if done.returncode != 0 or not binary.exists():
            return None
    binary.chmod(0o755)
    return binary


def append_lines(writer: TreeWriter, files: list[Path], after: datetime, count: int) -> datetime:
    """`count` lines at the end of the newest sessions, as Claude Code writes while you work:
    each session's new lines come after `after` (the previous append's last); returns the
    new last moment. The three sessions' lines interleave in time, as parallel sessions do."""
    appended = 0
    newest = files[-3:]
    last = after
    for n, path in enumerate(newest):
        share = count // len(newest) if n < len(newest) - 1 else count - appended
        extra = writer.session_lines(after, share + 50, path.stem, sidechain=False, pace_s=(1, 1))[:share]
        writer.write(path, extra, mode="a")
        appended += len(extra)
        stamp = datetime.fromisoformat(json.loads(extra[-1])["timestamp"].replace("Z", "+00:00"))
        last = max(last, stamp)
    assert appended == count, appended
    return last


def measure_daemon(ns: list[str], env: dict[str, str], home: Path, writer: TreeWriter, files: list[Path],
                   after: datetime, rounds: int) -> tuple[list[Measure], list[Measure], datetime]:
    """Polls while `nightshift run` is going: after 1,000 new lines, and with nothing new."""
    from core.usage.ask import socket_path

    daemon_env = {**env, "NIGHTSHIFT_USAGE_REFRESH_S": "3600"}
    daemon = subprocess.Popen([str(NIGHTSHIFT), "run"], env=daemon_env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    sock = Path(socket_path(str(home / "nightshift.db")))
    try:
        deadline = time.monotonic() + 120
        while not sock.exists():
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the daemon did not start: {daemon.stderr.read()[-2000:]!r}"
                                   if daemon.stderr else "the daemon did not start")
            time.sleep(0.05)
        run(ns, env)  # the daemon's first scan has caught up with the tree
        served, nothing = [], []
        for _ in range(rounds * 3):
            after = append_lines(writer, files, after, 1000)
            served.append(run(ns, env))
            nothing.append(run(ns, env))
        return served, nothing, after
    finally:
        daemon.terminate()
        daemon.wait(30)


def measure_ticks(env: dict[str, str], writer: TreeWriter, files: list[Path], after: datetime,
                  rounds: int) -> tuple[list[float], list[float], list[float]]:
    """The monitor's refresh, in this process (the daemon's tick): after 100 new lines, and
    idle; and the daemon's own share of a poll's answer after 1,000 new lines (read, stored,
    rendered), without a process to start."""
    os.environ.update(env)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.path.insert(0, str(ROOT))
    from core.settings import load_settings
    from core.store.store import Store
    from core.usage.monitor import UsageMonitor
    from core.usage.report import BlocksQuery

    async def ticks() -> tuple[list[float], list[float], list[float]]:
        cursor = after
        settings = load_settings(env_file=None)
        store = await Store.open(settings.db_path)
        monitor = UsageMonitor(settings, store)
        try:
            await monitor.refresh(datetime.now(UTC))
            after_appends, idle, answers = [], [], []
            for _ in range(rounds):
                cursor = append_lines(writer, files, cursor, 100)
                started = time.perf_counter()
                await monitor.refresh(datetime.now(UTC))
                after_appends.append(time.perf_counter() - started)
                started = time.perf_counter()
                await monitor.refresh(datetime.now(UTC))
                idle.append(time.perf_counter() - started)
            for _ in range(rounds):
                cursor = append_lines(writer, files, cursor, 1000)
                started = time.perf_counter()
                await monitor.worker.answer(BlocksQuery(), int(time.time() * 1000))
                answers.append(time.perf_counter() - started)
            return after_appends, idle, answers
        finally:
            await monitor.close()
            await store.close()

    return asyncio.run(ticks())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=("year", "burst"), default="year")
    parser.add_argument("--files", type=int, default=1900, help="year: session files")
    parser.add_argument("--mb", type=int, default=260, help="burst: minimum tree size in MB")
    parser.add_argument("--lines", type=int, default=None, help="minimum number of lines")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the generated tree")
    args = parser.parse_args()
    if not NIGHTSHIFT.exists():
        print(f"missing {NIGHTSHIFT}: run `uv sync` first", file=sys.stderr)
        return 2
    if not CCUSAGE17.exists():
        subprocess.run(["bash", str(ROOT / "scripts" / "install-ccusage.sh")], check=False)
    if not CCUSAGE17.exists():
        print("ccusage 17.2.1 is not installed (scripts/install-ccusage.sh failed)", file=sys.stderr)
        return 2
    ccusage20 = install_ccusage20(ROOT / ".tools" / "ccusage20")

    work = Path(tempfile.mkdtemp(prefix="ns-usage-bench-"))
    try:
        claude = work / "claude"
        writer = TreeWriter(claude)
        # The appends of the re-scans move forward in time (1,000 lines: about 6 minutes) up
        # to some minutes ago, in the open block: the logs end that far back (their last line
        # half an hour before). An entry in the future would make every answer a rebuild.
        appends = 6 * args.repeat + 6  # of 1,000 lines: without and with the daemon, in process
        cursor = datetime.now(UTC) - timedelta(minutes=appends * 6 + 15)
        end = cursor + timedelta(minutes=30)
        started = time.perf_counter()
        if args.shape == "year":
            files = writer.generate_year(end, files=args.files, min_lines=args.lines or 400_000)
        else:
            files = writer.generate(args.mb << 20, args.lines or 420_000, end)
        print(f"tree ({args.shape}): {writer.bytes / 2**20:.0f} MB, {writer.lines:,} lines, "
              f"{len(files)} files (generated in {time.perf_counter() - started:.0f} s)")
        # PYTHONDONTWRITEBYTECODE (set in some sandboxes) would make every run compile every
        # module again; an installed nightshift has its bytecode cached after the first run.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("NIGHTSHIFT_", "CLAUDE")) and k != "PYTHONDONTWRITEBYTECODE"}
        env.update(CLAUDE_CONFIG_DIR=str(claude), TZ="UTC", HOME=str(work), NIGHTSHIFT_USAGE_API="false")
        home = work / "state"
        ns_env = {**env, "NIGHTSHIFT_HOME": str(home)}
        ns = [str(NIGHTSHIFT), "usage", "blocks", "--json"]
        cc17 = [str(CCUSAGE17), "blocks", "--json", "--offline"]
        cc20 = [str(ccusage20), "claude", "blocks", "--json", "--offline"] if ccusage20 else None

        cold: list[Measure] = []
        rescan: list[Measure] = []
        nothing: list[Measure] = []
        floor: list[Measure] = []
        full17: list[Measure] = []
        full20: list[Measure] = []
        for attempt in range(args.repeat):
            shutil.rmtree(home, ignore_errors=True)
            cold.append(run(ns, ns_env))
            full17.append(run(cc17, env))
            if cc20:
                full20.append(run(cc20, env))
            for _ in range(3):  # re-scans are short and the machine noisy: three per round
                cursor = append_lines(writer, files, cursor, 1000)
                rescan.append(run(ns, ns_env))
            for _ in range(3):
                nothing.append(run(ns, ns_env))
                floor.append(run([str(PYTHON), "-c", STAT_EVERY_FILE, str(claude / "projects")], env))
            if cc20:
                full20.append(run(cc20, env))
            full17.append(run(cc17, env))
            agree = comparable(nothing[-1].output) == comparable(full17[-1].output)
            blocks = len(json.loads(nothing[-1].output)["blocks"])
            print(f"round {attempt + 1}: cold {cold[-1].seconds:.2f} s, re-scan {rescan[-1].seconds:.3f} s, "
                  f"nothing new {nothing[-1].seconds:.3f} s, ccusage17 {full17[-1].seconds:.2f} s"
                  + (f", ccusage20 {full20[-1].seconds:.2f} s" if full20 else "")
                  + f"; {blocks} blocks, equal to ccusage 17's: {agree}")
        served, served_nothing, cursor = measure_daemon(ns, ns_env, home, writer, files, cursor, args.repeat)
        after_appends, idle, answers = measure_ticks(ns_env, writer, files, cursor, 5)

        cold_s = median([m.seconds for m in cold])
        rescan_s = median([m.seconds for m in rescan])
        nothing_s = median([m.seconds for m in nothing])
        floor_s = median([m.seconds for m in floor])
        cpu = {name: median([m.cpu_s for m in runs]) for name, runs in
               (("cold", cold), ("rescan", rescan), ("nothing", nothing), ("floor", floor))}
        peak_kb = max(m.peak_kb for m in cold + rescan + nothing)
        single_kb = max(m.single_peak_kb for m in cold + rescan + nothing)
        print(f"\nnightshift (wall, cpu): cold {cold_s:.2f} s, {cpu['cold']:.2f} s; "
              f"re-scan after 1,000 lines {rescan_s * 1000:.0f} ms, {cpu['rescan'] * 1000:.0f} ms; "
              f"nothing new {nothing_s * 1000:.0f} ms, {cpu['nothing'] * 1000:.0f} ms; "
              f"peak {peak_kb / 1024:.0f} MiB all processes ({single_kb / 1024:.0f} MiB the largest one)")
        print(f"floor (interpreter start + stat of every file): {floor_s * 1000:.0f} ms, cpu "
              f"{cpu['floor'] * 1000:.0f} ms; nothing new / floor = {nothing_s / floor_s:.2f} "
              f"(cpu {cpu['nothing'] / cpu['floor']:.2f})")
        served_s = median([m.seconds for m in served])
        served_nothing_s = median([m.seconds for m in served_nothing])
        print(f"with the daemon running: re-scan after 1,000 lines {served_s * 1000:.0f} ms, "
              f"nothing new {served_nothing_s * 1000:.0f} ms (the daemon's own share after 1,000 lines, "
              f"in process: {median(answers) * 1000:.1f} ms)")
        print(f"monitor tick: after 100 new lines {median(after_appends) * 1000:.1f} ms, "
              f"nothing new {median(idle) * 1000:.1f} ms")

        def report(name: str, reference: list[Measure]) -> None:
            ref_s = median([m.seconds for m in reference])
            ref_cpu = median([m.cpu_s for m in reference])
            ref_kb = max(m.peak_kb for m in reference)
            print(f"\nvs {name}: full scan {ref_s:.2f} s (cpu {ref_cpu:.2f} s), peak {ref_kb / 1024:.0f} MiB"
                  "   [wall ratio, cpu ratio]")
            print(f"  cold scan              {ref_s / cold_s:7.2f}x {ref_cpu / cpu['cold']:7.2f}x  "
                  "(target >= 1)")
            print(f"  re-scan (1,000 lines)  {ref_s / rescan_s:7.1f}x {ref_cpu / cpu['rescan']:7.1f}x  "
                  "(target >= 100)")
            print(f"  re-scan (nothing new)  {ref_s / nothing_s:7.1f}x {ref_cpu / cpu['nothing']:7.1f}x")
            print(f"  with the daemon: re-scan (1,000 lines) {ref_s / served_s:7.1f}x  (target >= 100), "
                  f"nothing new {ref_s / served_nothing_s:7.1f}x")
            print(f"  monitor tick           {ref_s / median(after_appends):7.1f}x")
            print(f"  peak memory            {ref_kb / peak_kb:7.2f}x  (target >= 5)")

        report("ccusage 17.2.1", full17)
        if full20:
            report("ccusage 20.0.24 (native)", full20)
        else:
            print("\nccusage 20.x (native) did not install here; not measured")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
