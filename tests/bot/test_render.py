"""Reply texts: every user string escaped, times in the owner's zone, figures readable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from bot import render
from bot.text import visible_text
from core.models import Outcome, Plan, Priority, Run, RunKind, Task, TaskState, Tokens
from core.service import TaskDetail
from core.usage.monitor import LimitState

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 7, 14, 1, 5, tzinfo=UTC)
NASTY = st.lists(st.sampled_from([*"<>&\"' ab/", "</b>", "<i>", "&amp;"]), min_size=1,
                 max_size=10).map("".join).filter(lambda t: t.strip() == t and t != "")


def task(title: str, **kwargs: object) -> Task:
    values: dict[str, object] = {
        "id": 7, "title": title, "prompt": title, "state": TaskState.RUNNING,
        "priority": Priority.HIGH, "repo": None, "depends_on": (), "created_at": T0,
        "updated_at": T0,
    }
    values.update(kwargs)
    return Task(**values)  # type: ignore[arg-type]


def run(**kwargs: object) -> Run:
    values: dict[str, object] = {
        "id": 3, "task_id": 7, "iteration": 1, "kind": RunKind.WORK, "outcome": None,
        "session_id": None, "tokens": Tokens(1_000_000, 250_000), "cost_usd": 1.5,
        "num_turns": 4, "branch": "nightshift/7-fix", "worktree": None,
        "tmux_session": "ns-7-3", "log_path": None, "prompt_variant": None, "window_id": None,
        "scheduled_for": None, "started_at": T0, "finished_at": None,
    }
    values.update(kwargs)
    return Run(**values)  # type: ignore[arg-type]


@given(NASTY)
def test_user_strings_come_back_as_text_not_markup(title: str) -> None:
    detail = TaskDetail(task(title, check_cmd=title, repo=title, state_reason=title), [], [], [])
    plan = Plan(1, 7, 2, title, "draft", T0, suggested_check=title, comment=title)
    for markup in (render.task_line(task(title)), render.task_added(task(title)),
                   render.task_detail(detail, BERLIN, "sock"), render.plan_text(task(title), plan),
                   render.task_changed(task(title, state_reason=title), "Cancelled")):
        assert title in visible_text(markup)
        assert markup.count("<b>") == markup.count("</b>")


def test_a_running_task_shows_how_to_watch_it() -> None:
    detail = TaskDetail(task("fix"), [], [run()], [])
    text = render.task_detail(detail, BERLIN, "night<shift>")
    assert "watch: <code>tmux -L night&lt;shift&gt; attach -t ns-7-3</code>" in text
    assert "1.2M tokens, $1.50, started Tue 14 Jul 03:05 CEST" in text
    finished = render.run_line(run(outcome=Outcome.SUCCESS, finished_at=T0 + timedelta(minutes=75)),
                               BERLIN, "sock")
    assert "<b>success</b>" in finished and "1h15m" in finished and "attach" not in finished


def test_usage_with_figures_from_the_logs() -> None:
    state = LimitState(limited=False, kind="session", resets_at=T0, utilization=None,
                       source="logs", window_start=T0 - timedelta(hours=3),
                       tokens_used=1_200_000, burn_rate_per_min=12_000.0, projection=2_900_000,
                       capacity_tokens=2_600_000)
    text = render.usage_text(state.as_json(), BERLIN)
    assert text.splitlines() == [
        "<b>Usage</b>",
        "🟢 <b>not limited</b> (session window)",
        "window resets Tue 14 Jul 03:05 CEST",
        "window started Tue 14 Jul 00:05 CEST",
        "used 1.2M tokens (46%) of about 2.6M",
        "burning 12k tokens/min, 2.9M by the reset",
        "<i>source: logs</i>",
    ]


def test_queue_pages_are_clamped() -> None:
    tasks = [task(f"t{i}", id=i) for i in range(20)]
    page = render.queue_page(tasks, 9, None)
    assert (page.page, page.pages) == (2, 3) and [t.id for t in page.shown] == [16, 17, 18, 19]
    empty = render.queue_page([], 0, "dinner")
    assert "queue paused" in empty.text and "The queue is empty" in empty.text


def test_durations_and_token_counts() -> None:
    assert [render.duration(s) for s in (None, 5, 65, 3600 * 2 + 60)] == ["-", "5s", "1m05s", "2h01m"]
    assert [render.tokens(n) for n in (None, 999, 12_345, 3_400_000)] == ["-", "999", "12k", "3.4M"]
