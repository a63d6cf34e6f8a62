"""--write/--remove on rc files: byte-exact, atomic, locked, through symlinks, refusing read-only files."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from gputk.errors import GputkError
from gputk.services.rcfile import MAX_RC_BYTES, NO_EOL_NOTE, find_blocks, remove_block, write_block


def block(release: str, body: str = "export CUDA_HOME=/usr/local/cuda") -> str:
    return f"# >>> gputk env (cuda {release}) >>>\n{body}-{release}\n# <<< gputk env <<<\n"


ORIGINALS = {
    "plain": b"alias ll='ls -l'\nexport EDITOR=vim\n",
    "empty": b"",
    "crlf": b"alias ll='ls -l'\r\nexport EDITOR=vim\r\n",
    "no-final-newline": b"alias ll='ls -l'\nexport EDITOR=vim",
    "crlf-no-final-newline": b"alias ll='ls -l'\r\nexport EDITOR=vim",
}


@pytest.mark.parametrize("name", list(ORIGINALS))
def test_append_rewrite_remove_roundtrip(name: str, tmp_path: Path) -> None:
    rc = tmp_path / ".bashrc"
    original = ORIGINALS[name]
    rc.write_bytes(original)
    first = write_block(str(rc), block("12.3"))
    assert first.action == "appended"
    data = rc.read_bytes()
    assert data.startswith(original)
    eol = b"\r\n" if b"\r\n" in original else b"\n"
    if eol == b"\r\n":
        assert data.count(b"\n") == data.count(b"\r\n")  # the block follows the file's CRLF
    assert data.endswith(b"# <<< gputk env <<<" + eol)
    assert (NO_EOL_NOTE.encode() in data) == (bool(original) and not original.endswith(b"\n"))
    assert Path(first.backup or "").read_bytes() == original

    again = write_block(str(rc), block("12.3"))
    assert again.action == "unchanged" and not again.changed
    assert rc.read_bytes() == data

    other = write_block(str(rc), block("11.8"))
    assert other.action == "replaced"
    assert rc.read_bytes().startswith(original)
    assert b"cuda-11.8" in rc.read_bytes() and b"cuda-12.3" not in rc.read_bytes()

    gone = remove_block(str(rc))
    assert gone.action == "removed"
    assert rc.read_bytes() == original
    assert remove_block(str(rc)).action == "absent"


def test_block_in_the_middle_is_replaced_in_place(tmp_path: Path) -> None:
    rc = tmp_path / ".zshrc"
    before, after = b"# top\nsetopt autocd\n", b"# mine, after gputk\nalias g=git\n"
    rc.write_bytes(before + block("11.8").encode() + after)
    write_block(str(rc), block("12.3"))
    assert rc.read_bytes() == before + block("12.3").encode() + after
    remove_block(str(rc))
    assert rc.read_bytes() == before + after


def test_duplicate_blocks_collapse_to_one(tmp_path: Path) -> None:
    rc = tmp_path / ".bashrc"
    rc.write_bytes(b"a\n" + block("11.8").encode() + b"b\n" + block("12.0").encode())
    change = write_block(str(rc), block("12.3"))
    assert (change.action, change.removed_duplicates) == ("replaced", 1)
    assert rc.read_bytes() == b"a\n" + block("12.3").encode() + b"b\n"
    assert len(find_blocks(rc.read_bytes())) == 1


def test_unterminated_block_is_an_error_and_file_untouched(tmp_path: Path) -> None:
    rc = tmp_path / ".bashrc"
    content = b"x\n# >>> gputk env (cuda 12.3) >>>\nexport A=1\n"
    rc.write_bytes(content)
    with pytest.raises(GputkError, match="line 2 has no end line"):
        write_block(str(rc), block("12.3"))
    assert rc.read_bytes() == content


def test_new_file_and_missing_parent_dir(tmp_path: Path) -> None:
    rc = tmp_path / ".config" / "fish" / "config.fish"
    change = write_block(str(rc), block("12.3"))
    assert change.action == "created" and change.backup is None
    assert rc.read_text() == block("12.3")
    assert remove_block(str(tmp_path / "nope")).action == "absent"
    assert not (tmp_path / "nope.gputk.lock").exists()


def test_symlinked_rc_edits_the_target_and_keeps_mode(tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    real = dotfiles / "bashrc"
    real.write_bytes(b"export A=1\n")
    real.chmod(0o600)
    link = tmp_path / ".bashrc"
    link.symlink_to(real)
    change = write_block(str(link), block("12.3"))
    assert change.target == str(real)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_bytes() == b"export A=1\n" + block("12.3").encode()
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
    assert Path(str(real) + ".gputk.bak").read_bytes() == b"export A=1\n"
    assert [p.name for p in dotfiles.iterdir() if ".gputk-" in p.name] == []  # no temp file left


def test_read_only_file_is_refused_and_untouched(tmp_path: Path) -> None:
    rc = tmp_path / ".bashrc"
    rc.write_bytes(b"export A=1\n")
    rc.chmod(0o444)
    with pytest.raises(GputkError, match=r"is read-only; not changed"):
        write_block(str(rc), block("12.3"))
    assert rc.read_bytes() == b"export A=1\n"
    assert not Path(str(rc) + ".gputk.bak").exists()


WRITER = """
import sys
from gputk.services.rcfile import write_block
path, release = sys.argv[1], sys.argv[2]
for i in range(15):
    write_block(path, "# >>> gputk env (cuda %s) >>>\\nexport CUDA_HOME=/usr/local/cuda-%s\\n# <<< gputk env <<<\\n" % (release, release))
