"""The one API every front calls: CLI, Telegram bot, inbox, daemon.

Fronts parse their own syntax and render their own replies; what a command *means* lives
here, so `/cancel 4` and `nightshift cancel 4` cannot drift apart. `Service` (`api`) is
made of parts with one job each: `tasks` (add, show, cancel, retry, the inbox),
`plan_review` (approve, revise, reject), `queue` (the pause), `permissions` (what Claude
was refused), `usage` (the window and the accounts), `reports` (metrics, charts, lessons),
over one `context` (settings, store, clock, the change listeners).
"""

from core.service.api import Service
from core.service.queue import QUEUE_PAUSED_KEY
from core.service.tasks import TaskDetail

__all__ = ["QUEUE_PAUSED_KEY", "Service", "TaskDetail"]
