"""Running tasks: tmux sessions, git worktrees, checks, the continuation loop, crash recovery.

The daemon builds one `Executor(settings, store, TmuxRunner(settings.tmux_socket), notifier)`
and awaits `execute(task)` for each claimed task; `reconcile()` once at start-up.
"""
