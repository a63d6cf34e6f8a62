"""The snapshot format's constants, limits and the manifest's shape (docs/snapshot.md).

A manifest comes from a stranger: it is parsed with a size cap, and its shape is checked
before anything reads it, so a wrong type anywhere (``"commands": 5``, a list where an object
belongs, a nesting bomb, a version from the future) is one line naming the key, not a crash.
"""

from __future__ import annotations

import json
from typing import Any

from gputk.errors import SnapshotError

FORMAT = "gputk-snapshot"
VERSION = 1
MANIFEST = "manifest.json"
ROOT = "root"

# Limits on what a snapshot may make gputk hold. A real one is a few MiB (files are captured
# truncated at 1 MiB, command outputs at the host's output cap).
MAX_MEMBERS = 50_000
MAX_MEMBER_BYTES = 16 * 1024 * 1024
MAX_TOTAL_BYTES = 128 * 1024 * 1024
MAX_HEADER_BYTES = 64 * 1024  # a pax or GNU long-name header: a path, not a payload
MAX_MANIFEST_BYTES = 8 * 1024 * 1024

_TYPE_WORDS: dict[type, str] = {dict: "an object", list: "a list", str: "a string"}


def parse_manifest(raw: bytes, where: str) -> dict[str, Any]:
    """Decode and check a manifest; :class:`SnapshotError` with one line on anything wrong."""
    if len(raw) > MAX_MANIFEST_BYTES:
        raise SnapshotError(f"{where}: manifest larger than {MAX_MANIFEST_BYTES // (1024 * 1024)} MiB")
    try:
        data = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise SnapshotError(f"{where}: unreadable manifest (nested too deeply)") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise SnapshotError(f"{where}: unreadable manifest ({_short(exc)})") from None
    return check_manifest(data, where)


def check_manifest(data: object, where: str) -> dict[str, Any]:
    """The manifest itself when its shape is the documented one."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SnapshotError(f"{where}: not a gputk snapshot manifest (format != {FORMAT!r})")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise SnapshotError(f"{where}: unsupported snapshot version {_show(version)}")
    if version > VERSION:
        raise SnapshotError(
            f"{where}: snapshot version {_show(version)} is newer than this gputk reads (version {VERSION})",
            "upgrade gputk (pip install -U gputk) to read it",
        )
    for key, kind in (("platform", dict), ("env", dict), ("commands", list), ("probes", dict)):
        _expect(data.get(key), (kind, type(None)), where, key)
    for key, value in (data.get("env") or {}).items():
        _expect(value, (str,), where, f"env.{key}")
    for key, value in (data.get("platform") or {}).items():
        _expect(value, (str, int, float, type(None)), where, f"platform.{key}")
    for key, value in (data.get("probes") or {}).items():
        _expect(value, (dict,), where, f"probes.{key}")
    for i, entry in enumerate(data.get("commands") or []):
        _check_command(entry, where, f"commands[{i}]")
    return data


def _check_command(entry: object, where: str, key: str) -> None:
    _expect(entry, (dict,), where, key)
    assert isinstance(entry, dict)
    argv = entry.get("argv")
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise SnapshotError(f"{where}: {key}.argv must be a non-empty list of strings")
    for field, kinds in (
        ("returncode", (int, type(None))),
        ("stdout", (str, type(None))),
        ("stderr", (str, type(None))),
        ("error", (str, type(None))),
        ("timeout_s", (int, float, type(None))),
        ("truncated", (bool, type(None))),
    ):
        _expect(entry.get(field), kinds, where, f"{key}.{field}")
    if isinstance(entry.get("returncode"), bool):
        raise SnapshotError(f"{where}: {key}.returncode must be an integer")


def _expect(value: object, kinds: tuple[type, ...], where: str, key: str) -> None:
    if isinstance(value, kinds):
        return
    wanted = " or ".join(_TYPE_WORDS.get(k, k.__name__) for k in kinds if k is not type(None))
    raise SnapshotError(f"{where}: {key!r} must be {wanted}, not {_json_type(value)}")


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return _TYPE_WORDS.get(type(value), "null" if value is None else type(value).__name__)


def _show(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return "(a very large number)"
    text = repr(value) if isinstance(value, (int, float, str)) or value is None else _json_type(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 120 else text[:117] + "..."
