"""--write/--remove on rc files: byte-exact, atomic, locked, through symlinks, refusing read-only files."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from gputk.errors import GputkError
from gputk.services.rcfile import NO_EOL_NOTE, find_blocks, remove_block, write_block


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
