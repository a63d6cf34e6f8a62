"""Hostile snapshots (tarballs, directories, manifests) and hostile --snapshot/--from paths.

Every case runs gputk in a sandboxed subprocess under a memory limit (see harness.py). A
refused input is exit 1 or 2 with one line; an input whose dangerous part is treated as
absent must still never read the canaries beside the sandbox.
"""

from __future__ import annotations

import os
import socket
import tarfile
from pathlib import Path

import pytest

from tests.hostile.harness import Case, Outcome, Sandbox, assert_contained, assert_refused, run_all
from tests.hostile.snapshots import (
    CANARY_BYTES,
    MB,
    _info,
    commands_reading,
    dir_case,
    huge_header,
    manifest_bytes,
    manifest_case,
    raw_case,
    raw_header,
    replace_with_link,
    tar_case,
    version_file_case,
    write_tar,
)

S, L, H = tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.REGTYPE
REG = tarfile.REGTYPE


def refused(words: str | None = None):  # type: ignore[no-untyped-def]
    return lambda o: assert_refused(o, words)


def absent(o: Outcome) -> None:
    """The dangerous part was ignored: the command ran on what remains and read nothing outside."""
    assert_contained(o)
    assert o.rc in (0, 1), o.output[-2000:]


# -- tarballs ------------------------------------------------------------------------------------

