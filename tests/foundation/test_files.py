"""gputk.files: outputs are refused before work starts and written atomically."""

from __future__ import annotations

import os

import pytest

from gputk.errors import InputError
from gputk.files import atomic_output, atomic_write_bytes, check_output_path


def test_refuses_directory_missing_folder_and_device(tmp_path):
    with pytest.raises(InputError, match="is a directory"):
        check_output_path(str(tmp_path))
    with pytest.raises(InputError, match="does not exist"):
        check_output_path(str(tmp_path / "missing" / "x.png"))
    with pytest.raises(InputError, match="not a regular file"):
        check_output_path("/dev/null")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        check_output_path(str(fifo))


def test_atomic_write_keeps_old_content_on_failure_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out.png"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), atomic_output(str(target)) as fd:
        os.write(fd, b"half")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]
    atomic_write_bytes(str(target), b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_atomic_write_through_symlink_keeps_the_link(tmp_path):
    real = tmp_path / "real.txt"
    real.write_bytes(b"a")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    atomic_write_bytes(str(link), b"b")
    assert link.is_symlink() and real.read_bytes() == b"b"
