"""Log trees shaped like Claude Code's, for benchmarks/usage_scan.py.

Two shapes: `burst` (sessions back to back over a few weeks: few blocks, big files) and
`year` (a heavy user's year: about 1,900 session files in daily bursts, about 2,600 blocks
and gaps, which is what makes the block cache matter).
"""

from __future__ import annotations

import json
import random
import string
from datetime import datetime, timedelta
from pathlib import Path

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