TARBALLS = [
    Case("tar-absolute-name", tar_case([(_info("/tmp/x"), b"x")]), refused("absolute")),
    Case("tar-dotdot-name", tar_case([(_info("s/../../escape.txt"), b"x")]), refused("'..'")),
    Case("tar-link-absolute", tar_case([(_info("s/root/etc", S, "/etc"), None)]), refused("absolute")),
    Case(
        "tar-link-climbs", tar_case([(_info("s/root/x", S, "../../../../outside"), None)]), refused("outside")
    ),
    Case(
        "tar-link-chain-read",  # s -> . then a link deep through it that climbs back out
        tar_case(
            [
                (_info("s/root/s", S, "."), None),
                (_info("s/root/s/s/s/s/proc", S, "../../../../../../../../outside"), None),
            ]
        ),
        refused("refusing"),
    ),
    Case(
        "tar-link-chain-write",  # ... then a file written through the chain
        tar_case([(_info("s/root/s", S, "."), None), (_info("s/root/s/s/s/evil.txt"), b"pwned")]),
        refused("goes through the link"),
    ),
    Case(
        "tar-link-then-file-through-it",
        tar_case([(_info("s/root/d", S, "../.."), None), (_info("s/root/d/escape.txt"), b"x")]),
        refused(),
    ),
    Case(
        "tar-file-then-link-same-name",
        tar_case(
            [(_info("s/root/etc/os-release"), b"ID=x\n"), (_info("s/root/etc/os-release", S, "x"), None)]
        ),
        refused("twice"),
    ),
    Case(
        "tar-entry-under-a-file",
        tar_case([(_info("s/root/f"), b"x"), (_info("s/root/f/g"), b"y")]),
        refused(),
    ),
    Case("tar-hardlink", tar_case([(_info("s/root/h", L, "s/manifest.json"), None)]), refused("hard link")),
    Case(
        "tar-hardlink-outside", tar_case([(_info("s/root/h", L, "/etc/passwd"), None)]), refused("hard link")
    ),
    Case("tar-char-device", tar_case([(_info("s/root/dev/zero", tarfile.CHRTYPE), None)]), refused("device")),
    Case("tar-block-device", tar_case([(_info("s/root/dev/sda", tarfile.BLKTYPE), None)]), refused("device")),
    Case("tar-fifo", tar_case([(_info("s/root/fifo", tarfile.FIFOTYPE), None)]), refused("fifo")),
    Case("tar-sparse", tar_case([], raw_tail=raw_header("s/root/sp", b"S", b"00000000000")), refused()),
    Case("tar-unknown-type", tar_case([], raw_tail=raw_header("s/root/v", b"V", b"00000000000")), refused()),
    Case(
        "tar-pax-1GiB-header", tar_case([], raw_tail=huge_header(tarfile.XHDTYPE, 1 << 30)), refused("header")
    ),
    Case(
        "tar-pax-global-1GiB", tar_case([], raw_tail=huge_header(tarfile.XGLTYPE, 1 << 30)), refused("header")
    ),
    Case(
        "tar-gnu-longname-1GiB",
        tar_case([], raw_tail=huge_header(tarfile.GNUTYPE_LONGNAME, 1 << 30)),
        refused(),
    ),
    Case(
        "tar-gnu-longlink-1GiB",
        tar_case([], raw_tail=huge_header(tarfile.GNUTYPE_LONGLINK, 1 << 30)),
        refused(),
    ),
    Case(
        "tar-bz2-pax-1GiB",
        tar_case([], raw_tail=huge_header(tarfile.XHDTYPE, 1 << 30), compress="bz2"),
        refused("header"),
    ),
    Case(
        "tar-xz-pax-1GiB",
        tar_case([], raw_tail=huge_header(tarfile.XHDTYPE, 1 << 30), compress="xz"),
        refused("header"),
    ),
    Case(
        "tar-member-8GiB",
        tar_case([], raw_tail=raw_header("s/root/big", b"0", b"77777777777")),
        refused("large"),
    ),
    Case(
        "tar-base256-size",
        tar_case([], raw_tail=raw_header("s/root/big", b"0", b"\x80" + bytes(10) + b"\x01")),
        refused(),
    ),
    Case(
        "tar-negative-size", tar_case([], raw_tail=raw_header("s/root/neg", b"0", b"-0000000001")), refused()
    ),
    Case(
        "tar-pax-size-override",
        tar_case(
            [],
            raw_tail=raw_header("s/pax", b"x", b"00000000024")
            + b"20 size=99999999999\n".ljust(512, b"\0")
            + raw_header("s/root/f", b"0", b"00000000000"),
        ),
        refused(),
    ),
    Case(
        "tar-total-over-cap",  # nine 15 MiB members of zeros: 135 MiB, a few hundred KiB on disk
        tar_case([(_info(f"s/root/z{i}"), bytes(15 * MB)) for i in range(9)]),
        refused("large"),
    ),
    Case(
        "tar-too-many-members",
        raw_case(lambda: write_tar_bytes_many()),
        refused("entries"),
        timeout=60,
    ),
    Case(
        "tar-bad-checksum",
        raw_case(lambda: gzip_bytes(bytes(100) + b"x" * 412 + bytes(1024))),
        refused("damaged"),
    ),
    Case("tar-truncated-member", raw_case(lambda: truncated_tar()), refused("damaged")),
    Case("gzip-corrupt", raw_case(lambda: corrupt_gzip()), refused("damaged")),
    Case("gzip-truncated", raw_case(lambda: gzip_bytes(bytes(4096) + b"x" * 100000)[:200]), refused()),
    Case("gzip-of-garbage", raw_case(lambda: gzip_bytes(os.urandom(2048))), refused()),
    Case("not-an-archive", raw_case(lambda: b"PK\x03\x04 a zip file, not a tarball"), refused()),
    Case("empty-file", raw_case(lambda: b""), refused()),
]


def gzip_bytes(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, 1)


def write_tar_bytes_many() -> bytes:
    block = raw_header("s/d", b"5", b"00000000000")
    return gzip_bytes(block * 50_001 + bytes(1024))


def truncated_tar() -> bytes:
    return gzip_bytes(raw_header("s/root/f", b"0", b"00000001000") + b"x" * 100)


def corrupt_gzip() -> bytes:
    good = gzip_bytes(b"x" * 50000)
    return good[:20] + bytes(b ^ 0x5A for b in good[20:60]) + good[60:]


# -- manifests -----------------------------------------------------------------------------------

