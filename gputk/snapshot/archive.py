"""Reading a snapshot tarball safely: streamed, size-checked before any byte is held, never extracted.

A snapshot tarball comes from a stranger. It is read in one pass from the (gzip, bzip2, xz or
plain) stream by a small strict tar reader, straight into a :class:`~gputk.snapshot.tree.MemTree`:
nothing is written to disk, so no link can be materialised and followed, and no member can land
outside anything. Every header's declared size is checked against the limits *before* its bytes
are read (a pax or GNU long-name header is a path, capped at a few KiB; a member and the whole are
capped too), so a small archive announcing a huge header costs nothing.

Accepted: regular files, directories and symbolic links, in ustar, pax (``path``, ``linkpath``,
``size`` records; global headers ignored) and GNU (``././@LongLink``) formats. Refused with one
line: absolute names, ``..``, hard links, devices, FIFOs, sparse and other special entries, links
that point outside the snapshot, an entry that goes through a link or sits under a file, an entry
that appears twice, a corrupt checksum, a truncated or corrupt stream.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import posixpath
import zlib
from pathlib import Path
from typing import IO, BinaryIO

from gputk.errors import InputError, SnapshotError
from gputk.files import open_input_file
from gputk.snapshot import manifest as limits
from gputk.snapshot.tree import MemTree, Parts, TreeConflict

BLOCK = 512
_REGULAR = (b"0", b"\0", b"7")
_DECOMPRESS_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError)


class _Damaged(Exception):
    pass


def read_archive(path: Path) -> MemTree:
    """The entries of a snapshot tarball, checked (see the module docstring)."""
    try:
        raw = open_input_file(path, what="snapshot")
    except InputError as exc:
        raise SnapshotError(exc.message, exc.hint) from None
    with raw:
        try:
            magic = raw.read(6)
            raw.seek(0)
            stream = _decompressor(magic, raw)
            with stream:
                return _Reader(path, stream).read()
        except _Damaged as exc:
            raise SnapshotError(f"{path}: damaged archive ({exc})") from None
        except _DECOMPRESS_ERRORS as exc:
            raise SnapshotError(f"{path}: damaged archive ({type(exc).__name__}: {exc})") from None


def looks_like_archive(path: Path) -> bool:
    """Compressed, or a tar header at the start (the ``ustar`` magic); refuses a non-regular file."""
    try:
        with open_input_file(path, what="snapshot") as fh:
            head = fh.read(BLOCK)
    except InputError as exc:
        raise SnapshotError(exc.message, exc.hint) from None
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot read the snapshot ({exc.strerror or exc})") from None
    return head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")) or head[257:262] == b"ustar"


def _decompressor(magic: bytes, raw: BinaryIO) -> IO[bytes]:
    if magic.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if magic.startswith(b"BZh"):
        return bz2.BZ2File(raw, "rb")
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(raw, "rb")
    return raw


class _Reader:
    def __init__(self, path: Path, stream: IO[bytes]) -> None:
        self.path = path
        self.stream = stream
        self.tree = MemTree()
        self.members = 0
        self.total = 0

    def refuse(self, name: str, why: str) -> SnapshotError:
        return SnapshotError(f"{self.path}: entry {name!r} {why}; refusing to read it")

    def _exact(self, n: int) -> bytes:
        chunks: list[bytes] = []
        left = n
        while left:
            chunk = self.stream.read(min(left, 1024 * 1024))
            if not chunk:
                raise _Damaged("unexpected end of data")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _data(self, size: int) -> bytes:
        data = self._exact(size)
        pad = -size % BLOCK
        if pad:
            self._exact(pad)
        return data

    def read(self) -> MemTree:
        pending: dict[str, str | int] = {}
        while True:
            header = self.stream.read(BLOCK)
            if not header or header == bytes(BLOCK):
                return self.tree  # end of archive (two zero blocks, or a clean end of stream)
            if len(header) < BLOCK:
                header += self._exact(BLOCK - len(header))
            self.members += 1
            if self.members > limits.MAX_MEMBERS:
                raise SnapshotError(
                    f"{self.path}: more than {limits.MAX_MEMBERS} entries; refusing to read it"
                )
            kind, name, link, size = _parse_header(header)
            name = str(pending.get("path", name))
            link = str(pending.get("linkpath", link))
            size = int(pending.get("size", size))
            if kind in (b"x", b"g", b"L", b"K"):
                pending = self._extension(kind, name, size, pending)
                continue
            pending = {}
            self._member(kind, name, link, size)

    def _extension(
        self, kind: bytes, name: str, size: int, pending: dict[str, str | int]
    ) -> dict[str, str | int]:
        if size > limits.MAX_HEADER_BYTES:
            raise self.refuse(name, f"has a {size}-byte extended header (at most {limits.MAX_HEADER_BYTES})")
        self._count(name, size)
        data = self._data(size)
        if kind == b"g":
            return pending  # global pax headers (comments from git archive and the like) are ignored
        if kind in (b"L", b"K"):
            text = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            return {**pending, ("path" if kind == b"L" else "linkpath"): text}
        return {**pending, **_pax_records(data)}

    def _member(self, kind: bytes, name: str, link: str, size: int) -> None:
        parts = self._parts(name)
        if kind in _REGULAR:
            if size > limits.MAX_MEMBER_BYTES:
                raise self.refuse(name, "is too large")
            self._count(name, size)
            data = self._data(size)
        elif kind == b"5" or kind == b"2":
            if size > limits.MAX_HEADER_BYTES:
                raise self.refuse(name, "is too large")
            self._count(name, size)
            self._data(size)  # a size on a link or folder: skip its bytes
            data = b""
        elif kind == b"1":
            raise self.refuse(name, "is a hard link")
        elif kind in (b"3", b"4", b"6"):
            raise self.refuse(name, "is a device or fifo")
        else:
            raise self.refuse(name, f"has an unsupported type {kind.decode('latin-1')!r}")
        if not parts:
            return  # "./" itself
        if kind == b"2":
            self._check_link(name, parts, link)
        try:
            self.tree.add(
                parts, "file" if kind in _REGULAR else "dir" if kind == b"5" else "link", data, link
            )
        except TreeConflict as exc:
            raise self.refuse(name, str(exc)) from None

    def _count(self, name: str, size: int) -> None:
        self.total += size
        if self.total > limits.MAX_TOTAL_BYTES:
            raise SnapshotError(
                f"{self.path}: entry {name!r} is too large: the archive holds more than "
                f"{limits.MAX_TOTAL_BYTES // (1024 * 1024)} MiB; refusing to read it"
            )

    def _parts(self, name: str) -> Parts:
        if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
            raise SnapshotError(f"{self.path}: entry {name!r} has an absolute path; refusing to read it")
        if "\0" in name:
            raise self.refuse(name, "has a NUL in its name")
        raw = name.replace("\\", "/").split("/")
        if ".." in raw:
            raise SnapshotError(f"{self.path}: entry {name!r} climbs out with '..'; refusing to read it")
        return tuple(p for p in raw if p not in ("", "."))

    def _check_link(self, name: str, parts: Parts, link: str) -> None:
        if not link or "\0" in link:
            raise self.refuse(name, "is a link with no target")
        if link.startswith("/"):
            raise SnapshotError(f"{self.path}: link {name!r} points to absolute path {link!r}; refusing")
        resolved = posixpath.normpath(posixpath.join("/".join(parts[:-1]), link))
        if resolved == ".." or resolved.startswith(("../", "/")):
            raise SnapshotError(f"{self.path}: link {name!r} points outside the snapshot; refusing")


def _number(field: bytes) -> int:
    if field and field[0] & 0x80:
        raise _Damaged("a base-256 number (an entry over 8 GiB)")
    text = field.split(b"\0", 1)[0].strip(b" \0")
    if not text:
        return 0
    if not all(0x30 <= c <= 0x37 for c in text):
        raise _Damaged(f"bad number {text[:20]!r} in a header")
    return int(text, 8)


def _parse_header(buf: bytes) -> tuple[bytes, str, str, int]:
    """(type flag, name, link target, size) of a ustar/GNU header block; checksum verified."""
    stored = _number(buf[148:156])
    unsigned = sum(buf) - sum(buf[148:156]) + 8 * 32
    if stored != unsigned and stored != unsigned - 256 * sum(1 for b in buf if b > 127) + 256 * sum(
        1 for b in buf[148:156] if b > 127
    ):
        raise _Damaged("bad header checksum: not a tar archive, or corrupt")
    name = buf[0:100].split(b"\0", 1)[0]
    if buf[257:263] == b"ustar\0":  # POSIX ustar: a prefix field extends the name
        prefix = buf[345:500].split(b"\0", 1)[0]
        if prefix:
            name = prefix + b"/" + name
    link = buf[157:257].split(b"\0", 1)[0]
    kind = buf[156:157]
    return (
        kind,
        name.decode("utf-8", "surrogateescape"),
        link.decode("utf-8", "surrogateescape"),
        _number(buf[124:136]),
    )


def _pax_records(data: bytes) -> dict[str, str | int]:
    """``path``, ``linkpath`` and ``size`` from a pax header (``"%d %s=%s\\n"`` records)."""
    out: dict[str, str | int] = {}
    pos = 0
    while pos < len(data):
        if data[pos:] == bytes(len(data) - pos):
            break
        space = data.find(b" ", pos)
        if space < 0:
            raise _Damaged("bad pax header")
        digits = data[pos:space]
        if not digits.isdigit() or len(digits) > 20:
            raise _Damaged("bad pax record length")
        length = int(digits)
        record = data[space + 1 : pos + length]
        if length <= 0 or pos + length > len(data) or not record.endswith(b"\n") or b"=" not in record:
            raise _Damaged("bad pax record")
        key, value = record[:-1].split(b"=", 1)
        if key.startswith(b"GNU.sparse."):
            raise _Damaged("sparse entries are not supported")
        if key in (b"path", b"linkpath"):
            out[key.decode()] = value.decode("utf-8", "surrogateescape")
        elif key == b"size":
            if not value.isdigit() or len(value) > 20:
                raise _Damaged("bad pax size")
            out["size"] = int(value)
        pos += length
    return out
