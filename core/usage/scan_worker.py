"""A reading process: decodes its share of the log files into a staging file of its own.

Started by `core.usage.parallel` as `python -m core.usage.scan_worker JOB.json` (a fresh
interpreter, not a fork: the daemon that starts it has threads and open databases); the
job is a JSON file in the scanner's private scratch folder. It touches no database but its
own file, and reports each file's outcome in that file; the parent attaches it when the
process has exited. A file that fails is recorded with its error and its rows dropped; the
others carry on.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

from core.usage import staging
from core.usage.prices import load_prices
from core.usage.reader import read_file
from core.usage.tree import FileRead

EXIT_PRICES_CHANGED = 3


def run(job: dict[str, Any]) -> int:
    prices = load_prices(Path(job["prices"]) if job.get("prices") else None)
    if prices.fingerprint != job["fingerprint"]:
        return EXIT_PRICES_CHANGED  # the table changed under the parent: it reads these itself
    conn = sqlite3.connect(job["db"], isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        staging.create(conn, "main")
        conn.execute("BEGIN")
        fast = bool(job["fast"])
        for slot, path, dev, inode, size, mtime_ns, start, min_ts in job["files"]:
            item = FileRead(path, dev, inode, size, mtime_ns, start, False, None, slot)
            item.min_ts_ms = min_ts
            try:
                read_file(item, prices, fast, lambda rows: staging.add_rows(conn, "main", rows))
            except Exception as exc:
                staging.drop_slot(conn, "main", slot)
                item.error = f"{type(exc).__name__}: {exc}"[:500]
            staging.add_outcome(conn, "main", item.outcome())
        conn.execute("COMMIT")
    finally:
        conn.close()
    return 0


def main() -> None:
    raise SystemExit(run(json.loads(Path(sys.argv[1]).read_text("utf-8"))))


if __name__ == "__main__":
    main()
