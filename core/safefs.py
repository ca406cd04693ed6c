"""Files in folders the owner or another program can write to, read and written without
ever following a link planted there.

The vault (`brain/`), its inbox, the run folders and the config folder are writable by
the owner, by sync tools and by Claude itself (it runs as the owner). A symlink at
`brain/inbox/rejected/x.md.error.txt` pointing at `~/.bashrc` must not make a rejection
note overwrite `~/.bashrc`; a FIFO in the inbox must not hang the daemon; a hard link to
`~/.ssh/id_rsa` must not become a task's prompt. So every such file goes through here:

- a new file is created with `O_CREAT|O_EXCL|O_NOFOLLOW`: the name must not exist at all;
- a replaced file is a fresh temporary file in the same folder, then `rename`, which
  replaces the name itself (a link there is replaced, never its target);
- an appended file (logs) and a lock file are opened with `O_NOFOLLOW|O_NONBLOCK` and
  checked with `fstat` after opening: a regular file with no other hard link, or refused;
- a read file likewise, and read up to a limit (at most limit + 1 bytes, after `fstat`
  has said how big it is), so a 3 GB sparse file is refused without being read.

Only the last part of a path is protected: the vault itself may well be a symlink the
owner made (into a synced folder), and that is followed as before.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path

from core.errors import UnsafeFile

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = os.O_NOFOLLOW
_TEMP_ATTEMPTS = 16


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def describe(path: Path, *, dir_fd: int | None = None) -> str:
    """What is at `path`, in words, without following a link (for a refusal message)."""
    try:
        mode = os.lstat(path if dir_fd is None else path.name, dir_fd=dir_fd).st_mode
    except OSError:
        return "gone"
    return "a regular file" if stat.S_ISREG(mode) else _kind(mode)


def _open(path: Path, flags: int, mode: int = 0o600, *, dir_fd: int | None = None) -> int:
    """`open` that never follows a link in the last part of `path` and never blocks on a FIFO."""
    target: str | Path = path if dir_fd is None else path.name
    try:
        return os.open(target, flags | _NOFOLLOW | os.O_NONBLOCK | _CLOEXEC, mode, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):  # EMLINK: FreeBSD's answer to O_NOFOLLOW
            raise UnsafeFile(path, "is a symbolic link; nightshift never follows links here") from None
        if exc.errno in (errno.ENXIO, errno.EOPNOTSUPP, errno.ENODEV, errno.ETXTBSY):
            raise UnsafeFile(path, f"is {describe(path, dir_fd=dir_fd)}, not a regular file") from None
        raise


def _check_regular(path: Path, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeFile(path, f"is {_kind(info.st_mode)}, not a regular file")
    if info.st_nlink != 1:
        raise UnsafeFile(
            path, f"has {info.st_nlink - 1} other hard link(s); nightshift reads and appends "
            "only files that exist under this one name"
        )


def _open_checked(path: Path, dir_fd: int | None) -> tuple[int, os.stat_result]:
    fd = _open(path, os.O_RDONLY, dir_fd=dir_fd)
    try:
        info = os.fstat(fd)
        _check_regular(path, info)
        if dir_fd is not None and info.st_dev != os.fstat(dir_fd).st_dev:
            raise UnsafeFile(path, "is on another file system than its folder")
        # Reads must block normally from here on (a regular file never waits anyway).
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def open_regular(path: Path, *, dir_fd: int | None = None) -> int:
    """A read-only descriptor of the regular file at `path` (checked after opening), or
    `UnsafeFile`. `dir_fd` opens `path.name` inside that folder, so the file is in it."""
    return _open_checked(path, dir_fd)[0]


def read_regular(path: Path, *, limit_bytes: int, dir_fd: int | None = None) -> bytes:
    """The bytes of the regular file at `path`, refused (`UnsafeFile`) when it is a link,
    FIFO, device or hard link, or larger than `limit_bytes`: the size is checked before
    reading, and no more than `limit_bytes + 1` bytes are ever read (it may grow meanwhile)."""
    fd, info = _open_checked(path, dir_fd)
    try:
        if info.st_size > limit_bytes:
            raise UnsafeFile(path, f"is {info.st_size:,} bytes; the limit is {limit_bytes:,}", too_large=True)
        chunks: list[bytes] = []
        remaining = limit_bytes + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit_bytes:
        raise UnsafeFile(path, f"grew past the limit of {limit_bytes:,} bytes while being read",
                         too_large=True)
    return data


def read_or_none(path: Path, *, limit_bytes: int) -> bytes | None:
    """A note's bytes; None when nothing usable is there (missing, a link, a FIFO, a hard
    link): the caller then writes a fresh file in its place, which never touches a target.
    Too large is an error, not None, so the owner's text is never dropped."""
    try:
        return read_regular(path, limit_bytes=limit_bytes)
    except FileNotFoundError:
        return None
    except UnsafeFile as exc:
        if exc.too_large:
            raise
        return None



