"""The weekly retrospective of a fixture week, checked against numbers worked out by hand.

Week 2026-W41 (Mon 5 Oct - Sun 11 Oct, UTC), against 2026-W40:

  W40  task D  run 1  Tue 29 Sep  success       10 min  4000 tokens  direct             done
  W41  task A  run 2  Mon 01:00   check_failed  20 min  1000 tokens  direct  (tests)
               run 3  Mon 02:00   success       30 min  3000 tokens  plan-test-verify   done
       task B  run 4  Tue 01:00   success       10 min  2000 tokens  direct             done
       task C  run 5  Wed 01:00   limit         15 min   500 tokens  direct
               run 6  Wed 07:00   error          5 min   500 tokens  plan-test-verify   failed

W41 by hand: done 2, failed 1, completion 2/3 = 67 %; 5 runs, 7000 tokens; tokens per
completed task 7000/2 = 3.5k; run success (the limit is neutral) 2 of 4 = 50 %; retries
(A had 2 attempts, B 1, C 1: the limit burns none) 1/3 = 0.33; windows w1 (runs 2, 3),
w2, w3, w4 with capacity 8000: utilization mean(0.5, 0.25, 0.0625, 0.0625) = 22 %;
completed per window 2/4 = 0.50; latency of the scheduled runs 2 (60 s) and 4 (120 s):
median 90 s.
Estimates fold D, A, B in finish order: A (#auth, never seen) is predicted from D through
the `all` key (4000 tokens, 10 min) against 4000 / 50 min: errors 0 and 0.8; B (#docs) from
D's tag (4000 tokens, 10 min) against 2000 / 10 min: errors 1.0 and 0. MAPE this week:
tokens (0 + 1.0) / 2 = 50 %, minutes (0.8 + 0) / 2 = 40 %.
W40: done 1, completion 100 %, 1 run, 4000 tokens, run success 100 %, utilization 50 %.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.errors import InvalidInput
from core.improve.adjustments import Adjustment, Knob
from core.improve.learning import learn
from core.improve.retro import IsoWeek, metric_rows, render_retro, write_retro
from core.improve.storage import ImproveStore
from core.models import Outcome, TaskState
from core.settings import Settings, load_settings
from core.store.store import Store
from tests.fakes.notifier import RecordingNotifier
from tests.improve import logs
from tests.improve.history import add_run, add_task, end_task

W41 = IsoWeek(2026, 41)
NOW = datetime(2026, 10, 12, 9, 0, tzinfo=UTC)


def day(d: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 9 if d > 20 else 10, d, hour, minute, tzinfo=UTC)


@pytest.fixture
def utc_settings(settings: Settings) -> Settings:
    return load_settings(env_file=None, tz="UTC", window_capacity_tokens=8000)


async def fixture_weeks(store: Store, tmp_path: object) -> None:
    d = await add_task(store, day(29, 1), tags=["docs"])
    await add_run(store, d.id, day(29, 1), minutes=10, outcome=Outcome.SUCCESS, tokens=4000,
                  variant="direct", window="w0")
    await end_task(store, d.id, TaskState.DONE, day(29, 1, 10))

    a = await add_task(store, day(5, 0), tags=["auth"], check="pytest")
    await add_run(store, a.id, day(5, 1), minutes=20, outcome=Outcome.CHECK_FAILED, tokens=1000,
                  variant="direct", window="w1", scheduled=day(5, 0, 59),
                  check_output="FAILED tests/test_a.py::test_x\n1 failed")
    await add_run(store, a.id, day(5, 2), minutes=30, outcome=Outcome.SUCCESS, tokens=3000,
                  variant="plan-test-verify", window="w1")
    await end_task(store, a.id, TaskState.DONE, day(5, 2, 30))

    b = await add_task(store, day(6, 0), tags=["docs"])
    await add_run(store, b.id, day(6, 1), minutes=10, outcome=Outcome.SUCCESS, tokens=2000,
                  variant="direct", window="w2", scheduled=day(6, 0, 58))
    await end_task(store, b.id, TaskState.DONE, day(6, 1, 10))

    c = await add_task(store, day(7, 0), tags=["ui"])
    await add_run(store, c.id, day(7, 1), minutes=15, outcome=Outcome.LIMIT, tokens=500,
                  variant="direct", window="w3")
    await add_run(store, c.id, day(7, 7), minutes=5, outcome=Outcome.ERROR, tokens=500,
                  variant="plan-test-verify", window="w4", log_dir=tmp_path,  # type: ignore[arg-type]
                  log_lines=[logs.tool_result("bash: rg: command not found", is_error=True),
                             logs.result("error_during_execution", is_error=True)])
    await end_task(store, c.id, TaskState.FAILED, day(7, 7, 5))


async def test_a_fixture_week_has_the_hand_computed_numbers(
    store: Store, utc_settings: Settings, tmp_path: object
) -> None:
    await fixture_weeks(store, tmp_path)
    await learn(store, utc_settings, NOW)
    change = Adjustment(Knob.TIME_LIMIT, "migrations", 60.0, 90.0,
                        "2 runs tagged 'migrations' timed out: time limit 60 → 90 min", day(8, 3))
    await ImproveStore(store.db).add_adjustments([change])

    notifier = RecordingNotifier()
    retro, path, sent = await write_retro(store, utc_settings, NOW, notifier=notifier)
    assert retro.week == W41 and sent
    assert path == utc_settings.brain_dir / "retros" / "2026-W41.md"
    assert path.stat().st_mode & 0o777 == 0o600

    this, last = retro.this, retro.last
    assert (this.metrics.tasks_done, this.metrics.tasks_failed, this.metrics.runs) == (2, 1, 5)
    assert this.metrics.tokens.total == 7000
    assert this.metrics.completion_rate == pytest.approx(2 / 3)
    assert this.metrics.tokens_per_completed_task == pytest.approx(3500)
    assert this.metrics.retry_rate == pytest.approx(1 / 3)
    assert this.metrics.utilization == pytest.approx((0.5 + 0.25 + 0.0625 + 0.0625) / 4)
    assert this.metrics.completed_per_window == pytest.approx(0.5)
    assert this.metrics.latency.median_s == pytest.approx(90)
    assert (this.run_successes, this.run_failures) == (2, 2)
    assert this.styles == {"direct": (1, 1), "plan-test-verify": (1, 1)}
    assert dict(this.patterns) == {"failing_tests": 1, "missing_tool": 1, "limit": 1}
    assert this.mape_tokens == pytest.approx(0.5)
    assert this.mape_minutes == pytest.approx(0.4)
    assert (last.metrics.tasks_done, last.metrics.runs, last.metrics.tokens.total) == (1, 1, 4000)
    assert last.run_success_rate == 1.0 and last.mape_tokens is None

    rows = {name: (a, b, c) for name, a, b, c in metric_rows(this, last)}
    assert rows["tasks done"] == ("2", "1", "+1")
    assert rows["completion rate"] == ("67%", "100%", "-33 pp")
    assert rows["tokens per completed task"] == ("3.5k", "4.0k", "-500")
    assert rows["run success (check passing)"] == ("50%", "100%", "-50 pp")
    assert rows["window utilization"] == ("22%", "50%", "-28 pp")
    assert rows["reset-to-start latency (median)"] == ("90s", "-", "-")
    assert rows["estimate error, tokens (MAPE)"] == ("50%", "-", "-")
    assert rows["estimate error, minutes (MAPE)"] == ("40%", "-", "-")

    note = path.read_text()
    assert note.startswith("---\nkind: retro\nweek: 2026-W41\nfrom: 2026-10-05\nto: 2026-10-11\n")
    assert "| completion rate | 67% | 100% | -33 pp |" in note
    # direct: 1 of 2 this week (the limit is neutral); all time 4 runs, 2 successes of 3 decided.
    assert "| direct | 1/2 | 4 | 67% | " in note and "| plan-test-verify | 1/2 | 2 | 50% | " in note
    assert "time_limit `migrations`: 2 runs tagged 'migrations' timed out" in note
    assert "| missing tool | 1 | 0 |" in note and "| failing tests | 1 | 0 |" in note

    assert [n.kind for n in notifier.sent] == ["retro"]
    assert notifier.sent[0].text.startswith("Week 2026-W41: 2 done, 1 failed (last week 1 / 0).")
    # Written again: same note, no second message.
    again, _, sent_again = await write_retro(store, utc_settings, NOW + timedelta(hours=1),
                                             notifier=notifier)
    assert not sent_again and len(notifier.sent) == 1
    assert render_retro(again, NOW) == render_retro(retro, NOW)


def test_iso_weeks_parse_and_cut_local_time() -> None:
    from zoneinfo import ZoneInfo

    assert str(IsoWeek.parse("2026-W01")) == "2026-W01"
    assert IsoWeek(2026, 1).previous() == IsoWeek(2025, 52)
    berlin = ZoneInfo("Europe/Berlin")
    start, end = IsoWeek(2026, 13).bounds(berlin)  # summer time starts on Sunday 29 March
    assert (start.isoformat(), end.isoformat()) == (
        "2026-03-23T00:00:00+01:00", "2026-03-30T00:00:00+02:00"
    )
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(days=7) - timedelta(hours=1)
    assert IsoWeek.of(datetime(2026, 3, 29, 22, 30, tzinfo=UTC), berlin) == IsoWeek(2026, 14)
    for bad, message in (("2026-13", "must look like"), ("2026-W54", "no ISO week 54")):
        with pytest.raises(InvalidInput, match=message):
            IsoWeek.parse(bad)
