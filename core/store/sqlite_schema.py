"""The SQLite schema as data: every step from an empty file to today's tables, in order.

Apart from the runner (`migrations`) so the schema reads as what it is, a list of versioned
DDL, and mirrors `pg_schema` step for step: a change to the tables is one new step here and
one of the same version there. Steps are never edited once released; a database applies each
one once, in a transaction with the row that records it.
"""

from __future__ import annotations

from core.store.schema_step import SchemaStep, sql_statements

MIGRATIONS: tuple[SchemaStep, ...] = (
    SchemaStep(1, "tasks, dependencies and the event log", sql_statements("""
        CREATE TABLE tasks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            title TEXT NOT NULL,
            prompt TEXT NOT NULL,
            repo TEXT,
            priority INTEGER NOT NULL,
            state TEXT NOT NULL,
            needs_plan INTEGER NOT NULL DEFAULT 1,
            check_cmd TEXT,
            max_iterations INTEGER,
            max_minutes REAL,
            max_budget_usd REAL,
            tags TEXT NOT NULL DEFAULT '[]',
            attempts INTEGER NOT NULL DEFAULT 0,
            session_id TEXT,
            source TEXT NOT NULL DEFAULT 'cli',
            source_ref TEXT UNIQUE,
            state_reason TEXT,
            resume_after TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX tasks_claim ON tasks (state, priority, created_at, id);
        CREATE TABLE task_deps (
            task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
            depends_on INTEGER NOT NULL REFERENCES tasks(id),
            PRIMARY KEY (task_id, depends_on)
        ) WITHOUT ROWID;
        CREATE INDEX task_deps_reverse ON task_deps (depends_on);
        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            task_id INTEGER REFERENCES tasks(id),
            run_id INTEGER,
            from_state TEXT,
            to_state TEXT,
            reason TEXT,
            data TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX events_task ON events (task_id, id);
        CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
        CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only'); END
    """)),
    SchemaStep(2, "plans, runs, notification outbox, key-value state", sql_statements("""
        CREATE TABLE plans (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            task_id INTEGER NOT NULL REFERENCES tasks(id),
            version INTEGER NOT NULL,
            body TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'draft',
            size TEXT,
            estimate_tokens INTEGER,
            suggested_check TEXT,
            comment TEXT,
            run_id INTEGER,
            created_at TEXT NOT NULL,
            UNIQUE (task_id, version)
        );
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            task_id INTEGER NOT NULL REFERENCES tasks(id),
            iteration INTEGER NOT NULL DEFAULT 1,
            kind TEXT NOT NULL DEFAULT 'work',
            outcome TEXT,
            session_id TEXT,
            tokens_input INTEGER NOT NULL DEFAULT 0,
            tokens_output INTEGER NOT NULL DEFAULT 0,
            tokens_cache_creation INTEGER NOT NULL DEFAULT 0,
            tokens_cache_read INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            num_turns INTEGER NOT NULL DEFAULT 0,
            branch TEXT,
            worktree TEXT,
            tmux_session TEXT,
            log_path TEXT,
            prompt_variant TEXT,
            window_id TEXT,
            scheduled_for TEXT,
            started_at TEXT,
            finished_at TEXT,
            exit_code INTEGER,
            final_text TEXT,
            summary TEXT,
            check_output TEXT,
            extra TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX runs_task ON runs (task_id, id);
        CREATE INDEX runs_open ON runs (finished_at) WHERE finished_at IS NULL;
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at TEXT NOT NULL,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT,
            last_error TEXT,
            sent_at TEXT
        );
        CREATE INDEX outbox_pending ON outbox (id) WHERE sent_at IS NULL;
        CREATE TABLE kv (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
    """)),
    # One notification can become several Telegram messages (long text split, photo + text,
    # several recipients); `delivered` counts those already accepted so a restart resumes
    # after them instead of sending them twice.
    SchemaStep(3, "outbox delivery progress", sql_statements("""
        ALTER TABLE outbox ADD COLUMN delivered INTEGER NOT NULL DEFAULT 0
    """)),
    SchemaStep(4, "self-improvement: run analyses, lessons, estimates, style stats, adjustments",
               sql_statements("""
        CREATE TABLE run_analyses (
            run_id INTEGER PRIMARY KEY REFERENCES runs(id),
            task_id INTEGER NOT NULL REFERENCES tasks(id),
            outcome TEXT NOT NULL,
            findings TEXT NOT NULL DEFAULT '[]',
            tags TEXT NOT NULL DEFAULT '[]',
            repo TEXT,
            prompt_variant TEXT,
            started_at TEXT,
            finished_at TEXT NOT NULL,
            analyzed_at TEXT NOT NULL
        );
        CREATE INDEX run_analyses_finished ON run_analyses (finished_at);
        CREATE TABLE lessons (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            pattern TEXT NOT NULL,
            scope_kind TEXT NOT NULL,
            scope TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'proposed',
            text TEXT NOT NULL,
            evidence TEXT NOT NULL DEFAULT '[]',
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (pattern, scope_kind, scope)
        );
        CREATE TABLE estimates (
            dimension TEXT NOT NULL,
            key TEXT NOT NULL,
            metric TEXT NOT NULL,
            value REAL NOT NULL,
            variance REAL NOT NULL DEFAULT 0,
            samples INTEGER NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (dimension, key, metric)
        ) WITHOUT ROWID;
        CREATE TABLE estimate_samples (
            task_id INTEGER PRIMARY KEY REFERENCES tasks(id),
            finished_at TEXT NOT NULL,
            tokens INTEGER NOT NULL,
            minutes REAL NOT NULL,
            predicted_tokens REAL,
            predicted_minutes REAL,
            keys TEXT NOT NULL DEFAULT '[]'
        );
        CREATE INDEX estimate_samples_finished ON estimate_samples (finished_at);
        CREATE TABLE style_stats (
            style TEXT PRIMARY KEY,
            runs INTEGER NOT NULL DEFAULT 0,
            successes INTEGER NOT NULL DEFAULT 0,
            failures INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE adjustments (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            knob TEXT NOT NULL,
            scope TEXT NOT NULL,
            old_value TEXT,
            new_value TEXT,
            reason TEXT NOT NULL,
            evidence TEXT NOT NULL DEFAULT '[]'
        );
        CREATE INDEX adjustments_at ON adjustments (at)
    """)),
    # Version 3, planned for these tables, was taken by the outbox. The scanner keeps what it
    # read so a re-scan reads only appended bytes (core/usage/scanner.py explains each column).
    # A later migration that changes a usage_* table must bump USAGE_SCHEMA_VERSION in
    # core/usage/stored.py (the `usage blocks` fast path migrates only databases older than it).
    SchemaStep(5, "usage scanner: per-file read state, parsed usage entries, block cache", sql_statements("""
        CREATE TABLE usage_files (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            path TEXT NOT NULL UNIQUE,
            dev INTEGER NOT NULL,
            inode INTEGER NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            offset INTEGER NOT NULL,
            tail_check TEXT NOT NULL DEFAULT '',
            min_ts_ms INTEGER,
            lines INTEGER NOT NULL DEFAULT 0,
            malformed INTEGER NOT NULL DEFAULT 0,
            pending_bytes INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE usage_entries (
            id INTEGER PRIMARY KEY,
            file_id INTEGER NOT NULL REFERENCES usage_files(id),
            offset INTEGER NOT NULL,
            provisional INTEGER NOT NULL DEFAULT 0,
            ts_ms INTEGER NOT NULL,
            hash TEXT,
            winner INTEGER NOT NULL DEFAULT 1,
            input_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            cache_creation_tokens INTEGER NOT NULL,
            cache_read_tokens INTEGER NOT NULL,
            cost REAL NOT NULL,
            logged_cost REAL,
            model TEXT,
            reset_ms INTEGER,
            limit_text TEXT,
            UNIQUE (file_id, offset)
        );
        CREATE INDEX usage_entries_time ON usage_entries (ts_ms) WHERE winner = 1;
        CREATE INDEX usage_entries_hash ON usage_entries (hash) WHERE winner = 1 AND hash IS NOT NULL;
        CREATE INDEX usage_entries_limits ON usage_entries (ts_ms) WHERE limit_text IS NOT NULL;
        CREATE TABLE usage_blocks (
            seq INTEGER PRIMARY KEY,
            start_ms INTEGER NOT NULL,
            is_gap INTEGER NOT NULL,
            total_tokens INTEGER NOT NULL,
            body TEXT NOT NULL
        );
        CREATE TABLE usage_state (
            key TEXT PRIMARY KEY,
            value TEXT
        )
    """)),
    # Mirrors the PostgreSQL step of the same version (core/store/pg_schema.py). On SQLite
    # there is one daemon, but the tables are the same so one contract holds for both.
    SchemaStep(6, "several machines: daemons with heartbeats, the node holding a task, leases",
               sql_statements("""
        CREATE TABLE nodes (
            name TEXT PRIMARY KEY,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            started_at TEXT NOT NULL,
            heartbeat_at TEXT NOT NULL,
            accounts TEXT NOT NULL DEFAULT '[]',
            repos TEXT NOT NULL DEFAULT '[]'
        );
        ALTER TABLE tasks ADD COLUMN node TEXT;
        CREATE INDEX tasks_node ON tasks (node) WHERE node IS NOT NULL;
        CREATE TABLE leases (
            name TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            acquired_at TEXT NOT NULL
        )
    """)),
    # The usage tables are a cache of what the logs say: they are rebuilt, and the next scan
    # reads the logs again. Entries are keyed by (file, offset) without a rowid (the key the
    # scanner addresses them by), with no foreign key (checked per row, and the scanner
    # deletes a file's rows itself); `estimated` marks a cost priced by the model's family;
    # a cached block keeps its first entry's time, where a recomputation restarts.
    SchemaStep(7, "usage scanner: entries by file and offset, first copy per file, estimated costs, restarts",
               sql_statements("""
        DROP TABLE IF EXISTS usage_blocks;
        DROP TABLE IF EXISTS usage_entries;
        DROP TABLE IF EXISTS usage_files;
        DELETE FROM usage_state;
        CREATE TABLE usage_files (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            path TEXT NOT NULL UNIQUE,
            dev INTEGER NOT NULL,
            inode INTEGER NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            offset INTEGER NOT NULL,
            tail_check TEXT NOT NULL DEFAULT '',
            min_ts_ms INTEGER,
            lines INTEGER NOT NULL DEFAULT 0,
            malformed INTEGER NOT NULL DEFAULT 0,
            pending_bytes INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE usage_entries (
            file_id INTEGER NOT NULL,
            offset INTEGER NOT NULL,
            provisional INTEGER NOT NULL DEFAULT 0,
            ts_ms INTEGER NOT NULL,
            key TEXT,
            winner INTEGER NOT NULL DEFAULT 1,
            input_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            cache_creation_tokens INTEGER NOT NULL,
            cache_read_tokens INTEGER NOT NULL,
            cost REAL NOT NULL,
            logged_cost REAL,
            estimated INTEGER NOT NULL DEFAULT 0,
            model TEXT,
            reset_ms INTEGER,
            limit_text TEXT,
            PRIMARY KEY (file_id, offset)
        ) WITHOUT ROWID;
        CREATE INDEX usage_entries_time ON usage_entries (ts_ms) WHERE winner = 1;
        CREATE INDEX usage_entries_key ON usage_entries (key) WHERE key IS NOT NULL;
        CREATE INDEX usage_entries_limits ON usage_entries (ts_ms) WHERE limit_text IS NOT NULL;
        CREATE TABLE usage_blocks (
            seq INTEGER PRIMARY KEY,
            start_ms INTEGER NOT NULL,
            first_ms INTEGER NOT NULL,
            is_gap INTEGER NOT NULL,
            total_tokens INTEGER NOT NULL,
            body TEXT NOT NULL
        )
    """)),
    # Mirrors the PostgreSQL step of the same version (core/store/pg_schema.py).
    SchemaStep(8, "several accounts: the account holding a task's session, the account of each run",
               sql_statements("""
        ALTER TABLE tasks ADD COLUMN account TEXT;
        ALTER TABLE runs ADD COLUMN account TEXT
    """)),
)
