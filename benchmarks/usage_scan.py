"""Benchmark: `nightshift usage blocks --json` against ccusage on a large generated log tree.

Generates a Claude Code log tree of at least 250 MB and 400,000 lines (projects, session
files, sub-agent directories, assistant responses written 1-3 times, sidechains, synthetic
limit lines, a few broken lines, an active block at the end), then measures in this one run:

- cold scan: nightshift with an empty database vs ccusage 17.2.1 (and the native 20.x
  when it installs), each a full run of the command;
- re-scan after appending 1,000 lines: nightshift reads only the appended bytes; ccusage
  has no state, so its figure is its full scan of the same tree;
- peak memory (maximum resident set size, from /usr/bin/time).

Each figure is the median of `--repeat` runs. Prints the three ratios the issue sets
targets for (cold >= 1, re-scan >= 50, memory >= 3) and whether the outputs agree.

    .venv/bin/python benchmarks/usage_scan.py [--mb 260] [--lines 420000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import string
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NIGHTSHIFT = ROOT / ".venv" / "bin" / "nightshift"
CCUSAGE17 = ROOT / ".tools" / "ccusage" / "node_modules" / ".bin" / "ccusage"
TIME = Path("/usr/bin/time")
ALPHABET = string.ascii_letters + string.digits
MODELS = ("claude-sonnet-4-5-20250929", "claude-opus-4-5-20251101", "claude-haiku-4-5-20251001")


def _ts(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


class TreeWriter:
    """Writes lines shaped like Claude Code's (compact JSON, one object per line)."""

    def __init__(self, root: Path, seed: int = 7) -> None:
        self.root = root
        self.rng = random.Random(seed)
        self.lines = 0
        self.bytes = 0

    def _rid(self, n: int) -> str:
        return "".join(self.rng.choices(ALPHABET, k=n))

    def session_lines(self, start: datetime, count: int, session: str, sidechain: bool,
                      stop: datetime | None = None, pace_s: tuple[int, int] = (2, 90)) -> list[str]:
        """About `count` lines of one session from `start`, none after `stop`."""
        rng = self.rng
        out: list[str] = []
        moment = start
        base = {"parentUuid": None, "isSidechain": sidechain, "userType": "external",
                "cwd": "/home/dev/code/shop", "sessionId": session, "version": "2.1.197",
                "gitBranch": "main"}
        while len(out) < count:
            moment += timedelta(seconds=rng.randint(*pace_s))
            if stop is not None and moment > stop:
                break
            tool_output = "".join(rng.choices(ALPHABET + "     \n", k=rng.randint(80, 1400)))
            user = {**base, "type": "user", "message": {"role": "user", "content": [
                {"tool_use_id": "toolu_" + self._rid(20), "type": "tool_result", "content": tool_output}]},
                "uuid": self._rid(12), "timestamp": _ts(moment)}
            out.append(json.dumps(user, separators=(",", ":")))
            moment += timedelta(milliseconds=rng.randint(100, 1000 * pace_s[0]))
            message_id = "msg_01" + self._rid(22)
            request_id = "req_011C" + self._rid(18)
            usage = {"input_tokens": rng.randint(1, 400),
                     "cache_creation_input_tokens": rng.randint(0, 8000),
                     "cache_read_input_tokens": rng.randint(0, 60000),
                     "output_tokens": rng.randint(1, 2000), "service_tier": "standard"}
            model = MODELS[rng.randrange(3) if sidechain else rng.randrange(2)]
            # one row per content block, as Claude Code writes a response: same id + request id
            for _ in range(rng.choice((1, 1, 2, 3))):
                words = "".join(rng.choices(ALPHABET + " ", k=rng.randint(20, 500)))
                content = [{"type": "text", "text": words}]
                assistant = {**base, "type": "assistant", "message": {
                    "id": message_id, "type": "message", "role": "assistant", "model": model,
                    "content": content, "stop_reason": None, "stop_sequence": None, "usage": usage},
                    "requestId": request_id, "uuid": self._rid(12), "timestamp": _ts(moment)}
                out.append(json.dumps(assistant, separators=(",", ":")))
            if rng.random() < 0.0005:
                synthetic = {**base, "type": "assistant", "message": {
                    "id": self._rid(8), "type": "message", "role": "assistant", "model": "<synthetic>",
                    "content": [{"type": "text", "text": "You've hit your session limit · resets 3am"}],
                    "usage": {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0,
                              "cache_read_input_tokens": 0}},
                    "isApiErrorMessage": True, "uuid": self._rid(12), "timestamp": _ts(moment)}
                out.append(json.dumps(synthetic, separators=(",", ":")))
            if rng.random() < 0.0002:
                out.append('{"type":"assistant","message":{"id":"msg_broken","usage":{"input_tok')
        return out

    def write(self, path: Path, lines: list[str], mode: str = "w") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = "\n".join(lines) + "\n"
        with path.open(mode, encoding="utf-8") as handle:
            handle.write(text)
        self.lines += len(lines)
        self.bytes += len(text.encode())

    def generate(self, min_bytes: int, min_lines: int, end: datetime) -> list[Path]:
        """Sessions back to back, oldest first, the last one ending about an hour before `end`."""
        rng = self.rng
        sessions: list[tuple[Path, int]] = []
        estimated = 0
        index = 0
        while estimated < min_bytes * 1.02 or sum(c for _, c in sessions) < min_lines * 1.02:
            project = self.root / "projects" / f"-home-dev-code-p{index % 37}"
            session = f"{self._rid(8)}-{self._rid(4)}-{self._rid(4)}"
            count = rng.randint(300, 1600)
            if index % 9 == 4:
                path = project / session / "subagents" / f"agent-{self._rid(6)}.jsonl"
            else:
                path = project / f"{session}.jsonl"
            sessions.append((path, count))
            estimated += count * 1050
        # Lay the sessions over the weeks before `end`, in order, some overlapping.
        per_session = timedelta(hours=3)
        start = end - per_session * len(sessions) - timedelta(hours=1)
        files = []
        for n, (path, count) in enumerate(sessions):
            begin = start + per_session * n + timedelta(minutes=rng.randint(0, 90))
            # nothing after `end - 30 min`: the last block is active, and appends come later
            lines = self.session_lines(begin, count, path.stem, sidechain="subagents" in path.parts,
                                       stop=end - timedelta(minutes=30))
            self.write(path, lines)
            files.append(path)
        return files


    def generate_year(self, end: datetime, files: int = 1900, min_lines: int = 400_000,
                      days: int = 365) -> list[Path]:
        """A heavy user's year: about `files` sessions over `days` days, in bursts.

        Work comes in bursts of half an hour to a few hours, mostly separated by pauses
        longer than 5 hours, so the year has thousands of blocks and gaps (about 2,600 with
        the defaults), as a real year of daily use has; a few sessions are resumed in a new
        file that repeats the earlier responses (the duplicates ccusage deduplicates), and
        every fifth session has a sub-agent file beside it. The last burst ends half an hour
        before `end`, so the last block is active.
        """
        rng = self.rng
        periods: list[tuple[datetime, datetime]] = []
        moment = end - timedelta(days=days)
        stop = end - timedelta(minutes=30)
        while moment < stop:
            length = timedelta(minutes=rng.randint(15, 130))
            periods.append((moment, min(moment + length, stop)))
            pause = rng.randint(301, 340) if rng.random() < 0.85 else rng.randint(10, 240)
            moment += length + timedelta(minutes=pause)
        periods[-1] = (periods[-1][0], stop)
        # sessions: a main session per period, spread so that `files` files come out
        mains = max(1, round(files / 1.2))
        per_line = max(60, min_lines * 1.09 / files)
        out: list[Path] = []
        total_lines = 0
        previous: list[str] = []
        for n in range(mains):
            first, last = periods[min(len(periods) - 1, n * len(periods) // mains)]
            span_s = max(60, int((last - first).total_seconds()))
            project = self.root / "projects" / f"-home-dev-code-p{n % 41}"
            session = f"{self._rid(8)}-{self._rid(4)}-{self._rid(4)}"
            count = rng.randint(int(per_line * 0.4), int(per_line * 1.6))
            pace = max(2, int(span_s / (count / 2.75) * 0.7))
            lines = self.session_lines(first, count, session, sidechain=False, stop=last,
                                       pace_s=(max(1, pace // 3), pace * 5 // 3))
            if previous and rng.random() < 0.05:
                lines = previous[-20:] + lines  # resumed: the earlier responses again
            path = project / f"{session}.jsonl"
            self.write(path, lines)
            out.append(path)
            total_lines += len(lines)
            previous = lines
            if n % 5 == 2:  # a sub-agent beside the main session
                agent = project / session / "subagents" / f"agent-{self._rid(6)}.jsonl"
                sub = self.session_lines(first, count // 2, session, sidechain=True, stop=last,
                                         pace_s=(max(1, pace // 3), pace * 5 // 3))
                if sub:
                    self.write(agent, sub)
                    out.append(agent)
                    total_lines += len(sub)
        out.sort(key=lambda path: path.stat().st_mtime_ns)
        return out


@dataclass
class Measure:
    seconds: float
    peak_kb: int
    output: str


def run(argv: list[str], env: dict[str, str]) -> Measure:
    with tempfile.NamedTemporaryFile("r", suffix=".time") as stats:
        started = time.perf_counter()
        done = subprocess.run([str(TIME), "-f", "%M", "-o", stats.name, *argv], env=env,
                              capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
        peak = int(Path(stats.name).read_text().split()[-1])
    return Measure(seconds, peak, done.stdout)


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=260, help="minimum tree size in MB")
    parser.add_argument("--lines", type=int, default=420_000, help="minimum number of lines")
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
        now = datetime.now(UTC)
        started = time.perf_counter()
        files = writer.generate(args.mb << 20, args.lines, now)
        print(f"tree: {writer.bytes / 2**20:.0f} MB, {writer.lines:,} lines, {len(files)} files "
              f"(generated in {time.perf_counter() - started:.0f} s)")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NIGHTSHIFT_", "CLAUDE"))}
        env.update(CLAUDE_CONFIG_DIR=str(claude), TZ="UTC", HOME=str(work))
        ns = [str(NIGHTSHIFT), "usage", "blocks", "--json"]
        cc17 = [str(CCUSAGE17), "blocks", "--json", "--offline"]
        cc20 = [str(ccusage20), "claude", "blocks", "--json", "--offline"] if ccusage20 else None

        cold: list[Measure] = []
        rescan: list[Measure] = []
        full17: list[Measure] = []
        full20: list[Measure] = []
        home = work / "state"
        for attempt in range(args.repeat):
            shutil.rmtree(home, ignore_errors=True)
            cold.append(run(ns, {**env, "NIGHTSHIFT_HOME": str(home)}))
            full17.append(run(cc17, env))
            if cc20:
                full20.append(run(cc20, env))
            # append 1,000 lines to the newest sessions (as Claude Code does while you work),
            # then re-scan; three times per round, as re-scans are short and the machine noisy
            for _ in range(3):
                appended = 0
                for n, path in enumerate(files[-3:]):
                    begin = now - timedelta(minutes=29)
                    extra = writer.session_lines(begin, 400, path.stem, sidechain=False, pace_s=(1, 2),
                                                 stop=now - timedelta(minutes=1))
                    extra = extra[: 334 if n < 2 else 1000 - appended]
                    writer.write(path, extra, mode="a")
                    appended += len(extra)
                assert appended == 1000, appended
                rescan.append(run(ns, {**env, "NIGHTSHIFT_HOME": str(home)}))
            full17.append(run(cc17, env))
            if cc20:
                full20.append(run(cc20, env))
            agree = comparable(rescan[-1].output) == comparable(full17[-1].output)
            print(f"run {attempt + 1}: cold {cold[-1].seconds:.2f} s, re-scan {rescan[-1].seconds:.3f} s, "
                  f"ccusage17 {full17[-1].seconds:.2f} s"
                  + (f", ccusage20 {full20[-1].seconds:.2f} s" if full20 else "")
                  + f"; blocks agree with ccusage 17: {agree}")

        def report(name: str, reference: list[Measure]) -> None:
            ref_s = median([m.seconds for m in reference])
            ref_kb = median([m.peak_kb for m in reference])
            cold_s = median([m.seconds for m in cold])
            rescan_s = median([m.seconds for m in rescan])
            peak_kb = max(max(m.peak_kb for m in cold), max(m.peak_kb for m in rescan))
            print(f"\nvs {name}: full scan {ref_s:.2f} s, peak {ref_kb / 1024:.0f} MB")
            print(f"  nightshift cold scan  {cold_s:.2f} s   ratio {ref_s / cold_s:6.2f}x   (target >= 1)")
            print(f"  nightshift re-scan    {rescan_s:.3f} s  ratio {ref_s / rescan_s:6.1f}x   "
                  "(target >= 50)")
            print(f"  nightshift peak       {peak_kb / 1024:.0f} MB     ratio {ref_kb / peak_kb:6.2f}x   "
                  "(target >= 3)")

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
