"""Self-improvement: nightshift learns from its own runs and says why it changed anything.

What other parts use:

- `learn(store, settings, now)`: fold new runs and finished tasks in (idempotent); the
  daemon calls it after runs, the CLI before reports.
- `load_learned(store, settings) -> Learned`: a snapshot with pure methods
  `choose_style(task, now, rng)`, `lessons_for(task)`, `estimate_tokens(task)`,
  `estimate_minutes(task)`, `time_limit_minutes(task, default)`,
  `max_parallel(now, window_end, default)`.
- `render_prompt(style, task, plan, lessons)`: the run's prompt text in a style.
- `experiment_report(store, settings)`: per style runs, success rate, credible interval
  (for `stats --experiments` and `/stats`); `estimate_error(store)` for `stats`.
- `write_retro(...)`, `maybe_queue_meta_task(...)`, and `core.improve.sim.simulate(...)`.
"""

from __future__ import annotations

from core.improve.learning import Learned, LearnReport, decide_lesson, learn, load_learned
from core.improve.reports import EstimateError, StyleReport, estimate_error, experiment_report
from core.improve.styles import PromptStyle, render_prompt

__all__ = [
    "EstimateError",
    "LearnReport",
    "Learned",
    "PromptStyle",
    "StyleReport",
    "decide_lesson",
    "estimate_error",
    "experiment_report",
    "learn",
    "load_learned",
    "render_prompt",
]
