"""core.safefs: nothing is read or written through a link, a FIFO or a hard link."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core import safefs
from core.errors import UnsafeFile

SECRET = b"outside: do not touch\n"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    path = tmp_path / "outside.txt"
    path.write_bytes(SECRET)
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "shared"
    path.mkdir()
    return path


def plant(target: Path, kind: str, outside: Path) -> None:
    """Put at `target` what a hostile program would: a link, a dangling link, a hard link
    to the outside file, a FIFO or a folder."""
    if kind == "symlink":
        target.symlink_to(outside)
    elif kind == "dangling":
        target.symlink_to(target.parent / "nowhere")
    elif kind == "hardlink":
        os.link(outside, target)
    elif kind == "fifo":
        os.mkfifo(target)  # opened without O_NONBLOCK this would wait for a writer forever
    else:
        target.mkdir()


def is_plain_file(path: Path) -> bool:
    info = os.lstat(path)
    return stat.S_ISREG(info.st_mode) and info.st_nlink == 1


@pytest.mark.parametrize("planted", ["symlink", "dangling", "hardlink", "fifo"])
def test_write_atomic_replaces_whatever_is_planted(folder: Path, outside: Path, planted: str) -> None:
    target = folder / "note.md"
    plant(target, planted, outside)
    safefs.write_atomic(target, b"new text")
    assert is_plain_file(target) and target.read_bytes() == b"new text"
    assert outside.read_bytes() == SECRET
    assert not (folder / "nowhere").exists()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in folder.iterdir()) == ["note.md"]  # no temp file left behind


def test_open_fresh_replaces_a_link_and_returns_the_new_file(folder: Path, outside: Path) -> None:
    target = folder / "check.log"
    target.symlink_to(outside)
    fd = safefs.open_fresh(target, readable=True)
    try:
        os.write(fd, b"output")
        assert os.pread(fd, 6, 0) == b"output"
    finally:
        os.close(fd)
    assert is_plain_file(target) and target.read_bytes() == b"output"
    assert outside.read_bytes() == SECRET


def test_create_new_refuses_any_existing_name_a_link_included(folder: Path, outside: Path) -> None:
    (folder / "a").symlink_to(outside)
    (folder / "b").symlink_to(folder / "nowhere")
    for name in ("a", "b"):
        with pytest.raises(FileExistsError):
            safefs.create_new(folder / name, b"x")
    assert outside.read_bytes() == SECRET and not (folder / "nowhere").exists()
    safefs.create_new(folder / "c", b"x")
    assert (folder / "c").read_bytes() == b"x"


@pytest.mark.parametrize(("planted", "why"), [("symlink", "symbolic link"), ("dangling", "symbolic link"),
                                              ("hardlink", "hard link"), ("fifo", "named pipe")])
def test_append_and_lock_refuse_what_is_not_a_plain_file(
    folder: Path, outside: Path, planted: str, why: str,
) -> None:
    target = folder / "day.jsonl"
    plant(target, planted, outside)
    for opener in (safefs.open_append, safefs.open_lock, safefs.ensure_file):
        with pytest.raises(UnsafeFile, match=why) as caught:
            opener(target)
        assert str(target) in caught.value.message
    assert outside.read_bytes() == SECRET and not (folder / "nowhere").exists()


def test_append_creates_and_appends_to_a_plain_file(folder: Path) -> None:
    target = folder / "log"
    for chunk in (b"a\n", b"b\n"):
        fd = safefs.open_append(target)
        try:
            os.write(fd, chunk)
        finally:
            os.close(fd)
    assert target.read_bytes() == b"a\nb\n" and stat.S_IMODE(target.stat().st_mode) == 0o600


@pytest.mark.parametrize(("planted", "why"), [("symlink", "symbolic link"), ("hardlink", "hard link"),
                                              ("fifo", "named pipe"), ("dir", "folder")])
def test_read_regular_refuses_links_fifos_and_folders(
    folder: Path, outside: Path, planted: str, why: str,
) -> None:
    target = folder / "in.md"
    plant(target, planted, outside)
    with pytest.raises(UnsafeFile, match=why):
        safefs.read_regular(target, limit_bytes=1024)
    assert safefs.read_or_none(target, limit_bytes=1024) is None


def test_read_regular_checks_the_size_before_reading(folder: Path) -> None:
    target = folder / "sparse.md"
    with target.open("wb") as fh:
        fh.truncate(3 * 1024**3)
    with pytest.raises(UnsafeFile, match="3,221,225,472 bytes; the limit is 100") as caught:
        safefs.read_regular(target, limit_bytes=100)
    assert caught.value.too_large
    with pytest.raises(UnsafeFile):  # too large is an error, never "nothing there"
        safefs.read_or_none(target, limit_bytes=100)


def test_read_relative_to_a_folder_descriptor(folder: Path) -> None:
    (folder / "x.md").write_bytes(b"inside")
    fd = safefs.open_dir(folder)
    try:
        assert safefs.read_regular(folder / "x.md", limit_bytes=10, dir_fd=fd) == b"inside"
    finally:
        os.close(fd)


def test_open_dir_refuses_a_link_unless_told_to_follow(folder: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(folder, target_is_directory=True)
    with pytest.raises(UnsafeFile, match="symbolic link"):
        safefs.open_dir(link)
    os.close(safefs.open_dir(link, follow=True))


@given(data=st.binary(max_size=4096))
def test_write_then_read_round_trips(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    target = tmp_path_factory.mktemp("rt") / "f"
    safefs.write_atomic(target, data, fsync=False)
    assert safefs.read_regular(target, limit_bytes=len(data)) == data
    if data:
        with pytest.raises(UnsafeFile, match="the limit is"):
            safefs.read_regular(target, limit_bytes=len(data) - 1)