def is_regular(path: Path) -> bool:
    """A regular file is at `path` itself (a link to one is not)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _new_temp(
    path: Path, mode: int, dir_fd: int | None, *, readable: bool = False
) -> tuple[int, str]:
    """A new file beside `path` (in `dir_fd` when given): returns its descriptor and name."""
    for _ in range(_TEMP_ATTEMPTS):
        name = f".{path.name}.{secrets.token_hex(6)}.tmp"
        target = str(path.parent / name) if dir_fd is None else name
        try:
            flags = (os.O_RDWR if readable else os.O_WRONLY) | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
            return os.open(target, flags, mode, dir_fd=dir_fd), target
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(path.parent))


def _replace(temp: str, path: Path, dir_fd: int | None) -> None:
    if dir_fd is None:
        os.replace(temp, path)
    else:
        os.replace(temp, path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


def _discard(temp: str, dir_fd: int | None) -> None:
    with contextlib.suppress(OSError):
        os.unlink(temp, dir_fd=dir_fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def write_atomic(
    path: Path, data: bytes, *, mode: int = 0o600, fsync: bool = True, dir_fd: int | None = None
) -> None:
    """Replace whatever is at `path` (a file, a link, a FIFO) with a new regular file holding
    `data`, atomically: readers see the old file or the new one, never a part of either.
    With `dir_fd`, `path.name` inside that folder."""
    fd, temp = _new_temp(path, mode, dir_fd)
    try:
        try:
            _write_all(fd, data)
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        _replace(temp, path, dir_fd)
    except BaseException:
        _discard(temp, dir_fd)
        raise


def open_fresh(path: Path, *, mode: int = 0o600, readable: bool = False) -> int:
    """A write (or read-write) descriptor of a new, empty regular file that is now at `path`
    (whatever was there before, a link included, is replaced, not written through)."""
    fd, temp = _new_temp(path, mode, None, readable=readable)
    try:
        _replace(temp, path, None)
    except BaseException:
        os.close(fd)
        _discard(temp, None)
        raise
    return fd


def create_new(path: Path, data: bytes = b"", *, mode: int = 0o600) -> None:
    """Create `path` holding `data`; `FileExistsError` if anything (a link too) has that name."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, mode)
    try:
        _write_all(fd, data)
    finally:
        os.close(fd)


def _open_regular_rw(path: Path, flags: int, mode: int) -> int:
    fd = _open(path, os.O_RDWR | os.O_CREAT | flags, mode)
    try:
        _check_regular(path, os.fstat(fd))
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_append(path: Path, *, mode: int = 0o600) -> int:
    """A read-write, append-only descriptor of the regular file at `path`, created if missing.
    Read access lets the caller look at the last byte (a torn line) through the same file."""
    return _open_regular_rw(path, os.O_APPEND, mode)


def ensure_file(path: Path, *, mode: int = 0o600) -> None:
    """Make sure a regular file exists at `path` (an empty one if missing), never through a link."""
    os.close(open_append(path, mode=mode))


def open_lock(path: Path) -> int:
    """A descriptor for `flock` (and a pid written into it), of a regular file at `path`."""
    return _open_regular_rw(path, 0, 0o600)


def open_dir(path: Path, *, follow: bool = False) -> int:
    """A descriptor of the folder at `path`; with `follow=False` a link there is refused."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC | (0 if follow else _NOFOLLOW)
    try:
        return os.open(path, flags)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            raise UnsafeFile(path, f"is {describe(path)}, not a folder; nightshift never follows "
                             "links here") from None
        raise
