"""Files the owner sends with a task (photos, documents), kept where Claude can read them.

Each task has a private folder `$NIGHTSHIFT_HOME/attachments/task-<id>/`; a draft's files
wait in `attachments/draft-<id>/` and move there when it is queued. Names come from the
sender, so they are reduced to a safe basename; files are created 0600 with
`O_EXCL|O_NOFOLLOW` (never through a planted link, never over another file) and sizes are
checked before anything is written.
"""

from __future__ import annotations

import contextlib
import os
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path

from core import safefs
from core.errors import DiskWriteError, InvalidInput
from core.settings import Settings
from core.store.db import ensure_private_dir

MAX_NAME_CHARS = 80
ATTACHMENTS_HEADER = "Attached files (read each one; images included):"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def attachments_root(settings: Settings) -> Path:
    return settings.home_dir / "attachments"


def task_folder(settings: Settings, task_id: int) -> Path:
    return attachments_root(settings) / f"task-{task_id}"


def attachment_dirs(settings: Settings, task_id: int) -> tuple[Path, ...]:
    """`--add-dir` for a run: the task's attachments folder, when it has files."""
    folder = task_folder(settings, task_id)
    return (folder,) if list_files(folder) else ()


def draft_folder(settings: Settings, draft_id: int) -> Path:
    return attachments_root(settings) / f"draft-{draft_id}"


def safe_name(name: str | None, default: str = "file") -> str:
    """A basename with only `[A-Za-z0-9._-]`, no leading dot, at most 80 characters."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    ascii_name = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    cleaned = _UNSAFE.sub("_", ascii_name).strip("._-")
    if not cleaned:
        cleaned = default
    if len(cleaned) > MAX_NAME_CHARS:
        _, dot, suffix = cleaned.rpartition(".")
        keep = suffix if dot and len(suffix) <= 10 else ""
        cleaned = cleaned[: MAX_NAME_CHARS - len(keep) - 1].rstrip("._-") + ("." + keep if keep else "")
    return cleaned


def check_size(size: int | None, settings: Settings) -> None:
    """Refuse a file over NIGHTSHIFT_ATTACHMENT_MAX_MB before downloading it."""
    limit = settings.attachment_max_bytes
    if size is not None and size > limit:
        raise InvalidInput(
            f"the file is {size / 1e6:.1f} MB; attachments are limited to {limit / 1e6:.0f} MB"
            " (NIGHTSHIFT_ATTACHMENT_MAX_MB)"
        )


def save_file(folder: Path, name: str, data: bytes, settings: Settings) -> Path:
    """Write `data` as a new private file in `folder` under `name` (or `name-2`, `-3`…)."""
    check_size(len(data), settings)
    ensure_private_dir(folder)
    if folder.is_symlink() or not folder.is_dir():
        raise InvalidInput(f"{folder} is not a private folder")
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    for attempt in range(1, 1000):
        candidate = name if attempt == 1 else f"{stem}-{attempt}" + (f".{suffix}" if suffix else "")
        path = folder / candidate
        try:
            safefs.create_new(path, data)  # O_EXCL|O_NOFOLLOW: never over a file or a link
        except FileExistsError:
            continue
        except OSError as exc:
            path.unlink(missing_ok=True)
            raise DiskWriteError(path, exc) from exc
        return path
    raise InvalidInput(f"too many files named {name} already")


def list_files(folder: Path) -> list[Path]:
    """The regular files in `folder` (links and anything else are not Claude's to read)."""
    if not folder.is_dir() or folder.is_symlink():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.is_symlink())


def move_folder(source: Path, target: Path) -> list[Path]:
    """Move a draft's files into the task's folder; return where they are now."""
    files = list_files(source)
    if not files:
        return []
    if not target.exists():
        ensure_private_dir(target.parent)
        try:
            os.rename(source, target)
            return list_files(target)
        except OSError:
            pass  # fall back to one file at a time below
    ensure_private_dir(target)
    moved = []
    for path in files:
        destination = target / path.name
        if destination.exists():
            destination = target / f"{path.stem}-{path.stat().st_ino}{path.suffix}"
        os.rename(path, destination)
        moved.append(destination)
    return moved


def remove_folder(folder: Path) -> None:
    """Delete a discarded draft's files (only the regular files nightshift put there)."""
    for path in list_files(folder):
        path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty (someone else's file) or already gone
        folder.rmdir()


def prompt_with_files(text: str, files: Sequence[Path]) -> str:
    """The owner's text, byte for byte, then the files named so Claude reads them."""
    if not files:
        return text
    listing = "\n".join(f"- {path}" for path in files)
    return f"{text}\n\n{ATTACHMENTS_HEADER}\n{listing}"