MANIFESTS = [
    Case("manifest-commands-5", manifest_case(manifest_bytes(commands=5)), refused("commands")),
    Case("manifest-commands-[5]", manifest_case(manifest_bytes(commands=[5])), refused("commands")),
    Case(
        "manifest-argv-string",
        manifest_case(manifest_bytes(commands=[{"argv": "nvidia-smi"}])),
        refused("argv"),
    ),
    Case(
        "manifest-argv-numbers", manifest_case(manifest_bytes(commands=[{"argv": [1, 2]}])), refused("argv")
    ),
    Case(
        "manifest-stdout-number",
        manifest_case(manifest_bytes(commands=[{"argv": ["x"], "stdout": 5}])),
        refused(),
    ),
    Case(
        "manifest-returncode-str",
        manifest_case(manifest_bytes(commands=[{"argv": ["x"], "returncode": "0"}])),
        refused(),
    ),
    Case("manifest-env-list", manifest_case(manifest_bytes(env=["PATH=/bin"])), refused("env")),
    Case("manifest-env-value-object", manifest_case(manifest_bytes(env={"PATH": {"a": 1}})), refused("env")),
    Case("manifest-platform-list", manifest_case(manifest_bytes(platform=["Linux"])), refused("platform")),
    Case(
        "manifest-platform-nested",
        manifest_case(manifest_bytes(platform={"release": [1]})),
        refused("platform"),
    ),
    Case("manifest-probes-list", manifest_case(manifest_bytes(probes=[])), refused("probes")),
    Case(
        "manifest-probe-not-object", manifest_case(manifest_bytes(probes={"nvml": [1, 2]})), refused("probes")
    ),
    Case("manifest-version-2", manifest_case(manifest_bytes(version=2)), refused("newer")),
    Case("manifest-version-string", manifest_case(manifest_bytes(version="1")), refused("version")),
    Case(
        "manifest-version-huge",
        manifest_case(b'{"format": "gputk-snapshot", "version": 1' + b"0" * 5000 + b"}"),
        refused(),
    ),
    Case("manifest-version-bool", manifest_case(manifest_bytes(version=True)), refused("version")),
    Case("manifest-format-missing", manifest_case(b'{"version": 1}'), refused("format")),
    Case("manifest-is-a-list", manifest_case(b"[1, 2, 3]"), refused()),
    Case("manifest-nesting-bomb", manifest_case(b"[" * 200_000 + b"]" * 200_000), refused()),
    Case(
        "manifest-nesting-bomb-objects", manifest_case(b'{"a":' * 100_000 + b"1" + b"}" * 100_000), refused()
    ),
    Case("manifest-not-json", manifest_case(b"\x00\xff garbage {"), refused()),
    Case("manifest-bad-utf8", manifest_case(b'{"format": "\xff\xfe"}'), refused()),
    Case(
        "manifest-9MiB",
        manifest_case(b'{"format": "gputk-snapshot", "x": "' + b"a" * (9 * MB) + b'"}'),
        refused("MiB"),
    ),
    Case(
        "manifest-in-tarball-commands-5",
        manifest_case(manifest_bytes(commands=5), tarball=True),
        refused("commands"),
    ),
    Case("manifest-in-tarball-bomb", manifest_case(b"[" * 100_000, tarball=True), refused()),
]


# -- snapshot directories with links out ---------------------------------------------------------


def _root_out(sb: Sandbox, d: Path) -> None:
    (sb.outside / "proc/driver/nvidia").mkdir(parents=True)
    (sb.outside / "proc/driver/nvidia/version").write_bytes(CANARY_BYTES)
    replace_with_link(d / "root", sb.outside)


def _commands_out(sb: Sandbox, d: Path) -> None:
    commands_reading(sb, d, "commands/nvidia-smi-L.txt")
    replace_with_link(d / "commands", sb.outside)


def _deep_dir_out(sb: Sandbox, d: Path) -> None:
    replace_with_link(d / "root/proc/driver", sb.outside / "subdir")  # absolute link: resolved inside root/


def _deep_relative_out(sb: Sandbox, d: Path) -> None:
    rel = os.path.relpath(sb.outside / "subdir", d / "root/proc")
    replace_with_link(d / "root/proc/driver", rel)


def _version_link_out(sb: Sandbox, d: Path) -> None:
    os.symlink(sb.outside / "version", d / "root/proc/driver/nvidia/version")


def _manifest_link(sb: Sandbox, d: Path) -> None:
    replace_with_link(d / "manifest.json", sb.outside / "manifest.json")


def _stdout_climbs(sb: Sandbox, d: Path) -> None:
    commands_reading(sb, d, "../../outside/nvidia-smi-L.txt")