"""


def test_concurrent_writers_do_not_interleave_or_lose_content(tmp_path: Path) -> None:
    rc = tmp_path / ".bashrc"
    original = b"".join(b"export KEEP_%d=%d\n" % (i, i) for i in range(200))
    rc.write_bytes(original)
    releases = ["11.8", "12.1", "12.3", "12.4", "13.0", "12.6"]
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(rc), r], stderr=subprocess.PIPE) for r in releases
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    data = rc.read_bytes()
    assert data.startswith(original)
    spans = find_blocks(data)
    assert len(spans) == 1
    tail = data[len(original) :].decode()
    assert tail in {block(r, "export CUDA_HOME=/usr/local/cuda") for r in releases}
    assert [p.name for p in tmp_path.iterdir() if ".gputk-" in p.name] == []


# --- Files the user owns: odd files are refused, every byte comes back, nothing is left behind ---


def leftovers(directory: Path) -> list[str]:
    """Lock and temp files gputk would have left next to the rc file."""
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".gputk.lock") or ".gputk-" in p.name)


@pytest.mark.parametrize(
    "original",
    [
        b"export A=1\r",  # a last line ending in a lone CR
        b"export A=1\rexport B=2\r",  # CR-only line endings (old Mac editors)
        b"export A=1\rexport B=2",  # CR-only, no final line break
        b"export A=1\r\n\r",  # CRLF file whose last line is a lone CR
        b"\r",
        b"\n",
    ],
    ids=["lone-cr-end", "cr-only", "cr-only-no-final", "crlf-then-cr", "just-cr", "just-lf"],
)
def test_remove_gives_back_the_exact_bytes(original: bytes, tmp_path: Path) -> None:
    rc = tmp_path / ".bashrc"
    rc.write_bytes(original)
    write_block(str(rc), block("12.3"))
    assert rc.read_bytes().startswith(original)
    assert find_blocks(rc.read_bytes())
    write_block(str(rc), block("11.8"))
    assert remove_block(str(rc)).action == "removed"
    assert rc.read_bytes() == original
    assert leftovers(tmp_path) == []


def test_fifo_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "rc.fifo"
    os.mkfifo(fifo)
    link = tmp_path / ".bashrc"
    link.symlink_to(fifo)
    for path in (fifo, link):
        with pytest.raises(GputkError, match=r"not a regular file"):
            write_block(str(path), block("12.3"))  # a FIFO would block an open() or read() forever
        with pytest.raises(GputkError, match=r"not a regular file"):
            remove_block(str(path))
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and link.is_symlink()
    assert leftovers(tmp_path) == [] and not Path(str(fifo) + ".gputk.bak").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
def test_character_device_is_refused_not_replaced(tmp_path: Path) -> None:
    null = tmp_path / "null"
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a copy of /dev/null inside the sandbox
    link = tmp_path / ".bashrc"
    link.symlink_to(null)
    for path in (null, link):
        with pytest.raises(GputkError, match=r"not a regular file"):
            write_block(str(path), block("12.3"))
    assert stat.S_ISCHR(os.lstat(null).st_mode)
    assert leftovers(tmp_path) == []


def test_directory_and_dangling_link_are_refused(tmp_path: Path) -> None:
    with pytest.raises(GputkError, match=r"is a directory"):
        write_block(str(tmp_path), block("12.3"))
    link = tmp_path / ".bashrc"
    link.symlink_to(tmp_path / "elsewhere" / "bashrc")
    with pytest.raises(GputkError, match=r"which does not exist"):
        write_block(str(link), block("12.3"))
    assert not (tmp_path / "elsewhere").exists()


def test_huge_file_is_refused_untouched(tmp_path: Path) -> None:
    rc = tmp_path / ".bashrc"
    big = b"# filler\n" * (MAX_RC_BYTES // 9 + 1)
    rc.write_bytes(big)
    with pytest.raises(GputkError, match=r"larger than 4 MiB"):
        write_block(str(rc), block("12.3"))
    assert rc.read_bytes() == big
    assert leftovers(tmp_path) == []


def test_hardlinked_rc_stays_one_file(tmp_path: Path) -> None:
    rc = tmp_path / ".bashrc"
    rc.write_bytes(b"export A=1\n")
    other = tmp_path / "bashrc.shared"
    os.link(rc, other)
    change = write_block(str(rc), block("12.3"))
    assert change.in_place
    assert os.path.samefile(rc, other) and rc.stat().st_nlink == 2
    assert other.read_bytes() == b"export A=1\n" + block("12.3").encode()
    assert remove_block(str(other)).action == "removed"
    assert os.path.samefile(rc, other) and rc.read_bytes() == b"export A=1\n"
    assert leftovers(tmp_path) == []


def test_symlink_planted_at_the_lock_path_is_not_followed(tmp_path: Path) -> None:
    rc = tmp_path / ".bashrc"
    rc.write_bytes(b"export A=1\n")
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    victim.chmod(0o600)
    lock = tmp_path / ".bashrc.gputk.lock"
    lock.symlink_to(victim)
    with pytest.raises(GputkError, match=r"is a symlink; refusing to follow it"):
        write_block(str(rc), block("12.3"))
    missing = tmp_path / "not-there"
    lock.unlink()
    lock.symlink_to(missing)
    with pytest.raises(GputkError, match=r"is a symlink"):
        write_block(str(rc), block("12.3"))
    assert victim.read_bytes() == b"precious\n" and stat.S_IMODE(victim.stat().st_mode) == 0o600
    assert not missing.exists() and rc.read_bytes() == b"export A=1\n"


def test_no_lock_or_temp_file_after_success_or_failure(tmp_path: Path) -> None:
    rc = tmp_path / ".bashrc"
    rc.write_bytes(b"export A=1\n")
    write_block(str(rc), block("12.3"))
    assert leftovers(tmp_path) == []
    rc.write_bytes(b"# >>> gputk env (cuda 1) >>>\nno end line\n")
    with pytest.raises(GputkError, match=r"has no end line"):
        write_block(str(rc), block("12.3"))
    assert leftovers(tmp_path) == []
    assert remove_block(str(tmp_path / "absent")).action == "absent"
    assert leftovers(tmp_path) == []


KILLED_MID_EDIT = """
import os, sys, tempfile, time
from gputk.services import rcfile
target = sys.argv[1]
with rcfile._locked(target):
    tempfile.mkstemp(dir=os.path.dirname(target), prefix="." + os.path.basename(target) + rcfile.TEMP_MARK)
    print("holding", flush=True)
    time.sleep(60)
"""


def test_a_run_killed_mid_edit_is_recovered_by_the_next(tmp_path: Path) -> None:
    rc = tmp_path / ".bashrc"
    rc.write_bytes(b"export A=1\n")
    child = subprocess.Popen([sys.executable, "-c", KILLED_MID_EDIT, str(rc)], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"holding\n"
        assert len(leftovers(tmp_path)) == 2  # its lock and its temp file
    finally:
        child.kill()  # SIGKILL: no cleanup runs
        child.wait(timeout=30)
    assert write_block(str(rc), block("12.3")).action == "appended"  # the dead run's lock is free
    assert leftovers(tmp_path) == []
    assert rc.read_bytes() == b"export A=1\n" + block("12.3").encode()
