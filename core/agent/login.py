"""Is Claude Code logged in? Judged from its files and the environment, never by a request.

Running `claude` (or calling the API) to find out would spend the window and leave files in
`~/.claude` (reference section 6), so `doctor` and the queue's login hold read only what a
login leaves behind: the OAuth credentials file, or a token in the environment.

The fingerprint is a hash of those credentials: the queue holds after a 401 until it changes
(the owner logged in again), without trying a single call meanwhile. Only the hash is kept.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.usage.endpoint import credentials_paths

TOKEN_VARIABLES = ("CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")
"""Environment variables that log the CLI in, strongest first (as Claude Code prefers them)."""
MAX_CREDENTIALS_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class LoginStatus:
    logged_in: bool
    method: str
    """How: `CLAUDE_CODE_OAUTH_TOKEN`, `ANTHROPIC_API_KEY`, a credentials file, or `none`."""
    detail: str
    """One line for people, never containing a secret."""
    fingerprint: str
    """sha256 over every credential found (empty when none): changes when the login changes."""


def _read(path: Path) -> bytes | None:
    try:
        with path.open("rb") as handle:
            return handle.read(MAX_CREDENTIALS_BYTES)
    except OSError:
        return None


def _oauth(raw: bytes) -> Mapping[str, Any] | None:
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    oauth = data.get("claudeAiOauth") if isinstance(data, dict) else None
    return oauth if isinstance(oauth, dict) else None


def login_status(config_dirs: Sequence[Path], home: Path, env: Mapping[str, str],
                 now: datetime) -> LoginStatus:
    """What the CLI would log in with, if anything; `now` judges an expired access token."""
    digest = hashlib.sha256()
    found: list[tuple[str, str]] = []  # (method, detail)
    for name in TOKEN_VARIABLES:
        value = env.get(name, "").strip()
        if value:
            digest.update(f"{name}\0{value}\0".encode())
            found.append((name, f"{name} is set (value not shown)"))
    for path in credentials_paths(config_dirs, home):
        raw = _read(path)
        if raw is None:
            continue
        digest.update(f"{path}\0".encode() + raw + b"\0")
        oauth = _oauth(raw)
        if oauth is None or not str(oauth.get("accessToken") or "").strip():
            found.append(("unreadable", f"{path} holds no OAuth token"))
            continue
        expires = oauth.get("expiresAt")
        refresh = str(oauth.get("refreshToken") or "").strip()
        if isinstance(expires, int | float) and not isinstance(expires, bool) and not refresh:
            when = datetime.fromtimestamp(expires / 1000, UTC)
            if when <= now:
                found.append(("expired", f"{path}: the OAuth login expired at {when:%Y-%m-%d %H:%M} UTC"))
                continue
        found.append(("credentials file", f"OAuth credentials in {path} (contents not shown)"))
    fingerprint = digest.hexdigest() if found else ""
    usable = [(m, d) for m, d in found if m not in ("unreadable", "expired")]
    if usable:
        method, detail = usable[0]
        return LoginStatus(True, method, detail, fingerprint)
    if found:
        return LoginStatus(False, found[0][0], found[0][1], fingerprint)
    return LoginStatus(False, "none", "no Claude Code login found (no credentials file, no token in the "
                       "environment; on macOS the login lives in the Keychain)", "")