def _stdout_absolute(sb: Sandbox, d: Path) -> None:
    commands_reading(sb, d, str(sb.outside / "nvidia-smi-L.txt"))


def _stdout_link(sb: Sandbox, d: Path) -> None:
    commands_reading(sb, d, "commands/out.txt")
    os.symlink(sb.outside / "nvidia-smi-L.txt", d / "commands/out.txt")


def _stdout_through_dir_link(sb: Sandbox, d: Path) -> None:
    commands_reading(sb, d, "commands/sub/nvidia-smi-L.txt")
    os.symlink(sb.outside, d / "commands/sub")


def _fifo_inside(sb: Sandbox, d: Path) -> None:
    os.mkfifo(d / "root/proc/driver/nvidia/version")


def _fifo_as_stdout(sb: Sandbox, d: Path) -> None:
    commands_reading(sb, d, "commands/fifo")
    os.mkfifo(d / "commands/fifo")


def _link_to_dev_zero(sb: Sandbox, d: Path) -> None:
    os.symlink("/dev/zero", d / "root/proc/driver/nvidia/version")


def _link_loop(sb: Sandbox, d: Path) -> None:
    os.symlink("b", d / "root/proc/driver/a")
    os.symlink("a", d / "root/proc/driver/b")
    replace_with_link(d / "root/proc/driver/nvidia", "a")


def _link_chain_1000(sb: Sandbox, d: Path) -> None:
    base = d / "root/proc/driver"
    for i in range(1000):
        os.symlink(f"l{i + 1}", base / f"l{i}")
    replace_with_link(base / "nvidia", "l0")


def _subdir_link(sb: Sandbox, d: Path) -> None:
    # A folder whose only child is a link to a snapshot outside: not followed.
    (sb.outside / "snap/root").mkdir(parents=True)
    (sb.outside / "snap/manifest.json").write_bytes(manifest_bytes(env={"PATH": "/" + "x"}))
    holder = sb.root / "holder"
    holder.mkdir()
    os.symlink(sb.outside / "snap", holder / "snap")


DIRECTORIES = [
    Case("dir-root-is-link-out", dir_case(_root_out), refused("symbolic link")),
    Case("dir-commands-is-link-out", dir_case(_commands_out), refused("symbolic link")),
    Case("dir-manifest-is-link-out", dir_case(_manifest_link), refused()),
    Case("dir-deep-absolute-link-out", dir_case(_deep_dir_out), absent),
    Case("dir-deep-relative-link-out", dir_case(_deep_relative_out), absent),
    Case("dir-file-link-out", dir_case(_version_link_out), absent),
    Case("dir-file-link-out-detect", dir_case(_version_link_out, "detect"), absent),
    Case("dir-stdout-climbs", dir_case(_stdout_climbs, "detect"), absent),
    Case("dir-stdout-absolute", dir_case(_stdout_absolute, "detect"), absent),
    Case("dir-stdout-is-link-out", dir_case(_stdout_link, "detect"), absent),
    Case("dir-stdout-through-dir-link", dir_case(_stdout_through_dir_link, "detect"), absent),
    Case("dir-fifo-inside-root", dir_case(_fifo_inside), absent, timeout=20),
    Case("dir-fifo-as-stdout", dir_case(_fifo_as_stdout, "detect"), absent, timeout=20),
    Case("dir-link-to-dev-zero", dir_case(_link_to_dev_zero), absent, timeout=20),
    Case("dir-link-loop", dir_case(_link_loop), absent),
    Case("dir-link-chain-1000", dir_case(_link_chain_1000), absent),
    Case(
        "dir-huge-version-file", dir_case(version_file_case(b"NVRM " + b"9" * (40 * MB))), absent, timeout=60
    ),
    Case(
        "dir-subfolder-is-link",
        lambda sb: (_subdir_link(sb, sb.root), ["detect", "--snapshot", str(sb.root / "holder")])[1],
        refused(),
    ),
]


# -- the paths themselves: FIFOs, devices, sockets, directories ------------------------------------


def _fifo(sb: Sandbox) -> str:
    p = sb.root / "fifo"
    os.mkfifo(p)
    return str(p)


