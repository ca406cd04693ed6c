"""`doctor` names each problem with its fix and never prints a secret."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent / "nightshift"


def doctor(env: dict[str, str]) -> tuple[int, dict[str, dict[str, object]], str]:
    done = subprocess.run([str(BIN), "doctor", "--json"], capture_output=True, text=True, env=env, timeout=60)
    text = subprocess.run([str(BIN), "doctor"], capture_output=True, text=True, env=env, timeout=60)
    return done.returncode, {c["name"]: c for c in json.loads(done.stdout)}, text.stdout + text.stderr


def test_missing_tmux_and_claude_are_reported_with_fixes(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    git = subprocess.run(["which", "git"], capture_output=True, text=True).stdout.strip()
    (bin_dir / "git").symlink_to(git)
    env = {**os.environ, "PATH": str(bin_dir), "NIGHTSHIFT_CLAUDE_BIN": "claude"}
    code, checks, text = doctor(env)
    assert code == 1
    assert checks["tmux"]["ok"] is False and "install tmux" in str(checks["tmux"]["fix"])
    assert checks["claude"]["ok"] is False and "NIGHTSHIFT_CLAUDE_BIN" in str(checks["claude"]["fix"])
    assert checks["git"]["ok"] is True
    assert "fix: install tmux" in text


def test_fake_claude_found_and_no_secrets_printed(tmp_path: Path) -> None:
    token = "123456789:AAH" + "s" * 32
    env = {
        **os.environ,
        "NIGHTSHIFT_CLAUDE_BIN": str(Path(sys.executable).parent / "nightshift-fake-claude"),
        "TELEGRAM_BOT_TOKEN": token,
        "TELEGRAM_ALLOWED_USERS": "42",
        "TELEGRAM_API_BASE_URL": "http://127.0.0.1:9/bot",  # nothing listens on port 9
    }
    code, checks, text = doctor(env)
    assert token not in text and token not in json.dumps(checks)
    assert checks["telegram api"]["ok"] is False
    assert "outbox" in str(checks["telegram api"]["fix"])
    assert checks["telegram"]["ok"] is True
    assert code == 1


def test_a_shared_queue_is_checked_without_showing_its_password(pg_url: str) -> None:
    code, checks, text = doctor({**os.environ, "NIGHTSHIFT_DATABASE_URL": pg_url})
    assert checks["shared queue"]["ok"] is True
    assert "empty: created on first use" in str(checks["shared queue"]["detail"])
    secret = "postgresql://ns:hunter2@127.0.0.1:9/nightshift"  # nothing listens on port 9
    code, checks, text = doctor({**os.environ, "NIGHTSHIFT_DATABASE_URL": secret})
    assert code == 1 and checks["shared queue"]["ok"] is False
    assert "NIGHTSHIFT_DATABASE_URL" in str(checks["shared queue"]["fix"])
    assert "hunter2" not in text and "hunter2" not in json.dumps(checks)
    assert "postgresql://ns:***@127.0.0.1:9/nightshift" in str(checks["shared queue"]["detail"])


def test_doctor_names_the_config_file_home_and_vault_it_uses(tmp_path: Path) -> None:
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "nightshift" / ".env"
    config.parent.mkdir(parents=True)
    config.write_text("NIGHTSHIFT_MAX_PARALLEL=2\n")
    _, checks, text = doctor(dict(os.environ))
    assert str(config) in str(checks["config"]["detail"])
    assert checks["home"]["detail"] == os.environ["NIGHTSHIFT_HOME"] and checks["home"]["ok"] is True
    assert checks["vault"]["detail"] == os.environ["NIGHTSHIFT_BRAIN"] and checks["vault"]["ok"] is True
    assert f"config       {config}" in text
    relative = {**os.environ, "NIGHTSHIFT_BRAIN": "brain"}
    _, checks, text = doctor(relative)
    assert checks["vault"]["ok"] is False and "(relative: brain)" in str(checks["vault"]["detail"])
    assert "nightshift init writes one" in text


def test_init_writes_absolute_paths_to_the_user_config_read_from_anywhere(tmp_path: Path) -> None:
    repo = tmp_path / "shop"
    repo.mkdir()
    start = tmp_path / "start"
    start.mkdir()
    env = {**os.environ, "NIGHTSHIFT_BRAIN": "notes/brain"}  # relative, as a new user might have
    done = subprocess.run([str(BIN), "init", "--yes", "--no-check", "--user", "42", "--repo", "shop=../shop"],
                          capture_output=True, text=True, env=env, cwd=start, timeout=60)
    assert done.returncode == 0, done.stderr
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "nightshift" / ".env"
    written = dict(line.split("=", 1) for line in config.read_text().splitlines() if "=" in line)
    assert written["NIGHTSHIFT_BRAIN"] == str(start / "notes" / "brain")
    assert written["NIGHTSHIFT_HOME"] == os.environ["NIGHTSHIFT_HOME"]
    assert written["NIGHTSHIFT_REPOS"] == f"shop={start / '..' / 'shop'}"
    assert Path(written["NIGHTSHIFT_REPOS"].split("=", 1)[1]).resolve() == repo
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    bare = {k: v for k, v in os.environ.items() if k not in ("NIGHTSHIFT_HOME", "NIGHTSHIFT_BRAIN")}
    listed = subprocess.run([str(BIN), "doctor", "--json"], capture_output=True, text=True, env=bare,
                            cwd=elsewhere, timeout=60)
    checks = {c["name"]: c for c in json.loads(listed.stdout)}
    assert checks["vault"]["detail"] == str(start / "notes" / "brain") and checks["vault"]["ok"] is True


def test_the_claude_version_login_and_sandbox_are_judged_without_a_request(tmp_path: Path) -> None:
    token = "sk-ant-oat01-" + "q" * 40
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("git", "tmux"):
        found = subprocess.run(["which", tool], capture_output=True, text=True).stdout.strip()
        if found:
            (bin_dir / tool).symlink_to(found)
    env = {**os.environ, "PATH": str(bin_dir), "HOME": str(tmp_path / "home"),
           "CLAUDE_CONFIG_DIR": str(tmp_path / "claude"), "CLAUDE_CODE_OAUTH_TOKEN": token,
           "NIGHTSHIFT_CLAUDE_BIN": str(Path(sys.executable).parent / "nightshift-fake-claude")}
    _, checks, text = doctor(env)
    assert checks["claude"]["ok"] is True
    assert "2.1.197 (older than the tested 2.1.332" in str(checks["claude"]["detail"])
    assert checks["claude login"]["ok"] is True
    assert "CLAUDE_CODE_OAUTH_TOKEN is set" in str(checks["claude login"]["detail"])
    assert token not in text and token not in json.dumps(checks)
    if sys.platform.startswith("linux"):  # bwrap and socat are not on this PATH
        assert checks["sandbox"]["ok"] is False
        assert "bubblewrap socat" in str(checks["sandbox"]["fix"])
    _, off, _ = doctor({**env, "NIGHTSHIFT_BASH_SANDBOX": "off"})
    assert off["sandbox"]["ok"] is True and "allow-list" in str(off["sandbox"]["detail"])
    _, logged_out, _ = doctor({k: v for k, v in env.items() if k != "CLAUDE_CODE_OAUTH_TOKEN"})
    assert logged_out["claude login"]["ok"] is False and "/login" in str(logged_out["claude login"]["fix"])


def test_each_account_is_checked(tmp_path: Path) -> None:
    work = tmp_path / "claude-work"
    work.mkdir()
    (work / ".credentials.json").write_text("{}")
    env = {**os.environ, "NIGHTSHIFT_ACCOUNTS": f"work={work},home={tmp_path / 'claude-home'}"}
    code, checks, _ = doctor(env)
    assert checks["account work"]["ok"] is True
    assert "login file found" in str(checks["account work"]["detail"])
    assert checks["account home"]["ok"] is False and code == 1
    assert f"CLAUDE_CONFIG_DIR={tmp_path / 'claude-home'} claude" in str(checks["account home"]["fix"])