def _socket(sb: Sandbox) -> str:
    p = sb.root / "sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(p))
    s.close()
    return str(p)


def _link_to_fifo(sb: Sandbox) -> str:
    os.symlink(_fifo(sb), sb.root / "link")
    return str(sb.root / "link")


PATHS = [
    Case("snapshot-fifo", lambda sb: ["doctor", "--snapshot", _fifo(sb)], refused("regular"), timeout=15),
    Case(
        "snapshot-link-to-fifo",
        lambda sb: ["doctor", "--snapshot", _link_to_fifo(sb)],
        refused("regular"),
        timeout=15,
    ),
    Case(
        "snapshot-dev-zero", lambda sb: ["doctor", "--snapshot", "/dev/zero"], refused("regular"), timeout=15
    ),
    Case(
        "snapshot-dev-urandom",
        lambda sb: ["detect", "--snapshot", "/dev/urandom"],
        refused("regular"),
        timeout=15,
    ),
    Case("snapshot-socket", lambda sb: ["detect", "--snapshot", _socket(sb)], refused(), timeout=15),
    Case(
        "snapshot-missing",
        lambda sb: ["detect", "--snapshot", str(sb.root / "nope.tar.gz")],
        refused("not found"),
    ),
    Case("from-fifo", lambda sb: ["detect", "--from", _fifo(sb)], refused("regular"), timeout=15),
    Case(
        "from-link-to-fifo",
        lambda sb: ["detect", "--from", _link_to_fifo(sb)],
        refused("regular"),
        timeout=15,
    ),
    Case("from-dev-zero", lambda sb: ["detect", "--from", "/dev/zero"], refused("regular"), timeout=15),
    Case("from-dev-urandom", lambda sb: ["detect", "--from", "/dev/urandom"], refused("regular"), timeout=15),
    Case("from-socket", lambda sb: ["detect", "--from", _socket(sb)], refused(), timeout=15),
    Case("from-directory", lambda sb: ["detect", "--from", str(sb.root)], refused("directory")),
]


def _fleet_folder(sb: Sandbox) -> list[str]:
    """A folder of snapshots from many strangers: each refused on its own, nothing outside read."""
    folder = sb.root / "snaps"
    folder.mkdir()
    os.mkfifo(folder / "a.tar.gz")
    write_tar(folder / "b.tar.gz", [], raw_tail=huge_header(tarfile.XHDTYPE, 1 << 30))
    write_tar(folder / "c.tar.gz", [(_info("s/root/s", S, "."), None), (_info("s/root/s/s/x"), b"x")])
    (sb.outside / "snap/root").mkdir(parents=True)
    (sb.outside / "snap/manifest.json").write_bytes((sb.outside / "manifest.json").read_bytes())
    os.symlink(sb.outside / "snap", folder / "d")
    os.symlink(sb.outside / "manifest.json", folder / "e.tar.gz")
    return ["fleet", str(folder)]


FLEET = [Case("fleet-folder-of-hostile-snapshots", _fleet_folder, absent, timeout=30)]

ALL = TARBALLS + MANIFESTS + DIRECTORIES + PATHS + FLEET


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    return run_all(ALL, tmp_path_factory.mktemp("hostile-snapshots"))


@pytest.mark.parametrize("case", ALL, ids=[c.id for c in ALL])
def test_hostile_snapshot_input(case: Case, outcomes: dict[str, Outcome]) -> None:
    case.check(outcomes[case.id])


def test_a_good_tarball_still_reads(tmp_path: Path) -> None:
    # The strict reader must not refuse what `gputk report` writes (pax names over 100 chars included).
    from tests.hostile.harness import run_gputk

    sb = Sandbox(tmp_path).make()
    long_dir = "s/root/" + "/".join(["d" * 60] * 4)
    path = write_tar(
        sb.root / "ok.tar.gz",
        [
            (_info(long_dir + "/f"), b"x"),
            (_info("s/root/proc/driver/nvidia/version"), CANARY_BYTES.replace(b"999.99.99", b"535.104.05")),
        ],
    )
    o = run_gputk(sb, ["detect", "--snapshot", str(path), "--json"])
    assert_contained(o)
    assert o.rc == 0, o.stderr
    assert "535.104.05" in o.stdout
